//! The admin-API limiter: `max_admin_api_reqs_per_minute` per sliding 60 s window, shared by
//! every admin key under the limiter key `"admin_api_min"`
//! (`lib/auth/default_current_user_provider.rb#admin_api_key_limiter`, `lib/rate_limiter.rb`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct Limiter {
    hits: VecDeque<Instant>,
}

impl Limiter {
    /// `RateLimiter#performed!`: records the hit, or returns the seconds to wait (rounded up,
    /// at least 1) without recording it.
    pub fn hit(&mut self, limit: u32, now: Instant) -> Result<(), u64> {
        if limit == 0 {
            return Ok(());
        }
        while self
            .hits
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            self.hits.pop_front();
        }
        if self.hits.len() < limit as usize {
            self.hits.push_back(now);
            Ok(())
        } else {
            let oldest = *self.hits.front().expect("non-empty when over the limit");
            let wait = WINDOW.saturating_sub(now.duration_since(oldest));
            Err(wait.as_millis().div_ceil(1000).max(1) as u64)
        }
    }

    pub fn clear(&mut self) {
        self.hits.clear();
    }
}

/// `RateLimiter.time_left` (`lib/rate_limiter/limit_exceeded.rb`): `rate_limiter.short_time`
/// at 3 s or less, seconds under a minute, whole minutes under an hour, else whole hours, with
/// the English strings of `config/locales/server.en.yml` (the short-time text not re-read).
pub fn time_left(secs: u64) -> String {
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if secs <= 3 {
        "a few seconds".to_string()
    } else if secs < 60 {
        plural(secs, "second")
    } else if secs < 3600 {
        plural(secs / 60, "minute")
    } else {
        plural(secs / 3600, "hour")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        assert!(l.hit(2, t0).is_ok());
        assert!(l.hit(2, t0 + Duration::from_secs(10)).is_ok());
        assert_eq!(l.hit(2, t0 + Duration::from_secs(20)), Err(40));
        assert!(l.hit(2, t0 + Duration::from_secs(60)).is_ok());
        assert!(l.hit(0, t0).is_ok());
        // The cases of Discourse's spec/lib/rate_limiter/limit_exceeded_spec.rb, and the edges.
        assert_eq!(time_left(1), "a few seconds");
        assert_eq!(time_left(3), "a few seconds");
        assert_eq!(time_left(4), "4 seconds");
        assert_eq!(time_left(59), "59 seconds");
        assert_eq!(time_left(60), "1 minute");
        assert_eq!(time_left(119), "1 minute");
        assert_eq!(time_left(3599), "59 minutes");
        assert_eq!(time_left(7000), "1 hour");
    }
}
