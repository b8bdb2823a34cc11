//! The DiscourseConnect decoder must never panic, whatever it is given (`sso decode` takes
//! payloads pasted from anywhere), and a decoded payload must check without panicking.
#![no_main]

use avatar_console::discourse::sso;
use avatar_console::secret::Secret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(decoded) = sso::decode(&text) {
        let _ = decoded.check(Some(&Secret::new("fuzz-secret-0123456789")));
        let _ = decoded.check(None);
    }
});
