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
//! user with more flags, then by username (case-insensitive, then as spelled), then by external
//! id, Discourse id and email. Newest-first puts what moderators were just alerted to at the top;
//! a user flagged by both sources or many times rises among equals. Users whose flags carry no
//! time come last. The order depends only on what the users are, never on which page or source
//! answered first, so every run of the same queue shows the same rows in the same places. A
//! user's flags are kept in one order too (newest first, undated last, then source and reason),
//! so the reasons read the same on every run; and when the sources spell a username differently,
//! Discourse's spelling (the one its API answers to) wins whichever arrived first.
//!
//! **Cost.** Merging is linear in the items; [`Queue::sorted`] sorts once with a comparison that
//! allocates nothing; [`Queue::resort`] brings a sorted list up to date after a page with
//! k log n comparisons and one copy for k changed users, which is what the console does as pages
//! arrive.
//!
//! All text is sanitized (`sanitize::clean`) on the way in, so the queue only holds text that is
//! safe to draw.

use std::cmp::{Ordering, Reverse};
use std::collections::HashMap;

use crate::model::{AvatarKind, Flag, FlagItem, QueuedUser, Source, UserDetail};
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
    /// Per slot: the username was spelled by Discourse (a review item or a user read), which
    /// beats the main app's spelling whichever came first.
    discourse_named: Vec<bool>,
    /// Per slot: the merge call that last reported it changed, so that `Merged::changed`
    /// lists each slot once without searching it (`epoch` counts merge calls).
    touched_in: Vec<u64>,
    epoch: u64,
}

/// What a merge changed, for callers that keep per-slot derived data.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Merged {
    /// Slots created or changed (live ones), each once.
    pub changed: Vec<usize>,
    /// `(from, into)`: slots folded into another slot.
    pub absorbed: Vec<(usize, usize)>,
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
        avatar_upload: item.avatar_upload,
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

/// The one order of a user's flags: newest first (as the queue is), undated last, then source,
/// then reason.
fn flag_order(a: &Flag, b: &Flag) -> Ordering {
    let time = match (a.flagged_at, b.flagged_at) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    time.then(a.source.cmp(&b.source))
        .then_with(|| a.reason.cmp(&b.reason))
}

