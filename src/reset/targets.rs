//! One user, one reset: targets that name the same user (twice the same name, or a username,
//! an `external:ID` and an email of one account) are merged, the first one listed wins.

use super::{Resolution, Target};
use crate::model::UserRef;

fn input_keys(t: &Target) -> Vec<String> {
    let mut keys = vec![match &t.user {
        UserRef::Username(u) => format!("u:{}", u.to_lowercase()),
        UserRef::Email(e) => format!("e:{}", e.to_lowercase()),
        UserRef::ExternalId(x) => format!("x:{x}"),
    }];
    keys.extend(
        t.known_username
            .iter()
            .map(|u| format!("u:{}", u.to_lowercase())),
    );
    keys.extend(
        t.known_email
            .iter()
            .map(|e| format!("e:{}", e.to_lowercase())),
    );
    keys.extend(t.known_external_id.iter().map(|x| format!("x:{x}")));
    keys.extend(t.known_id.iter().map(|i| format!("i:{i}")));
    keys
}

/// For each target, the earlier target that names the same user before any lookup.
pub fn same_input(targets: &[Target]) -> Vec<Option<usize>> {
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let keys = input_keys(t);
            if let Some(first) = keys.iter().find_map(|k| seen.get(k).copied()) {
                return Some(first);
            }
            for k in keys {
                seen.insert(k, i);
            }
            None
        })
        .collect()
}

/// What identifies the user a target resolved to: Discourse's id, the username and the
/// DiscourseConnect external id, whichever are known.
pub fn identity_keys(t: &Target, r: &Resolution) -> Vec<String> {
    match r {
        Resolution::Fast { external_id } => {
            let mut k = vec![format!("x:{external_id}")];
            k.extend(t.known_id.iter().map(|i| format!("i:{i}")));
            k
        }
        Resolution::Read(r) => {
            let d = &r.detail;
            let mut k = Vec::new();
            if d.id > 0 {
                k.push(format!("i:{}", d.id));
            }
            if !d.username.is_empty() {
                k.push(format!("u:{}", d.username.to_lowercase()));
            }
            if let Some(x) = d.external_id() {
                k.push(format!("x:{x}"));
            }
            k
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_twice_and_case() {
        let t = |s: &str| Target::from_input(s).unwrap();
        let list = [
            t("user1"),
            t("User1"),
            t("external:685"),
            t("a@x.org"),
            t("A@X.org"),
        ];
        assert_eq!(same_input(&list), vec![None, Some(0), None, None, Some(3)]);
    }
}
