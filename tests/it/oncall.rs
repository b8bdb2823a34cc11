//! oncall integration tests
