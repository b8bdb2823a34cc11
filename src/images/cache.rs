//! Pictures by URL, least recently used first out, under a count and a byte cap. A failure is
//! kept too (cheaply), so a broken avatar is not fetched again on every tick; `:refresh` clears.

use std::collections::HashMap;
use std::sync::Arc;

use super::Picture;

/// Pictures kept at most.
pub const MAX_ENTRIES: usize = 64;
/// Bytes kept at most (by [`Picture::bytes`]).
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Loading,
    Ready(Arc<Picture>),
    Failed(String),
}

impl Entry {
    fn bytes(&self) -> usize {
        match self {
            Entry::Ready(p) => p.bytes,
            Entry::Failed(e) => e.len(),
            Entry::Loading => 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Cache {
    entries: HashMap<String, (Entry, u64)>,
    clock: u64,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl Default for Cache {
    fn default() -> Self {
        Self::with_caps(MAX_ENTRIES, MAX_BYTES)
    }
}

impl Cache {
    pub fn with_caps(max_entries: usize, max_bytes: usize) -> Self {
        Cache {
            entries: HashMap::new(),
            clock: 0,
            bytes: 0,
            max_entries: max_entries.max(1),
            max_bytes,
        }
    }

    /// The entry for `url`, marked as just used.
    pub fn get(&mut self, url: &str) -> Option<&Entry> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(url).map(|(e, used)| {
            *used = clock;
            &*e
        })
    }

    /// The entry for `url`, without touching its age (for drawing).
    pub fn peek(&self, url: &str) -> Option<&Entry> {
        self.entries.get(url).map(|(e, _)| e)
    }

    pub fn insert(&mut self, url: String, entry: Entry) {
        self.clock += 1;
        self.bytes += entry.bytes();
        if let Some((old, _)) = self.entries.insert(url.clone(), (entry, self.clock)) {
            self.bytes -= old.bytes();
        }
        self.evict(&url);
    }

    /// Drops the least recently used entries (never `keep`, the one just put in, nor one still
    /// loading: its answer would come back to nothing) until both caps hold.
    fn evict(&mut self, keep: &str) {
        while self.entries.len() > self.max_entries || self.bytes > self.max_bytes {
            let oldest = self
                .entries
                .iter()
                .filter(|(k, (e, _))| k.as_str() != keep && *e != Entry::Loading)
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            let Some(k) = oldest else { break };
            if let Some((e, _)) = self.entries.remove(&k) {
                self.bytes -= e.bytes();
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pic(bytes: usize) -> Entry {
        let img = image::DynamicImage::new_rgb8(2, 2);
        let protocol = ratatui_image::picker::Picker::halfblocks()
            .new_protocol(
                img,
                ratatui::layout::Size::new(1, 1),
                ratatui_image::Resize::Fit(None),
            )
            .unwrap();
        Entry::Ready(Arc::new(Picture {
            protocol,
            width: 2,
            height: 2,
            bytes,
        }))
    }

    #[test]
    fn count_cap_drops_the_least_recently_used() {
        let mut c = Cache::with_caps(2, 1 << 20);
        c.insert("a".into(), pic(10));
        c.insert("b".into(), pic(10));
        assert!(c.get("a").is_some()); // a is now newer than b
        c.insert("c".into(), pic(10));
        assert_eq!(c.len(), 2);
        assert!(c.peek("a").is_some());
        assert!(c.peek("b").is_none());
        assert!(c.peek("c").is_some());
        assert_eq!(c.bytes(), 20);
    }

    #[test]
    fn byte_cap_holds_and_loading_entries_stay() {
        let mut c = Cache::with_caps(100, 25);
        c.insert("loading".into(), Entry::Loading);
        c.insert("a".into(), pic(10));
        c.insert("b".into(), pic(10));
        c.insert("c".into(), pic(10));
        assert!(c.bytes() <= 25, "{}", c.bytes());
        assert!(c.peek("a").is_none());
        assert_eq!(c.peek("loading"), Some(&Entry::Loading));
        // Replacing an entry counts its bytes once.
        c.insert("c".into(), pic(5));
        assert_eq!(c.bytes(), 15);
        // One picture bigger than the cap is still kept (it is the one on screen).
        c.insert("big".into(), pic(100));
        assert!(c.peek("big").is_some());
        assert_eq!(c.len(), 2);
    }
}
