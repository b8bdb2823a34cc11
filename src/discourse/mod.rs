pub mod budget;
pub mod client;
pub mod logs;
pub mod settings;
pub mod sso;
pub mod types;
