//! sandbox integration tests
