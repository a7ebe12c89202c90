//! Compaction: state records older than the in-memory window survive restarts and
//! compactions, the file stays bounded, kept records are copied byte for byte in file order,
//! and a compaction that dies half-way loses nothing.

use std::path::{Path, PathBuf};
use tandem::core::JournalEvent;
use tandem::exec::journal::{
    CrashPoint, Entry, Journal, JournalError, COMPACTION_TEMP_SUFFIX, MAX_FILE_RECORDS,
    MAX_RETAINED_ENTRIES,
};

/// Times of crafted records: record `seq` was written at `BASE_UNIX_MS + seq`.
const BASE_UNIX_MS: u64 = 1_700_000_000_000;

pub fn frame(entry: &Entry<JournalEvent>) -> Vec<u8> {
    let payload = serde_json::to_vec(entry).expect("json");
    let mut record = (payload.len() as u32).to_le_bytes().to_vec();
    record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    record
}

/// Writes `events` as records 1, 2, … straight into a new journal file (no fsync per record,
/// so that thousands take no time); returns each record's bytes.
pub fn craft(path: &Path, events: &[JournalEvent]) -> Vec<Vec<u8>> {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let records: Vec<Vec<u8>> = (1..)
        .zip(events)
        .map(|(seq, event)| {
            frame(&Entry {
                seq,
                unix_ms: BASE_UNIX_MS + seq,
                event: event.clone(),
            })
        })
        .collect();
    std::fs::write(path, records.concat()).expect("write");
    records
}

pub fn stale(node: &str) -> JournalEvent {
    JournalEvent::MayBeStale {
        node: node.into(),
        detail: "was not outdated while the other node was Primary".into(),
    }
}

pub fn split_brain(detail: &str) -> JournalEvent {
    JournalEvent::SplitBrain {
        detail: detail.into(),
    }
}

/// `count` records of history only: promotions and demotions.
pub fn history(count: usize) -> Vec<JournalEvent> {
    (0..count)
        .map(|i| match i % 2 {
            0 => JournalEvent::Promoted {
                reason: format!("test {i}"),
            },
            _ => JournalEvent::Demoted {
                reason: format!("test {i}"),
            },
        })
        .collect()
}

/// What the daemon reads back at startup, asked the way it was asked before compaction.
pub fn last_split_brain(journal: &Journal<JournalEvent>) -> Option<&Entry<JournalEvent>> {
    journal.last_matching(|event| {
        matches!(
            event,
            JournalEvent::SplitBrain { .. } | JournalEvent::SplitBrainResolved
        )
    })
}

pub fn last_stale<'a>(
    journal: &'a Journal<JournalEvent>,
    name: &str,
) -> Option<&'a Entry<JournalEvent>> {
    journal.last_matching(|event| match event {
        JournalEvent::MayBeStale { node, .. } | JournalEvent::StaleCleared { node } => node == name,
        _ => false,
    })
}

fn last_failover(journal: &Journal<JournalEvent>) -> Option<&Entry<JournalEvent>> {
    journal.last_matching(|event| matches!(event, JournalEvent::FailoverStarted { .. }))
}

pub fn journal_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("state").join("journal")
}

fn temp_path(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}{COMPACTION_TEMP_SUFFIX}", path.display()))
}

fn seq_and_time(entry: Option<&Entry<JournalEvent>>) -> Option<(u64, u64)> {
    entry.map(|entry| (entry.seq, entry.unix_ms))
}

