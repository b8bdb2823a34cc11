//! main_app
