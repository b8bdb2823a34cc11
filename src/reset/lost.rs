//! Writes whose answer did not arrive, or arrived broken. Such a write may have been applied:
//! its outcome is decided by re-reading, never recorded as `failed` (issue 12, point 3).

use crate::discourse::client::ClientError;
use crate::model::Outcome;

/// Could the server have acted on a write that ended in `e`? Only a request that never reached
/// it (the connection was refused) or an answer that says it refused can be ruled out.
pub fn may_have_applied(e: &ClientError) -> bool {
    match e {
        // `describe_reqwest_error` names connect errors "could not connect": the request was
        // never written. Timeouts, resets and broken bodies come after it was.
        ClientError::Network { message, .. } => !message.starts_with("could not connect"),
        // A 2xx whose body is not what the endpoint answers: it was applied, the answer broke.
        ClientError::Decode { .. } => true,
        ClientError::NotJson { status, .. } => {
            (200..300).contains(status) || matches!(status, 502 | 504)
        }
        // A proxy's 502/504: the forum behind it may well have done the work.
        ClientError::Status { status, .. } => matches!(status, 502 | 504),
        _ => false,
    }
}

/// The outcome's message once the answer was lost.
pub fn annotate(outcome: Outcome, message: &str, error: &str) -> String {
    match outcome {
        Outcome::Verified => {
            format!("{message} (the answer was lost: {error}; the re-read shows the change)")
        }
        _ => format!("the answer was lost ({error}), so the write may have applied; {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(message: &str) -> ClientError {
        ClientError::Network {
            method: "PUT".into(),
            path: "/x".into(),
            message: message.into(),
        }
    }

    #[test]
    fn only_refusals_and_unsent_requests_are_ruled_out() {
        assert!(!may_have_applied(&net(
            "could not connect: Connection refused"
        )));
        assert!(may_have_applied(&net("timed out")));
        assert!(may_have_applied(&net(
            "broken answer body: connection reset"
        )));
        let status = |status| ClientError::Status {
            method: "PUT".into(),
            path: "/x".into(),
            status,
            summary: String::new(),
        };
        assert!(may_have_applied(&status(502)));
        assert!(!may_have_applied(&status(500)));
        assert!(!may_have_applied(&status(403)));
        assert!(!may_have_applied(&ClientError::OverridesAvatar {
            method: "PUT".into(),
            path: "/x".into()
        }));
        assert!(annotate(Outcome::Unverified, "m", "e").contains("the answer was lost"));
    }
}