/// Adds `flag` in its place (see [`flag_order`]) unless it is an exact repeat.
fn add_flag(user: &mut QueuedUser, flag: Flag) {
    // Most users have one flag or two: the common case is a push at the end.
    if user
        .flags
        .last()
        .is_none_or(|l| flag_order(l, &flag) == Ordering::Less)
    {
        user.flags.push(flag);
        return;
    }
    if let Err(at) = user.flags.binary_search_by(|f| flag_order(f, &flag)) {
        user.flags.insert(at, flag);
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
        dst.avatar_upload = src.avatar_upload;
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

    fn is_live(&self, slot: usize) -> bool {
        matches!(self.absorbed.get(slot), Some(None))
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
        // Index entries may name a slot folded since; judge the live one that holds it.
        let ok = |slot: usize| {
            let slot = self.resolve(slot);
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
            .map(|s| self.resolve(s))
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

    fn push(&mut self, user: QueuedUser, discourse_named: bool) -> usize {
        let slot = self.users.len();
        self.users.push(user);
        self.absorbed.push(None);
        self.discourse_named.push(discourse_named);
        self.touched_in.push(0);
        self.live += 1;
        self.index(slot);
        slot
    }

    /// Reports `slot` in `out.changed`, once per merge call.
    fn touch(&mut self, slot: usize, out: &mut Merged) {
        if self.touched_in[slot] != self.epoch {
            self.touched_in[slot] = self.epoch;
            out.changed.push(slot);
        }
    }

    /// Discourse's spelling of the username replaces the main app's.
    fn name_from_discourse(&mut self, slot: usize, name: &str) {
        if !self.discourse_named[slot] {
            self.discourse_named[slot] = true;
            self.users[slot].username = Some(name.to_string());
        }
    }

    /// Folds `from` into `into` (both live, compatible).
    fn absorb(&mut self, from: usize, into: usize) {
        let src = std::mem::take(&mut self.users[from]);
        let src_name = self.discourse_named[from]
            .then(|| src.username.clone())
            .flatten();
        fold(&mut self.users[into], src);
        if let Some(n) = src_name {
            self.name_from_discourse(into, &n);
        }
        self.absorbed[from] = Some(into);
        self.live -= 1;
        // Index entries naming `from` stay: every lookup resolves what it finds, and rewriting
        // them would cost a pass over the whole index per fold.
        self.index(into);
    }

    /// Merges a page of items; returns what changed.
    pub fn merge(&mut self, items: impl IntoIterator<Item = FlagItem>) -> Merged {
        self.epoch += 1;
        let mut out = Merged::default();
        for item in items {
            self.merge_one(clean_item(item), &mut out);
        }
        out.changed.retain(|s| self.absorbed[*s].is_none());
        out
    }

    fn merge_one(&mut self, item: FlagItem, out: &mut Merged) {
        let ext = item.external_id.as_deref();
        // Candidates in order of key strength, each compatible with the item (at most three).
        let mut cands: Vec<usize> = Vec::with_capacity(3);
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
        let discourse_name = (item.source == Source::Discourse)
            .then(|| item.username.clone())
            .flatten();
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
            avatar_upload: item.avatar_upload,
            photo_url: item.photo_url,
        };
        let Some(&target) = cands.first() else {
            let slot = self.push(user, discourse_name.is_some());
            self.touch(slot, out);
            return;
        };
        fold(&mut self.users[target], user);
        if let Some(n) = &discourse_name {
            self.name_from_discourse(target, n);
        }
        self.index(target);
        self.touch(target, out);
        if cands.len() == 1 {
            return;
        }
        // The item may link users that were apart until now.
        cands.sort_unstable();
        let lo = cands[0];
        if lo != target {
            // Keep the oldest slot: move the target's data there.
            if self.can_join(lo, target) {
                self.absorb(target, lo);
                out.absorbed.push((target, lo));
                self.touch(lo, out);
            }
        }
        let keep = self.resolve(lo);
        for &other in &cands[1..] {
            let other = self.resolve(other);
            if other != keep && self.can_join(keep, other) {
                self.absorb(other, keep);
                out.absorbed.push((other, keep));
                self.touch(keep, out);
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
            None => self.push(QueuedUser::default(), false),
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
            self.discourse_named[slot] = true;
        }
        fill(&mut u.email, &clean_opt(detail.email.clone()));
        let kind = detail.avatar_kind();
        if kind != AvatarKind::Unknown {
            u.avatar = kind;
            u.avatar_upload = detail.uploaded_avatar_id.flatten().or_else(|| {
                detail
                    .avatar_template
                    .as_deref()
                    .and_then(AvatarKind::upload_in_template)
            });
        }
        self.index(slot);
    }

    /// The queue order of two live slots (see the module documentation). Allocates nothing.
    pub fn cmp_slots(&self, a: usize, b: usize) -> Ordering {
        let (ua, ub) = (&self.users[a], &self.users[b]);
        order_key(ua)
            .cmp(&order_key(ub))
            .then_with(|| tie(ua, ub))
            .then(a.cmp(&b))
    }

    /// Live slots in queue order (see the module documentation).
    pub fn sorted(&self) -> Vec<usize> {
        let mut keyed: Vec<(OrderKey, usize)> =
            self.iter().map(|(i, u)| (order_key(u), i)).collect();
        keyed.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| tie(&self.users[a.1], &self.users[b.1]))
                .then(a.1.cmp(&b.1))
        });
        keyed.into_iter().map(|(_, i)| i).collect()
    }

    /// Brings `order`, the queue order as it was before some merges, up to date: the slots in
    /// `changed` (changed, new, or absorbed since; repeats allowed) are taken out and put back in
    /// their places, and folded slots dropped. The result equals [`Queue::sorted`], for k log n
    /// comparisons and a copy (n users, k changed) rather than a sort of everything.
    pub fn resort(&self, order: &mut Vec<usize>, changed: &[usize]) {
        if changed.is_empty() {
            return;
        }
        let mut moved = vec![false; self.slots()];
        let mut fresh: Vec<(OrderKey, usize)> = Vec::with_capacity(changed.len());
        for &slot in changed {
            let slot = self.resolve(slot);
            if slot < moved.len() && !moved[slot] && self.is_live(slot) {
                moved[slot] = true;
                fresh.push((order_key(&self.users[slot]), slot));
            }
        }
        // Absorbed slots in `changed` never went into `moved`; drop them too.
        order.retain(|&s| s < moved.len() && !moved[s] && self.is_live(s));
        fresh.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| tie(&self.users[a.1], &self.users[b.1]))
                .then(a.1.cmp(&b.1))
        });
        // Each changed user finds its place by binary search; the runs between are copied:
        // k log n comparisons and one pass of copying, however the flag times tie.
        let old = std::mem::take(order);
        order.reserve(old.len() + fresh.len());
        let mut from = 0;
        for (_, f) in fresh {
            let at =
                from + old[from..].partition_point(|&s| self.cmp_slots(s, f) == Ordering::Less);
            order.extend_from_slice(&old[from..at]);
            order.push(f);
            from = at;
        }
        order.extend_from_slice(&old[from..]);
    }

    /// The users in queue order, consuming the queue (for `queue --json`).
    pub fn into_sorted(self) -> Vec<QueuedUser> {
        let order = self.sorted();
        let mut users: Vec<Option<QueuedUser>> = self.users.into_iter().map(Some).collect();
        order.into_iter().filter_map(|i| users[i].take()).collect()
    }
}

