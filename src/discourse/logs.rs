//! Reading Discourse's log viewer (Logster, `POST /logs/messages.json`): the verbose SSO log,
//! the verbose upload log and job errors (discourse-api.md §6).

use std::collections::HashSet;
use std::time::Duration;

use super::client::{ClientError, DiscourseClient, LogQuery};
use crate::model::LogLine;

/// Logster's fixed page size (`RedisStore#latest`, `limit = opts[:limit] || 50`).
pub const PAGE: usize = 50;

/// Follows new log lines with `after=<last key>`, backing off while nothing comes.
#[derive(Debug, Clone)]
pub struct LogFollower {
    search: Option<String>,
    last_key: Option<String>,
    idle_polls: u32,
    pub base_interval: Duration,
    pub max_interval: Duration,
}

impl LogFollower {
    pub fn new(search: Option<String>) -> Self {
        LogFollower {
            search,
            last_key: None,
            idle_polls: 0,
            base_interval: Duration::from_secs(3),
            max_interval: Duration::from_secs(30),
        }
    }

    /// How long to wait before the next poll: doubles with each empty poll, up to the cap.
    pub fn next_interval(&self) -> Duration {
        let factor = 2u32.saturating_pow(self.idle_polls.min(8));
        (self.base_interval * factor).min(self.max_interval)
    }

    /// New lines since the last call (on the first call: the latest page). Oldest first.
    pub async fn poll(&mut self, client: &DiscourseClient) -> Result<Vec<LogLine>, ClientError> {
        let mut out: Vec<LogLine> = Vec::new();
        // Follow-up pages only while a full page came back, and never more than a few in a row:
        // log polling is background work.
        for _ in 0..4 {
            let q = LogQuery {
                search: self.search.clone(),
                after: self.last_key.clone(),
                ..LogQuery::default()
            };
            let lines = client.log_messages(&q).await?;
            let full = lines.len() >= PAGE;
            if let Some(last) = lines.last() {
                self.last_key = Some(last.key.clone());
            }
            out.extend(lines);
            if !full || self.last_key.is_none() {
                break;
            }
        }
        if out.is_empty() {
            self.idle_polls = self.idle_polls.saturating_add(1);
        } else {
            self.idle_polls = 0;
        }
        Ok(out)
    }
}

/// Lines that mention one user, searched server-side by each known identifier and checked
/// client-side on word boundaries (Logster's search is a plain substring match, so `al` would
/// also find `alice`). Oldest first, without duplicates.
pub async fn lines_for_user(
    client: &DiscourseClient,
    terms: &[String],
) -> Result<Vec<LogLine>, ClientError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for term in terms.iter().filter(|t| !t.trim().is_empty()) {
        let q = LogQuery {
            search: Some(term.clone()),
            ..LogQuery::default()
        };
        for line in client.log_messages(&q).await? {
            if mentions_any(&line.message, terms) && seen.insert(line.key.clone()) {
                out.push(line);
            }
        }
    }
    out.sort_by_key(|l| l.at);
    Ok(out)
}

/// Does `text` hold one of `terms` as a whole word? Word characters are letters, digits and
/// `_ . -`, the characters of a username, so `alice` does not match `alice.smith`.
pub fn mentions_any(text: &str, terms: &[String]) -> bool {
    let lower = text.to_lowercase();
    terms
        .iter()
        .filter(|t| !t.is_empty())
        .any(|t| mentions(&lower, &t.to_lowercase()))
}

fn mentions(haystack: &str, needle: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-');
    let mut start = 0;
    while let Some(pos) = haystack[start..].find(needle) {
        let at = start + pos;
        let end = at + needle.len();
        let before_ok = haystack[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !is_word(c));
        // A trailing dot ends a sentence rather than continuing a name.
        let after = haystack[end..].chars().collect::<Vec<_>>();
        let after_ok = match after.first() {
            None => true,
            Some('.') => after.get(1).is_none_or(|c| !c.is_alphanumeric()),
            Some(c) => !is_word(*c),
        };
        if before_ok && after_ok {
            return true;
        }
        start = at + needle.len().max(1);
        while !haystack.is_char_boundary(start) {
            start += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn whole_word_matches_only() {
        assert!(mentions_any(
            "Verbose SSO log: username: alice\nemail: a@x",
            &t(&["alice"])
        ));
        assert!(!mentions_any("username: alice.smith", &t(&["alice"])));
        assert!(!mentions_any("username: malice", &t(&["alice"])));
        assert!(mentions_any("User was logged on alice.", &t(&["alice"])));
        assert!(mentions_any("external_id: 684\n", &t(&["bob", "684"])));
        assert!(!mentions_any("external_id: 6840", &t(&["684"])));
        assert!(mentions_any(
            "email: Alice@Example.com",
            &t(&["alice@example.com"])
        ));
        assert!(mentions_any("name: 山田太郎 ok", &t(&["山田太郎"])));
    }

    #[test]
    fn follower_backs_off_to_a_cap() {
        let mut f = LogFollower::new(None);
        assert_eq!(f.next_interval(), Duration::from_secs(3));
        f.idle_polls = 2;
        assert_eq!(f.next_interval(), Duration::from_secs(12));
        f.idle_polls = 20;
        assert_eq!(f.next_interval(), Duration::from_secs(30));
    }
}
