//! reset integration tests
