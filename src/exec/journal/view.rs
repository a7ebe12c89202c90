//! The journal in memory: the newest entries for `tandem history`, and the newest record of
//! each state key however old it is, for what the daemon reads back at startup.

use std::collections::{BTreeMap, VecDeque};

use super::{Compactable, Entry, MAX_RETAINED_ENTRIES};

/// What the journal holds in memory. Bounded: [`MAX_RETAINED_ENTRIES`] entries plus one per
/// state key (a handful: split-brain, pause, last failover, one stale flag per node name).
#[derive(Debug, Clone)]
pub struct View<T> {
    /// Newest entries, oldest first, at most [`MAX_RETAINED_ENTRIES`].
    recent: VecDeque<Entry<T>>,
    /// The newest entry of each state key ([`Compactable::state_key`]), kept apart from
    /// `recent` so that a state record older than the window is still found after a restart.
    states: BTreeMap<String, Entry<T>>,
    /// Sequence number of the next append.
    next_seq: u64,
}

impl<T> Default for View<T> {
    fn default() -> View<T> {
        View {
            recent: VecDeque::new(),
            states: BTreeMap::new(),
            next_seq: 1,
        }
    }
}

impl<T: Compactable + Clone> View<T> {
    /// Takes in an entry read or written in file order: the newest so far.
    pub(super) fn push(&mut self, entry: Entry<T>) {
        self.note_seq(entry.seq);
        if let Some(key) = entry.event.state_key() {
            self.states.insert(key, entry.clone());
        }
        if self.recent.len() == MAX_RETAINED_ENTRIES {
            self.recent.pop_front();
        }
        self.recent.push_back(entry);
    }
}

impl<T> View<T> {
    /// The entry the next append will write: the next sequence number and the time now.
    pub(super) fn stamp(&self, event: T) -> Entry<T> {
        Entry {
            seq: self.next_seq,
            unix_ms: super::now_unix_ms(),
            event,
        }
    }

    /// Accounts for a record's sequence number, also one whose event is of an unknown kind.
    pub(super) fn note_seq(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq.saturating_add(1));
    }

    /// The retained entries (see [`MAX_RETAINED_ENTRIES`]), oldest first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &Entry<T>> + '_ {
        self.recent.iter()
    }

    /// The newest `n` retained entries, oldest first.
    pub fn last_n(&self, n: usize) -> impl DoubleEndedIterator<Item = &Entry<T>> + '_ {
        self.recent.iter().skip(self.recent.len().saturating_sub(n))
    }

    /// The newest entry whose event matches, among the retained entries and the newest record
    /// of each state key. For a predicate that matches exactly the records of one state key
    /// (the last automatic failover, say), that is the newest such record in the journal,
    /// however old; for other records it looks no further back than the retained entries.
    pub fn last_matching(&self, mut predicate: impl FnMut(&T) -> bool) -> Option<&Entry<T>> {
        let recent = self
            .recent
            .iter()
            .rev()
            .find(|entry| predicate(&entry.event));
        let state = self
            .states
            .values()
            .filter(|entry| predicate(&entry.event))
            .max_by_key(|entry| entry.seq);
        match (recent, state) {
            (Some(recent), Some(state)) if state.seq > recent.seq => Some(state),
            (Some(recent), _) => Some(recent),
            (None, state) => state,
        }
    }

    /// The newest record of state key `key` (as [`Compactable::state_key`] names it), however
    /// old: compaction never drops it.
    pub fn state(&self, key: &str) -> Option<&Entry<T>> {
        self.states.get(key)
    }

    /// The sequence number the next append will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}
