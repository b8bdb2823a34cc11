//! tui integration tests
