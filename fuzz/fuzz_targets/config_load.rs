//! The config loader must never panic on any file, and what it accepts must be usable: a
//! forum URL without query, fragment or userinfo, and durations within their maxima.
#![no_main]

use std::path::Path;

use avatar_console::config::{self, Config};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Config::from_toml_str(text, Path::new("fuzz.toml")) {
        let u = &c.discourse.url;
        assert!(u.query().is_none() && u.fragment().is_none());
        assert!(u.username().is_empty() && u.password().is_none());
        assert!(c.discourse.timeout_secs <= config::MAX_TIMEOUT_SECS);
        assert!(c.reset.verify_timeout_secs <= config::MAX_VERIFY_TIMEOUT_SECS);
    }
});
