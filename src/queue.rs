//! Merging the flags of both sources (the main app's flagged-users endpoint and Discourse's review
//! queue) into one ordered queue of users. Pure: no I/O, no clock.
//!
//! **Identity.** An incoming item joins an existing user when they share, in this order of
//! strength, the external id, the Discourse user id, or the username compared case-insensitively.
//! A weaker key never joins two records whose stronger keys disagree: two different external ids
//! (or two different Discourse ids) are two different people even when the usernames match. When
//! one item links two users already in the queue (an item with the external id of one and the
//! Discourse id of the other), they are folded into one: the older slot absorbs the newer one,
//! which stays as a tombstone so that slot numbers held elsewhere (marks, requests in flight) stay
//! valid; [`Queue::resolve`] follows it.
//!
//! **Flags.** Every flag is kept; only an exact repeat (same source, reason and time, as when a
//! page is read twice) is dropped.
//!
//! **Order.** Users looked up by hand (no flag) first, then the newest flag first; ties go to the
//! user with more flags, then by username. Newest-first puts what moderators were just alerted to
//! at the top; a user flagged by both sources or many times rises among equals. Users whose flags
//! carry no time come last.
//!
//! All text is sanitized (`sanitize::clean`) on the way in, so the queue only holds text that is
//! safe to draw.

use std::cmp::{Ordering, Reverse};
use std::collections::HashMap;

use crate::model::{AvatarKind, Flag, FlagItem, QueuedUser, UserDetail};
use crate::sanitize;

/// The merged queue. Slots are stable: a user keeps its slot number for the life of the queue.
#[derive(Debug, Default, Clone)]
pub struct Queue {
    users: Vec<QueuedUser>,
    /// `Some(target)` for a slot folded into another one.
    absorbed: Vec<Option<usize>>,
    by_external: HashMap<String, usize>,
    by_id: HashMap<u64, usize>,
    by_name: HashMap<String, usize>,
    live: usize,
}

/// What a merge changed, for callers that keep per-slot derived data.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Merged {
    /// Slots created or changed (live ones), each once.
    pub changed: Vec<usize>,
    /// `(from, into)`: slots folded into another slot.
    pub absorbed: Vec<(usize, usize)>,
}

impl Merged {
    fn touch(&mut self, slot: usize) {
        if !self.changed.contains(&slot) {
            self.changed.push(slot);
        }
    }
}