#[test]
fn old_state_records_survive_a_restart_and_the_file_is_compacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let failover = JournalEvent::FailoverStarted {
        reason: "peer silent".into(),
    };
    let mut events = vec![stale("b"), split_brain("both Primary"), failover];
    events.push(JournalEvent::Paused);
    events.extend(history(10_000));
    let records = craft(&path, &events);
    let total = records.len();

    // The startup lookups find state records far older than the newest 4096, with their
    // sequence numbers and times: at the first open (which compacts) and after it.
    for _ in 0..2 {
        let (journal, _) = Journal::<JournalEvent>::open(&path).expect("open");
        let first = Some((1, BASE_UNIX_MS + 1));
        assert_eq!(seq_and_time(last_stale(&journal, "b")), first);
        assert_eq!(last_stale(&journal, "a"), None);
        let split = Some((2, BASE_UNIX_MS + 2));
        assert_eq!(seq_and_time(last_split_brain(&journal)), split);
        let failover = Some((3, BASE_UNIX_MS + 3));
        assert_eq!(seq_and_time(last_failover(&journal)), failover);
        let pause = journal.last_matching(|event| matches!(event, JournalEvent::Paused));
        assert_eq!(seq_and_time(pause), Some((4, BASE_UNIX_MS + 4)));
        assert_eq!(journal.entries().count(), MAX_RETAINED_ENTRIES);
    }
    std::fs::write(&path, records.concat()).expect("the uncompacted file again");

    let (journal, report) = Journal::<JournalEvent>::open(&path).expect("open");
    assert_eq!(report.warning, None);
    assert_eq!(report.records, MAX_RETAINED_ENTRIES + 4, "{report:?}");
    assert_eq!(report.compacted_records, total - MAX_RETAINED_ENTRIES - 4);
    // Kept records are the very bytes they were, in file order: the four state records, then
    // the newest window.
    let kept = [
        records[..4].concat(),
        records[total - MAX_RETAINED_ENTRIES..].concat(),
    ];
    assert!(
        std::fs::read(&path).expect("read") == kept.concat(),
        "kept bytes differ"
    );
    drop(journal);
    let (_, report) = Journal::<JournalEvent>::open(&path).expect("reopen");
    let after = (report.records, report.compacted_records);
    assert_eq!(
        after,
        (MAX_RETAINED_ENTRIES + 4, 0),
        "nothing more to compact"
    );
}

#[test]
fn an_append_above_the_bound_compacts_and_keeps_the_newest_state_per_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let mut events = vec![
        split_brain("first"),
        JournalEvent::SplitBrainResolved,
        split_brain("second"),
        stale("a"),
        JournalEvent::StaleCleared { node: "a".into() },
        stale("b"),
    ];
    events.extend(history(MAX_FILE_RECORDS - events.len()));
    let records = craft(&path, &events);
    let (mut journal, report) = Journal::<JournalEvent>::open(&path).expect("open");
    assert_eq!(
        report.records, MAX_FILE_RECORDS,
        "at the bound, not above it"
    );

    let appended = journal.append(JournalEvent::Resumed).expect("append");
    assert_eq!(appended.seq, MAX_FILE_RECORDS as u64 + 1);
    let length = std::fs::metadata(&path).expect("metadata").len();
    assert_eq!(length, journal.length_bytes());
    drop(journal);

    let (mut journal, report) = Journal::<JournalEvent>::open(&path).expect("reopen");
    assert_eq!(report.warning, None);
    // The newest record of each state key outside the window: split-brain "second", the
    // cleared stale flag of a, the stale flag of b. Resumed is inside the window.
    assert_eq!(report.records, MAX_RETAINED_ENTRIES + 3);
    let window = &records[MAX_FILE_RECORDS + 1 - MAX_RETAINED_ENTRIES..];
    let bytes = std::fs::read(&path).expect("read");
    let expected = [&records[2], &records[4], &records[5]]
        .map(|r| r.as_slice())
        .concat();
    let kept = [expected, window.concat()].concat();
    assert!(bytes.starts_with(&kept), "kept bytes differ");
    let split = last_split_brain(&journal).expect("split-brain state");
    assert_eq!((split.seq, &split.event), (3, &split_brain("second")));
    assert_eq!(last_stale(&journal, "a").expect("a").seq, 5);
    assert_eq!(last_stale(&journal, "b").expect("b").seq, 6);
    let next = journal.append(JournalEvent::Paused).expect("append");
    assert_eq!(
        next.seq,
        MAX_FILE_RECORDS as u64 + 2,
        "sequence numbers go on"
    );
}

