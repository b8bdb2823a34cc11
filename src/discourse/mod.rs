pub mod client;
pub mod logs;
pub mod sso;
pub mod types;
