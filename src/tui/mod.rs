//! The console: a ratatui terminal UI over the clients and the reset engine.
//!
//! - `app`: the state and `update(app, msg) -> Vec<Effect>`, the only place state changes;
//! - `effects`: the [`Backend`] trait the command code implements, and the runner that turns
//!   effects into spawned tasks whose results come back as messages;
//! - `event`: the one tokio loop ([`run`]);
//! - `keymap`: the named actions and the keys bound to them (`[keys]` in the config);
//! - `ui`: drawing, pure functions of the state ([`view`]).

pub mod app;
pub mod effects;
pub mod event;
pub mod keymap;
pub mod mouse;
pub mod pictures;
pub mod review_keys;
pub mod theme;
pub mod ui;

pub use app::{App, AppConfig, Effect, Msg, update};
pub use effects::{Backend, BudgetStatus, QueuePage, ResetStep, Setting, SiteInfo, UserInfo};
pub use event::run;
pub use theme::ThemeChoice;
pub use ui::view;

#[cfg(test)]
mod loading_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_pictures;
