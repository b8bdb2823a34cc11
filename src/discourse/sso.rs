//! sso
