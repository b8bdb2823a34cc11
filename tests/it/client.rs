//! client integration tests
