//! cli integration tests