/// Ties of the order key: username case-insensitively, then as spelled, then the ids, then the
/// email. Two live users always differ in one of these (a user has an external id, a Discourse
/// id or a username), so the slot, which depends on arrival, decides nothing in practice.
fn tie(a: &QueuedUser, b: &QueuedUser) -> Ordering {
    let (na, nb) = (a.username.as_deref(), b.username.as_deref());
    cmp_caseless(na, nb)
        .then_with(|| na.cmp(&nb))
        .then_with(|| a.external_id.cmp(&b.external_id))
        .then_with(|| a.discourse_id.cmp(&b.discourse_id))
        .then_with(|| a.email.cmp(&b.email))
}

/// Case-insensitive order of two names (`None` first) without building lowercase copies.
fn cmp_caseless(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) if a.is_ascii() && b.is_ascii() => a
            .bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.bytes().map(|c| c.to_ascii_lowercase())),
        (Some(a), Some(b)) => a
            .chars()
            .flat_map(char::to_lowercase)
            .cmp(b.chars().flat_map(char::to_lowercase)),
        (a, b) => a.is_some().cmp(&b.is_some()),
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
            avatar_upload: None,
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
            avatar_upload: None,
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
        // Newest first, as the queue is.
        assert_eq!(q[0].reasons(), vec!["violence", "nudity"]);
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

    /// A small deterministic shuffle (xorshift), so the test needs no dependency.
    fn shuffle<T>(v: &mut [T], mut seed: u64) {
        for i in (1..v.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            v.swap(i, (seed % (i as u64 + 1)) as usize);
        }
    }

    /// A queue of both sources where many flag times tie and the sources overlap, with the
    /// spelling of a name differing between them.
    fn mixed_items() -> (Vec<FlagItem>, Vec<FlagItem>) {
        let mut app_items = Vec::new();
        let mut disc_items = Vec::new();
        for i in 0..60u32 {
            let name = format!("user{:02}", 59 - i);
            app_items.push(app(
                &format!("{i}"),
                &name,
                ["nudity", "spam"][i as usize % 2],
                i % 3,
            ));
            if i % 2 == 0 {
                disc_items.push(disc(
                    1000 + u64::from(i),
                    &name.to_uppercase(),
                    "flagged post",
                    i % 3,
                ));
            }
        }
        // Same name, no shared key: two people (sorted by external id then Discourse id).
        app_items.push(app("900", "twin", "r", 1));
        disc_items.push(disc(77, "other", "r", 1));
        (app_items, disc_items)
    }

    fn render(q: &Queue) -> Vec<String> {
        q.sorted()
            .into_iter()
            .map(|s| {
                let u = q.get(s).unwrap();
                format!(
                    "{:?} {:?} {:?} {:?}",
                    u.username,
                    u.external_id,
                    u.discourse_id,
                    u.reasons()
                )
            })
            .collect()
    }

    #[test]
    fn one_order_whichever_source_answers_first_and_however_pages_interleave() {
        let (app_items, disc_items) = mixed_items();
        let expected = {
            let mut q = Queue::new();
            q.merge(app_items.clone());
            q.merge(disc_items.clone());
            render(&q)
        };
        // Pages of 7 and 3 interleaved in many ways, Discourse first or the app first.
        for seed in 1..40u64 {
            let mut pages: Vec<Vec<FlagItem>> = app_items
                .chunks(7)
                .map(<[FlagItem]>::to_vec)
                .chain(disc_items.chunks(3).map(<[FlagItem]>::to_vec))
                .collect();
            // Keep each source's own page order (a source pages in order), mix the two.
            let mut tags: Vec<bool> = pages.iter().map(|p| p[0].source == Source::App).collect();
            shuffle(&mut tags, seed);
            let (mut a, mut d): (Vec<_>, Vec<_>) =
                pages.drain(..).partition(|p| p[0].source == Source::App);
            a.reverse();
            d.reverse();
            let mut q = Queue::new();
            for is_app in tags {
                let page = if is_app { a.pop() } else { d.pop() }.unwrap();
                q.merge(page);
            }
            assert_eq!(render(&q), expected, "seed {seed}");
        }
        // Ties go by name, and Discourse's spelling (upper case here) wins.
        assert!(expected[0].starts_with("Some(\"USER"), "{expected:#?}");
    }

    #[test]
    fn reasons_come_in_one_order_whatever_order_the_flags_came_in() {
        let flags = [
            disc(5, "kim", "spam", 2),
            app("1", "kim", "nudity", 2),
            app("1", "kim", "violence", 1),
            FlagItem {
                flagged_at: None,
                ..app("1", "kim", "undated", 0)
            },
        ];
        let mut seen = Vec::new();
        for seed in 1..30 {
            let mut v = flags.to_vec();
            shuffle(&mut v, seed);
            seen.push(merge(v)[0].reasons().join(","));
        }
        seen.dedup();
        assert_eq!(seen, ["nudity,spam,violence,undated"]);
    }

    #[test]
    fn resort_after_each_page_equals_a_full_sort() {
        let (app_items, disc_items) = mixed_items();
        let mut all: Vec<FlagItem> = app_items.into_iter().chain(disc_items).collect();
        for seed in 1..20u64 {
            shuffle(&mut all, seed);
            let mut q = Queue::new();
            let mut order = Vec::new();
            for page in all.chunks(5) {
                let m = q.merge(page.to_vec());
                let mut changed = m.changed.clone();
                changed.extend(m.absorbed.iter().flat_map(|(a, b)| [*a, *b]));
                q.resort(&mut order, &changed);
                assert_eq!(order, q.sorted(), "seed {seed}");
            }
        }
        // Folds too: an item linking two queued users.
        let mut q = Queue::new();
        let mut order = Vec::new();
        let m = q.merge([
            app("684", "alice_app", "nudity", 1),
            disc(42, "alice", "post", 2),
        ]);
        q.resort(&mut order, &m.changed);
        let mut linking = disc(42, "alice", "again", 3);
        linking.external_id = Some("684".into());
        let m = q.merge([linking]);
        let changed: Vec<usize> = m.changed.iter().copied().chain([1]).collect();
        q.resort(&mut order, &changed);
        assert_eq!(order, vec![0]);
    }

    #[test]
    fn each_changed_slot_is_reported_once_per_merge() {
        let m = Queue::new().merge([
            app("1", "a", "x", 1),
            app("1", "a", "y", 2),
            app("2", "b", "x", 1),
            app("1", "a", "z", 3),
        ]);
        assert_eq!(m.changed, vec![0, 1]);
    }

    #[test]
    fn caseless_order_needs_no_copies_and_agrees_with_lowercase() {
        let names = [
            "Zoë", "zoe", "ZOE", "émile", "Emile", "bob", "Bob", "ßtraße",
        ];
        for a in names {
            for b in names {
                assert_eq!(
                    cmp_caseless(Some(a), Some(b)),
                    a.to_lowercase().cmp(&b.to_lowercase()),
                    "{a} vs {b}"
                );
            }
        }
        assert_eq!(cmp_caseless(None, Some("a")), Ordering::Less);
    }
}
