//! The Discourse admin API: the client, its budget, payloads, settings, types and logs.

pub mod budget;
pub mod client;
pub mod excerpt;
pub mod logs;
pub mod review;
pub mod settings;
pub mod sso;
pub mod types;