#[test]
fn a_stray_file_from_an_interrupted_compaction_is_removed_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let records = craft(&path, &[stale("a"), JournalEvent::Paused, split_brain("x")]);
    let stray = PathBuf::from(format!("{}.compacting", path.display()));
    std::fs::write(&stray, &records[0][..5]).expect("a half-written temporary file");

    let (journal, report) = Journal::<JournalEvent>::open(&path).expect("open");
    assert!(!stray.exists(), "the stray file is removed");
    assert_eq!(report.records, 3);
    assert!(
        std::fs::read(&path).expect("read") == records.concat(),
        "unexpected file contents"
    );
    let warning = report.warning.expect("said");
    assert!(warning.contains("interrupted"), "{warning}");
    assert_eq!(journal.entries().count(), 3);
}

/// Below the bound (no compaction at open), above the window.
fn crafted_for_crash(path: &Path) -> Vec<Vec<u8>> {
    let mut events = vec![stale("b"), split_brain("x")];
    events.extend(history(5_000));
    craft(path, &events)
}

#[test]
fn a_crash_before_the_rename_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let records = crafted_for_crash(&path);
    let (journal, report) = Journal::<JournalEvent>::open(&path).expect("open");
    assert_eq!(report.records, records.len());
    journal
        .compact_crashing_at(CrashPoint::BeforeRename)
        .expect("compaction up to the rename");
    assert!(
        temp_path(&path).exists(),
        "the temporary file is left behind"
    );
    assert!(
        std::fs::read(&path).expect("read") == records.concat(),
        "unexpected file contents"
    );

    let (mut journal, report) = Journal::<JournalEvent>::open(&path).expect("reopen");
    assert!(!temp_path(&path).exists());
    assert!(report.warning.expect("said").contains("interrupted"));
    assert_eq!(report.records, records.len(), "nothing lost");
    assert_eq!(last_stale(&journal, "b").expect("stale").seq, 1);
    let done = journal.compact().expect("compact");
    assert_eq!(done.records_after, MAX_RETAINED_ENTRIES + 2);
    assert_eq!(last_split_brain(&journal).expect("split-brain").seq, 2);
}

#[test]
fn a_crash_after_the_rename_leaves_the_compacted_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let records = crafted_for_crash(&path);
    let total = records.len();
    let (journal, _) = Journal::<JournalEvent>::open(&path).expect("open");
    journal
        .compact_crashing_at(CrashPoint::AfterRename)
        .expect("compaction up to the rename");
    assert!(!temp_path(&path).exists());
    let kept = [
        records[..2].concat(),
        records[total - MAX_RETAINED_ENTRIES..].concat(),
    ];
    assert!(
        std::fs::read(&path).expect("read") == kept.concat(),
        "unexpected file contents"
    );

    let (mut journal, report) = Journal::<JournalEvent>::open(&path).expect("reopen");
    assert_eq!(report.warning, None);
    assert_eq!(report.records, MAX_RETAINED_ENTRIES + 2);
    assert_eq!(last_stale(&journal, "b").expect("stale").seq, 1);
    assert_eq!(last_split_brain(&journal).expect("split-brain").seq, 2);
    let next = journal.append(JournalEvent::Paused).expect("append");
    assert_eq!(next.seq, total as u64 + 1);
}

#[test]
fn the_lock_covers_the_compacted_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    crafted_for_crash(&path);
    let (mut journal, _) = Journal::<JournalEvent>::open(&path).expect("open");
    journal.compact().expect("compact");
    let refused = Journal::<JournalEvent>::open(&path).expect_err("still locked");
    assert!(matches!(refused, JournalError::Locked { .. }), "{refused}");
    journal
        .append(JournalEvent::Paused)
        .expect("append to the new file");
    drop(journal);
    let (journal, report) = Journal::<JournalEvent>::open(&path).expect("reopen");
    assert_eq!(report.records, MAX_RETAINED_ENTRIES + 3);
    let newest = journal.entries().last().expect("entries");
    assert_eq!(newest.event, JournalEvent::Paused);
}