fn clean_opt(v: Option<String>) -> Option<String> {
    v.map(|s| sanitize::clean(&s).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Sanitizes an incoming item: control characters out, blanks become `None`.
fn clean_item(item: FlagItem) -> FlagItem {
    FlagItem {
        source: item.source,
        external_id: clean_opt(item.external_id),
        discourse_id: item.discourse_id,
        username: clean_opt(item.username),
        email: clean_opt(item.email),
        reason: sanitize::clean(&item.reason).trim().to_string(),
        flagged_at: item.flagged_at,
        photo_url: clean_opt(item.photo_url),
        avatar: item.avatar,
    }
}

fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// True when nothing known about `a` and `b` says they are different people.
fn compatible(
    a_ext: Option<&str>,
    a_id: Option<u64>,
    b_ext: Option<&str>,
    b_id: Option<u64>,
) -> bool {
    let ext_ok = match (a_ext, b_ext) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    let id_ok = match (a_id, b_id) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    ext_ok && id_ok
}

fn add_flag(user: &mut QueuedUser, flag: Flag) {
    if !user.flags.contains(&flag) {
        user.flags.push(flag);
    }
}

fn fill(slot: &mut Option<String>, v: &Option<String>) {
    if slot.is_none() {
        slot.clone_from(v);
    }
}

/// Folds what `src` knows into `dst`: missing ids and names filled in, a known avatar kind
/// (the newer information) taken, every flag kept.
fn fold(dst: &mut QueuedUser, src: QueuedUser) {
    fill(&mut dst.external_id, &src.external_id);
    dst.discourse_id = dst.discourse_id.or(src.discourse_id);
    fill(&mut dst.username, &src.username);
    fill(&mut dst.email, &src.email);
    fill(&mut dst.photo_url, &src.photo_url);
    if src.avatar != AvatarKind::Unknown {
        dst.avatar = src.avatar;
    }
    for f in src.flags {
        add_flag(dst, f);
    }
}

impl Queue {
    pub fn new() -> Self {
        Self::default()
    }

    /// A queue holding `items`, merged.
    pub fn from_items(items: impl IntoIterator<Item = FlagItem>) -> Self {
        let mut q = Self::new();
        q.merge(items);
        q
    }

    /// Forgets one source's flags on a row (its Discourse items were resolved).
    pub fn drop_source(&mut self, slot: usize, source: crate::model::Source) {
        let slot = self.resolve(slot);
        if let Some(u) = self.users.get_mut(slot) {
            u.flags.retain(|f| f.source != source);
        }
    }

    /// Number of slots, absorbed ones included (the bound for slot numbers).
    pub fn slots(&self) -> usize {
        self.users.len()
    }

    /// Number of distinct users.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The user in `slot`, `None` when the slot was folded into another one.
    pub fn get(&self, slot: usize) -> Option<&QueuedUser> {
        match self.absorbed.get(slot)? {
            None => self.users.get(slot),
            Some(_) => None,
        }
    }

    /// Follows absorption: the live slot that now holds what `slot` held.
    pub fn resolve(&self, mut slot: usize) -> usize {
        while let Some(Some(next)) = self.absorbed.get(slot) {
            slot = *next;
        }
        slot
    }

    /// Live slots with their users, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &QueuedUser)> {
        self.users
            .iter()
            .enumerate()
            .filter(|(i, _)| self.absorbed[*i].is_none())
    }

    /// The live slot that the given identity belongs to, by external id, then Discourse id, then
    /// username.
    pub fn find(
        &self,
        external_id: Option<&str>,
        discourse_id: Option<u64>,
        username: Option<&str>,
    ) -> Option<usize> {
        let ok = |slot: usize| {
            let u = &self.users[slot];
            compatible(
                u.external_id.as_deref(),
                u.discourse_id,
                external_id,
                discourse_id,
            )
            .then_some(slot)
        };
        external_id
            .and_then(|x| self.by_external.get(x).copied())
            .or_else(|| {
                discourse_id
                    .and_then(|id| self.by_id.get(&id).copied())
                    .and_then(ok)
            })
            .or_else(|| {
                username
                    .and_then(|n| self.by_name.get(&name_key(n)).copied())
                    .and_then(ok)
            })
            .map(|s| self.resolve(s))
    }

    fn index(&mut self, slot: usize) {
        let u = &self.users[slot];
        if let Some(x) = &u.external_id {
            self.by_external.entry(x.clone()).or_insert(slot);
        }
        if let Some(id) = u.discourse_id {
            self.by_id.entry(id).or_insert(slot);
        }
        if let Some(n) = &u.username {
            self.by_name.entry(name_key(n)).or_insert(slot);
        }
    }

    fn push(&mut self, user: QueuedUser) -> usize {
        let slot = self.users.len();
        self.users.push(user);
        self.absorbed.push(None);
        self.live += 1;
        self.index(slot);
        slot
    }

    /// Folds `from` into `into` (both live, compatible).
    fn absorb(&mut self, from: usize, into: usize) {
        let src = std::mem::take(&mut self.users[from]);
        fold(&mut self.users[into], src);
        self.absorbed[from] = Some(into);
        self.live -= 1;
        for v in self
            .by_external
            .values_mut()
            .chain(self.by_id.values_mut())
            .chain(self.by_name.values_mut())
        {
            if *v == from {
                *v = into;
            }
        }
        self.index(into);
    }

    /// Merges a page of items; returns what changed.
    pub fn merge(&mut self, items: impl IntoIterator<Item = FlagItem>) -> Merged {
        let mut out = Merged::default();
        for item in items {
            self.merge_one(clean_item(item), &mut out);
        }
        out.changed.retain(|s| self.absorbed[*s].is_none());
        out
    }

    fn merge_one(&mut self, item: FlagItem, out: &mut Merged) {
        let ext = item.external_id.as_deref();
        // Candidates in order of key strength, each compatible with the item.
        let mut cands: Vec<usize> = Vec::new();
        let by_ext = ext.and_then(|x| self.by_external.get(x).copied());
        let by_id = item
            .discourse_id
            .and_then(|id| self.by_id.get(&id).copied());
        let by_name = item
            .username
            .as_deref()
            .and_then(|n| self.by_name.get(&name_key(n)).copied());
        for c in [by_ext, by_id, by_name].into_iter().flatten() {
            let c = self.resolve(c);
            let u = &self.users[c];
            if compatible(
                u.external_id.as_deref(),
                u.discourse_id,
                ext,
                item.discourse_id,
            ) && !cands.contains(&c)
            {
                cands.push(c);
            }
        }
        let user = QueuedUser {
            flags: vec![Flag {
                source: item.source,
                reason: item.reason,
                flagged_at: item.flagged_at,
            }],
            external_id: item.external_id,
            discourse_id: item.discourse_id,
            username: item.username,
            email: item.email,
            avatar: item.avatar,
            photo_url: item.photo_url,
        };
        let Some(&target) = cands.first() else {
            let slot = self.push(user);
            out.touch(slot);
            return;
        };
        fold(&mut self.users[target], user);
        self.index(target);
        out.touch(target);
        // The item may link users that were apart until now.
        let (lo, rest) = {
            let mut all = cands.clone();
            all.sort_unstable();
            (all[0], all[1..].to_vec())
        };
        if lo != target {
            // Keep the oldest slot: move the target's data there.
            if self.can_join(lo, target) {
                self.absorb(target, lo);
                out.absorbed.push((target, lo));
                out.touch(lo);
            }
        }
        let keep = self.resolve(lo);
        for other in rest {
            let other = self.resolve(other);
            if other != keep && self.can_join(keep, other) {
                self.absorb(other, keep);
                out.absorbed.push((other, keep));
                out.touch(keep);
            }
        }
    }

    fn can_join(&self, a: usize, b: usize) -> bool {
        let (a, b) = (&self.users[a], &self.users[b]);
        compatible(
            a.external_id.as_deref(),
            a.discourse_id,
            b.external_id.as_deref(),
            b.discourse_id,
        )
    }

    /// Adds (or completes) a user read from Discourse, such as one looked up by hand with
    /// `:user`: a known user gets the missing ids filled in and its avatar kind refreshed; an
    /// unknown one gets a slot with no flag. Returns the slot.
    pub fn upsert_detail(&mut self, detail: &UserDetail) -> usize {
        let ext = detail
            .external_id()
            .map(|x| sanitize::clean(x).trim().to_string());
        let name = sanitize::clean(&detail.username);
        let found = self.find(ext.as_deref(), Some(detail.id), Some(&name));
        let slot = match found {
            Some(s) => s,
            None => self.push(QueuedUser::default()),
        };
        self.complete(slot, detail);
        slot
    }

    /// Completes the user in `slot` with what Discourse says of it: Discourse id, username (the
    /// one the API needs; the main app's may differ), email, external id, avatar kind.
    pub fn complete(&mut self, slot: usize, detail: &UserDetail) {
        let slot = self.resolve(slot);
        let Some(u) = self.users.get_mut(slot) else {
            return;
        };
        let ext = detail
            .external_id()
            .map(|x| sanitize::clean(x).trim().to_string());
        let name = sanitize::clean(&detail.username);
        u.discourse_id = Some(detail.id);
        fill(&mut u.external_id, &ext.filter(|x| !x.is_empty()));
        if !name.is_empty() {
            u.username = Some(name);
        }
        fill(&mut u.email, &clean_opt(detail.email.clone()));
        let kind = detail.avatar_kind();
        if kind != AvatarKind::Unknown {
            u.avatar = kind;
        }
        self.index(slot);
    }

    /// Live slots in queue order (see the module documentation).
    pub fn sorted(&self) -> Vec<usize> {
        let mut keyed: Vec<(OrderKey, usize)> =
            self.iter().map(|(i, u)| (order_key(u), i)).collect();
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| self.tie(a.1, b.1)));
        keyed.into_iter().map(|(_, i)| i).collect()
    }

    fn tie(&self, a: usize, b: usize) -> Ordering {
        let name = |i: usize| self.users[i].username.as_deref().map(str::to_lowercase);
        name(a).cmp(&name(b)).then(a.cmp(&b))
    }

    /// The users in queue order, consuming the queue (for `queue --json`).
    pub fn into_sorted(self) -> Vec<QueuedUser> {
        let order = self.sorted();
        let mut users: Vec<Option<QueuedUser>> = self.users.into_iter().map(Some).collect();
        order.into_iter().filter_map(|i| users[i].take()).collect()
    }
}

