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

/// `Logster::MAX_GROUPING_LENGTH`: at most this many envs are kept on a grouped message.
pub const MAX_GROUPING_LENGTH: usize = 50;

#[derive(Debug, Clone)]
pub struct LogMessage {
    pub key: String,
    pub severity: i64,
    pub message: String,
    pub timestamp: DateTime<Utc>,
    /// `nil` unless the logger gave one (the sandbox's messages have none).
    pub backtrace: Option<String>,
    /// How many identical messages this one stands for (`allow_grouping`).
    pub count: u64,
    /// When the first of a group was logged; only grouped messages have it.
    pub first_timestamp: Option<DateTime<Utc>>,
    /// An object, or once grouped an array of the envs of its messages.
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
            "backtrace": self.backtrace,
            "count": self.count,
            "protected": false,
        });
        if let Some(first) = self.first_timestamp {
            v["first_timestamp"] = json!(first.timestamp_millis());
        }
        if with_env {
            v["env"] = self.env.clone();
        }
        v
    }

    /// `Message#grouping_hash`: message, severity and backtrace.
    fn same_group(&self, severity: i64, message: &str, backtrace: Option<&str>) -> bool {
        self.severity == severity
            && self.message == message
            && self.backtrace.as_deref() == backtrace
    }

    /// `Message#merge_similar_message`: count up, keep the first timestamp, take the newest,
    /// and collect the envs.
    fn merge(&mut self, timestamp: DateTime<Utc>, env: Value) {
        self.first_timestamp.get_or_insert(self.timestamp);
        self.timestamp = self.timestamp.max(timestamp);
        self.count += 1;
        let mut envs = match std::mem::take(&mut self.env) {
            Value::Array(a) => a,
            Value::Null => Vec::new(),
            one => vec![one],
        };
        if envs.len() < MAX_GROUPING_LENGTH {
            envs.push(env);
        }
        self.env = Value::Array(envs);
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
    /// (`lib/logster/rails/railtie.rb`), so lower severities are dropped. Discourse turns on
    /// `Logster.config.allow_grouping` in production (`config/initializers/100-logster.rb`): a
    /// message identical to a stored one (`grouping_key`) is merged into it and the merged one
    /// moves to the newest place (`BaseStore#report`, `replace_and_bump`); its key stays.
    pub fn add(&mut self, severity: i64, message: &str, env: Value) -> Option<String> {
        if severity < 2 {
            return None;
        }
        // `base_store.rb#truncate_message`
        let message = if message.chars().count() > MAX_MESSAGE {
            let mut m: String = message.chars().take(MAX_MESSAGE).collect();
            m.push('…');
            m
        } else {
            message.to_string()
        };
        let now = Utc::now();
        if let Some(pos) = self
            .messages
            .iter()
            .position(|m| m.same_group(severity, &message, None))
            && let Some(mut similar) = self.messages.remove(pos)
        {
            similar.merge(now, env);
            let key = similar.key.clone();
            self.messages.push_back(similar);
            return Some(key);
        }
        self.next += 1;
        // Keys are random hex in Logster (`SecureRandom.hex`); here a counter mixed to look alike
        // but still sort by insertion through the VecDeque order.
        let key = format!(
            "{:016x}{:016x}",
            self.next.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            self.next
        );
        self.messages.push_back(LogMessage {
            key: key.clone(),
            severity,
            message,
            timestamp: now,
            backtrace: None,
            count: 1,
            first_timestamp: None,
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
    fn identical_messages_are_grouped_and_bumped() {
        let mut s = LogStore::default();
        let a = s
            .add(3, "Job exception: boom", json!({"user_id": 1}))
            .unwrap();
        s.add(2, "other", json!({}));
        // Same text, other severity: not the same group.
        s.add(2, "Job exception: boom", json!({}));
        let again = s
            .add(3, "Job exception: boom", json!({"user_id": 2}))
            .unwrap();
        assert_eq!(a, again, "the group keeps its key");
        assert_eq!(s.len(), 3);
        let newest = s.all().last().unwrap();
        assert_eq!(newest.count, 2);
        assert!(newest.first_timestamp.is_some());
        assert_eq!(newest.env, json!([{"user_id": 1}, {"user_id": 2}]));
        let j = newest.to_json(false);
        assert_eq!(j["count"], 2);
        assert_eq!(j["backtrace"], Value::Null);
        assert!(j.get("env").is_none());
        assert!(j["first_timestamp"].is_i64());
        assert!(
            s.all()
                .next()
                .unwrap()
                .to_json(false)
                .get("first_timestamp")
                .is_none()
        );
    }

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
