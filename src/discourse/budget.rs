//! The one request budget every Discourse call goes through.
//!
//! Discourse counts admin API requests in a 60-second window shared by every admin key on the
//! site (`lib/auth/default_current_user_provider.rb`, `admin_api_key_limiter`; discourse-api.md
//! §1). A token bucket that refills continuously can send `limit + refill` requests inside one
//! window, so this keeps the send times of the last window and never lets more than `limit` of
//! them fall inside any 60-second span. A 429 pauses the whole budget until `Retry-After`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// The counting window, plus a margin: our send time is not the server's receive time, and a
/// request that was slow to arrive must not make two windows overlap on the server's side.
const WINDOW: Duration = Duration::from_millis(60_500);

/// Who is asking. Background work (log polling, detail prefetch) leaves a reserve so that
/// resets and their verification are never starved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Foreground,
    Background,
}

#[derive(Debug)]
struct State {
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

#[derive(Debug)]
pub struct Budget {
    limit: usize,
    state: Mutex<State>,
    foreground_waiting: AtomicUsize,
}

/// A snapshot for the header: how many requests are left in the current window and how long a
/// `Retry-After` pause still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetStatus {
    pub limit: usize,
    pub remaining: usize,
    pub paused_for: Option<Duration>,
    /// When nothing is left: how long until the next request may go.
    pub next_slot_in: Option<Duration>,
}

impl Budget {
    pub fn new(requests_per_minute: u32) -> Self {
        Budget {
            limit: requests_per_minute.max(1) as usize,
            state: Mutex::new(State {
                sent: VecDeque::new(),
                paused_until: None,
            }),
            foreground_waiting: AtomicUsize::new(0),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    fn reserve(&self) -> usize {
        (self.limit / 4).max(1)
    }

    /// Waits until one more request may be sent, and counts it as sent.
    pub async fn acquire(&self, priority: Priority) {
        let _waiting =
            (priority == Priority::Foreground).then(|| WaitingGuard::new(&self.foreground_waiting));
        loop {
            let wait = {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                while st
                    .sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                {
                    st.sent.pop_front();
                }
                let cap = match priority {
                    Priority::Foreground => self.limit,
                    Priority::Background => self.limit.saturating_sub(self.reserve()).max(1),
                };
                let yield_to_foreground = priority == Priority::Background
                    && self.foreground_waiting.load(Ordering::SeqCst) > 0;
                match st.paused_until {
                    Some(until) if until > now => until - now,
                    _ if st.sent.len() < cap && !yield_to_foreground => {
                        st.paused_until = None;
                        st.sent.push_back(now);
                        return;
                    }
                    _ if yield_to_foreground => Duration::from_millis(200),
                    _ => {
                        // The slot frees when the oldest send that keeps us at the cap leaves the window.
                        let idx = st.sent.len().saturating_sub(cap);
                        let oldest = st.sent.get(idx).copied().unwrap_or(now);
                        (oldest + WINDOW)
                            .saturating_duration_since(now)
                            .max(Duration::from_millis(5))
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Stops every caller until `wait` has passed (a 429's `Retry-After`).
    pub fn pause(&self, wait: Duration) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + wait;
        if st.paused_until.is_none_or(|p| p < until) {
            st.paused_until = Some(until);
        }
    }

    pub fn status(&self) -> BudgetStatus {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let in_window: Vec<&Instant> = st
            .sent
            .iter()
            .filter(|t| now.duration_since(**t) < WINDOW)
            .collect();
        let remaining = self.limit.saturating_sub(in_window.len());
        // Full: the next slot frees when the oldest send that keeps us at the limit leaves.
        let next_slot_in = (remaining == 0)
            .then(|| {
                in_window
                    .get(in_window.len().saturating_sub(self.limit))
                    .copied()
            })
            .flatten()
            .map(|oldest| (*oldest + WINDOW).saturating_duration_since(now));
        BudgetStatus {
            limit: self.limit,
            remaining,
            paused_for: st.paused_until.filter(|u| *u > now).map(|u| u - now),
            next_slot_in,
        }
    }
}

struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        WaitingGuard(counter)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_limit_in_any_window() {
        let budget = Budget::new(5);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..12 {
            budget.acquire(Priority::Foreground).await;
            times.push(Instant::now() - start);
        }
        // Any 60 s window holds at most 5 sends.
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .filter(|u| **u - *t < Duration::from_secs(60))
                .count();
            assert!(in_window <= 5, "window starting at {t:?} holds {in_window}");
        }
        assert!(times[5] >= Duration::from_secs(60));
        assert!(times[10] >= Duration::from_secs(120));
    }

    #[tokio::test(start_paused = true)]
    async fn pause_stops_everyone() {
        let budget = Budget::new(100);
        budget.pause(Duration::from_secs(7));
        assert!(budget.status().paused_for.is_some());
        let start = Instant::now();
        budget.acquire(Priority::Foreground).await;
        assert!(Instant::now() - start >= Duration::from_secs(7));
        assert_eq!(budget.status().paused_for, None);
    }

    #[tokio::test(start_paused = true)]
    async fn background_leaves_a_reserve() {
        let budget = Budget::new(8);
        for _ in 0..6 {
            budget.acquire(Priority::Background).await;
        }
        // Background is capped at 6 of 8; foreground still gets through at once.
        let start = Instant::now();
        budget.acquire(Priority::Foreground).await;
        budget.acquire(Priority::Foreground).await;
        assert_eq!(Instant::now(), start);
        assert_eq!(budget.status().remaining, 0);
        assert_eq!(budget.status().next_slot_in, Some(WINDOW));
    }
}