/// (looked up by hand first, newest flag first with none last, more flags first)
type OrderKey = (bool, Reverse<i64>, Reverse<usize>);

fn order_key(u: &QueuedUser) -> OrderKey {
    let newest = u
        .newest_flag()
        .map(|t| t.timestamp_millis())
        .unwrap_or(i64::MIN);
    (!u.flags.is_empty(), Reverse(newest), Reverse(u.flags.len()))
}

/// Merges items from any number of pages and sources into the ordered queue.
pub fn merge(items: impl IntoIterator<Item = FlagItem>) -> Vec<QueuedUser> {
    Queue::from_items(items).into_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Source, SsoRecord};
    use chrono::{TimeZone, Utc};

    fn at(min: u32) -> Option<chrono::DateTime<Utc>> {
        Some(Utc.with_ymd_and_hms(2026, 11, 20, 10, min, 0).unwrap())
    }

    fn app(ext: &str, name: &str, reason: &str, min: u32) -> FlagItem {
        FlagItem {
            source: Source::App,
            external_id: Some(ext.into()),
            discourse_id: None,
            username: Some(name.into()),
            email: Some(format!("{name}@example.com")),
            reason: reason.into(),
            flagged_at: at(min),
            photo_url: None,
            avatar: AvatarKind::Unknown,
        }
    }

    fn disc(id: u64, name: &str, reason: &str, min: u32) -> FlagItem {
        FlagItem {
            source: Source::Discourse,
            external_id: None,
            discourse_id: Some(id),
            username: Some(name.into()),
            email: None,
            reason: reason.into(),
            flagged_at: at(min),
            photo_url: None,
            avatar: AvatarKind::Custom,
        }
    }

    #[test]
    fn dedupes_by_external_id_and_keeps_every_flag() {
        let q = merge([
            app("684", "alice", "nudity", 1),
            app("684", "alice2", "violence", 2),
        ]);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].flags.len(), 2);
        assert_eq!(q[0].username.as_deref(), Some("alice"));
        assert_eq!(q[0].reasons(), vec!["nudity", "violence"]);
    }

    #[test]
    fn dedupes_by_discourse_id_then_username_case_insensitively() {
        let q = merge([
            disc(5, "Bob", "spam", 1),
            disc(5, "bob_renamed", "spam again", 2),
            app("99", "BOB", "nudity", 3),
        ]);
        assert_eq!(q.len(), 1, "{q:#?}");
        let u = &q[0];
        assert_eq!(u.flags.len(), 3);
        assert_eq!(u.external_id.as_deref(), Some("99"));
        assert_eq!(u.discourse_id, Some(5));
        assert_eq!(u.sources(), vec![Source::App, Source::Discourse]);
        assert_eq!(u.avatar, AvatarKind::Custom);
        assert_eq!(u.email.as_deref(), Some("BOB@example.com"));
    }

    #[test]
    fn stronger_keys_that_disagree_keep_users_apart() {
        // Same username, different external ids: two people.
        let q = merge([app("1", "sam", "a", 1), app("2", "Sam", "b", 2)]);
        assert_eq!(q.len(), 2);
        // Same username, different Discourse ids: two people.
        let q = merge([disc(1, "kim", "a", 1), disc(2, "kim", "b", 2)]);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn exact_repeats_are_dropped_but_same_reason_other_time_is_kept() {
        let q = merge([
            app("7", "al", "nudity", 1),
            app("7", "al", "nudity", 1),
            app("7", "al", "nudity", 5),
        ]);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].flags.len(), 2);
    }

    #[test]
    fn an_item_linking_two_users_folds_them_and_slots_resolve() {
        let mut q = Queue::new();
        q.merge([app("684", "alice_app", "nudity", 1)]);
        q.merge([disc(42, "alice", "flagged post", 2)]);
        assert_eq!(q.len(), 2);
        // An item naming both the external id and the Discourse id links them.
        let mut linking = disc(42, "alice", "again", 3);
        linking.external_id = Some("684".into());
        let m = q.merge([linking]);
        assert_eq!(q.len(), 1);
        assert_eq!(m.absorbed, vec![(1, 0)]);
        assert_eq!(q.resolve(1), 0);
        assert!(q.get(1).is_none());
        let u = q.get(0).unwrap();
        assert_eq!(u.flags.len(), 3);
        assert_eq!(u.discourse_id, Some(42));
        assert_eq!(q.find(None, Some(42), None), Some(0));
        assert_eq!(q.find(None, None, Some("ALICE")), Some(0));
        assert_eq!(q.sorted(), vec![0]);
    }

    #[test]
    fn order_is_newest_flag_first_then_more_flags_then_name() {
        let q = merge([
            app("1", "old", "r", 1),
            app("2", "new", "r", 30),
            app("3", "zed", "r", 10),
            app("4", "amy", "r", 10),
            app("4", "amy", "r2", 2),
            FlagItem {
                flagged_at: None,
                ..app("5", "undated", "r", 0)
            },
            app("6", "bea", "r", 10),
        ]);
        let names: Vec<_> = q.iter().map(|u| u.username.clone().unwrap()).collect();
        assert_eq!(names, ["new", "amy", "bea", "zed", "old", "undated"]);
    }

    #[test]
    fn hostile_text_is_sanitized_and_blanks_dropped() {
        let mut item = app("\u{1b}[31m9", "eve\u{1b}]0;pwned\u{7}", "x\u{1b}[2Jy", 1);
        item.email = Some("   ".into());
        let q = merge([item]);
        assert_eq!(q[0].external_id.as_deref(), Some("9"));
        assert_eq!(q[0].username.as_deref(), Some("eve"));
        assert_eq!(q[0].reasons(), vec!["xy"]);
        assert_eq!(q[0].email, None);
    }

    #[test]
    fn upsert_detail_completes_a_queued_user_or_adds_a_looked_up_one() {
        let mut q = Queue::from_items([app("684", "alice_app", "nudity", 1)]);
        let detail = UserDetail {
            id: 42,
            username: "alice".into(),
            email: Some("alice@example.com".into()),
            uploaded_avatar_id: Some(None),
            sso: Some(SsoRecord {
                external_id: "684".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(q.upsert_detail(&detail), 0);
        let u = q.get(0).unwrap();
        assert_eq!(u.username.as_deref(), Some("alice"));
        assert_eq!(u.discourse_id, Some(42));
        assert_eq!(u.avatar, AvatarKind::System);

        let other = UserDetail {
            id: 7,
            username: "zoe".into(),
            ..Default::default()
        };
        assert_eq!(q.upsert_detail(&other), 1);
        assert_eq!(q.len(), 2);
        // Looked-up users (no flag) come first.
        assert_eq!(q.sorted(), vec![1, 0]);
    }

    #[test]
    fn user_ref_prefers_external_id() {
        let q = merge([app("684", "alice", "r", 1), disc(3, "bob", "r", 2)]);
        let refs: Vec<String> = q
            .iter()
            .map(|u| u.user_ref().unwrap().to_string())
            .collect();
        assert_eq!(refs, ["bob", "external:684"]);
    }
}
