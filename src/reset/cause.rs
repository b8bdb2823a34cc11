//! The cause Discourse observed when a sync did not take (issue 12, point 7): its log, read
//! back through Logster's search, which also matches env values and returns the env only to a
//! search (`lib/logster/middleware/viewer.rb`, discourse-api.md §6).
//!
//! A failed job is logged by `SidekiqLogsterReporter#call` (`lib/sidekiq_logster_reporter.rb`)
//! as "Job exception: …" at error level, with the job's context (class
//! `Jobs::DownloadAvatarFromUrl`, args `url`, `user_id`, `override_gravatar`) in the env. With
//! `verbose_upload_logging` on, `UserAvatar.import_url_for_user` logs "Verbose Upload Logging:
//! Downloading sso-avatar from <url>" when the job starts.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::discourse::client::DiscourseClient;
use crate::discourse::settings::DcSettings;
use crate::model::UserDetail;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// Upload logging is on, and no "Downloading sso-avatar" line came: the job never ran.
    NeverRan,
    /// The job failed and said why (the quoted first line of its "Job exception").
    Failed(String),
    /// The job ran and logged no error, yet nothing changed: a silent refusal.
    SilentRefusal,
}

/// Does the env (an object, or a list of them) carry `user_id` = `id` anywhere, and name the
/// download job?
fn env_names(env: &Value, id: u64) -> bool {
    fn has_user(v: &Value, id: u64) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, v)| {
                (k == "user_id"
                    && (v.as_u64() == Some(id) || v.as_str() == Some(id.to_string().as_str())))
                    || has_user(v, id)
            }),
            Value::Array(a) => a.iter().any(|v| has_user(v, id)),
            _ => false,
        }
    }
    env.to_string().contains("DownloadAvatarFromUrl") && has_user(env, id)
}

/// What Discourse logged about this user's download since `since`. None when the log cannot
/// tell (no error, upload logging off or unknown) or cannot be read.
pub async fn observe(
    client: &DiscourseClient,
    user: &UserDetail,
    avatar_url: &str,
    since: DateTime<Utc>,
    settings: Option<&DcSettings>,
) -> Option<Observed> {
    if user.id > 0
        && let Ok(lines) = client.log_search_with_env("DownloadAvatarFromUrl").await
        && let Some((line, _)) = lines
            .iter()
            .rev()
            .filter(|(l, _)| l.at >= since && l.message.contains("Job exception"))
            .find(|(_, env)| env_names(env, user.id))
    {
        let first = line.message.lines().next().unwrap_or_default();
        return Some(Observed::Failed(crate::sanitize::truncate(first, 300)));
    }
    if settings.and_then(DcSettings::verbose_upload) != Some(true) {
        return None;
    }
    let needle = format!("Downloading sso-avatar from {avatar_url}");
    let lines = client.log_search_with_env(&needle).await.ok()?;
    let ran = lines
        .iter()
        .any(|(l, _)| l.at >= since && l.message.contains(&needle));
    Some(if ran {
        Observed::SilentRefusal
    } else {
        Observed::NeverRan
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn env_must_name_the_job_and_the_user() {
        let env = json!({"job": {"class": "Jobs::DownloadAvatarFromUrl", "args": [{"url": "u", "user_id": 42}]}});
        assert!(env_names(&env, 42));
        assert!(!env_names(&env, 4));
        let other = json!({"job": {"class": "Jobs::Other", "args": [{"user_id": 42}]}});
        assert!(!env_names(&other, 42));
        let list = json!([{"job": "Jobs::DownloadAvatarFromUrl", "user_id": "42"}]);
        assert!(env_names(&list, 42));
    }
}
