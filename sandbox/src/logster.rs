//! The Logster store behind `POST /logs/messages.json`
//! (discourse/logster `lib/logster/middleware/viewer.rb#serve_messages`,
//! `lib/logster/redis_store.rb#latest`, `lib/logster/message.rb#to_h`).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::VecDeque;

/// `RedisStore#latest`: `limit = opts[:limit] || 50`.
pub const PAGE: usize = 50;
/// `max_backlog` (`lib/logster/redis_store.rb`).
pub const MAX_BACKLOG: usize = 1000;
/// `Logster.config.maximum_message_length` (`lib/logster/configuration.rb`).
pub const MAX_MESSAGE: usize = 2000;

#[derive(Debug, Clone)]
pub struct LogMessage {
    pub key: String,
    pub severity: i64,
    pub message: String,
    pub timestamp: DateTime<Utc>,
    pub env: Value,
}

impl LogMessage {
    /// `Logster::Message#to_h`; `env` only when a search was given (`with_env`).
    pub fn to_json(&self, with_env: bool) -> Value {
        let mut v = json!({
            "message": self.message,
            "progname": "web",
            "severity": self.severity,
            "timestamp": self.timestamp.timestamp_millis(),
            "key": self.key,
            "backtrace": "",
            "count": 1,
            "protected": false,
        });
        if with_env {
            v["env"] = self.env.clone();
        }
        v
    }
}

#[derive(Debug, Default)]
pub struct LogStore {
    messages: VecDeque<LogMessage>,
    next: u64,
}

pub struct Query<'a> {
    pub severities: Option<Vec<i64>>,
    pub search: Option<&'a str>,
    pub after: Option<&'a str>,
    pub before: Option<&'a str>,
}

impl LogStore {
    /// Adds a message. Logster in production keeps WARN and above only
    /// (`lib/logster/rails/railtie.rb`), so lower severities are dropped.
    pub fn add(&mut self, severity: i64, message: &str, env: Value) -> Option<String> {
        if severity < 2 {
            return None;
        }
        self.next += 1;
        // Keys are random hex in Logster (`SecureRandom.hex`); here a counter mixed to look alike
        // but still sort by insertion through the VecDeque order.
        let key = format!(
            "{:016x}{:016x}",
            self.next.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            self.next
        );
        // `base_store.rb#truncate_message`
        let message = if message.chars().count() > MAX_MESSAGE {
            let mut m: String = message.chars().take(MAX_MESSAGE).collect();
            m.push('…');
            m
        } else {
            message.to_string()
        };
        self.messages.push_back(LogMessage {
            key: key.clone(),
            severity,
            message,
            timestamp: Utc::now(),
            env,
        });
        while self.messages.len() > MAX_BACKLOG {
            self.messages.pop_front();
        }
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn all(&self) -> impl Iterator<Item = &LogMessage> {
        self.messages.iter()
    }

    fn matches(m: &LogMessage, q: &Query) -> bool {
        if let Some(sev) = &q.severities
            && !sev.contains(&m.severity)
        {
            return false;
        }
        if let Some(s) = q.search.filter(|s| !s.is_empty()) {
            // `Logster::Message#=~`: case-insensitive substring of the message or env values;
            // a leading '-' excludes.
            let (neg, s) = match s.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, s),
            };
            let needle = s.to_lowercase();
            let hit = m.message.to_lowercase().contains(&needle)
                || m.env.to_string().to_lowercase().contains(&needle);
            if hit == neg {
                return false;
            }
        }
        true
    }

    /// `RedisStore#latest`: oldest → newest; with `before`, the page just older than that key;
    /// with `after`, the page just newer; otherwise the newest page.
    pub fn latest(&self, q: &Query) -> Vec<&LogMessage> {
        let pos = |key: &str| self.messages.iter().position(|m| m.key == key);
        let all: Vec<(usize, &LogMessage)> = self
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| Self::matches(m, q))
            .collect();
        if let Some(after) = q.after {
            let Some(p) = pos(after) else {
                return Vec::new();
            };
            all.into_iter()
                .filter(|(i, _)| *i > p)
                .take(PAGE)
                .map(|(_, m)| m)
                .collect()
        } else {
            let end = match q.before {
                Some(b) => match pos(b) {
                    Some(p) => p,
                    None => return Vec::new(),
                },
                None => usize::MAX,
            };
            let older: Vec<&LogMessage> = all
                .into_iter()
                .filter(|(i, _)| *i < end)
                .map(|(_, m)| m)
                .collect();
            let start = older.len().saturating_sub(PAGE);
            older[start..].to_vec()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_oldest_first_with_after_and_before() {
        let mut s = LogStore::default();
        let keys: Vec<String> = (0..120)
            .map(|i| s.add(2 + (i % 2), &format!("m{i}"), json!({})).unwrap())
            .collect();
        assert!(s.add(1, "info", json!({})).is_none());
        let q = |after, before| Query {
            severities: None,
            search: None,
            after,
            before,
        };
        let newest = s.latest(&q(None, None));
        assert_eq!(newest.len(), 50);
        assert_eq!(newest[0].message, "m70");
        assert_eq!(newest[49].message, "m119");
        let after = s.latest(&q(Some(&keys[10]), None));
        assert_eq!(after[0].message, "m11");
        assert_eq!(after.len(), 50);
        let before = s.latest(&q(None, Some(&keys[10])));
        assert_eq!(before.len(), 10);
        let errs = s.latest(&Query {
            severities: Some(vec![3]),
            search: Some("M11"),
            after: None,
            before: None,
        });
        assert!(
            errs.iter()
                .all(|m| m.severity == 3 && m.message.contains("m11"))
        );
    }
}
