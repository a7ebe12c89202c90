//! The daemon's journal writer: records are in memory at once, while the disk is stuck too,
//! and reach the file in order; a full queue drops a record loudly instead of waiting; the
//! writer thread compacts.

use super::compaction::{craft, history, journal_path, last_stale, split_brain, stale};
use std::time::Duration;
use tandem::core::{JournalEvent, StateKey};
use tandem::exec::journal::{
    Journal, JournalError, MAX_FILE_RECORDS, MAX_RETAINED_ENTRIES, WRITE_QUEUE_CAPACITY,
};

/// Generous: the writer has a few fsyncs to do on a busy test machine.
const CLOSE_TIMEOUT_MS: u64 = 60_000;

fn close_timeout() -> Duration {
    Duration::from_millis(CLOSE_TIMEOUT_MS)
}

#[test]
fn records_are_in_memory_at_once_and_reach_the_file_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let (journal, _) = Journal::<JournalEvent>::open(&path).expect("open");
    let mut handle = journal.spawn_writer().expect("writer");
    let events = history(10);
    let stuck_disk = handle.hold_writes();
    for event in &events {
        handle.record(event.clone()).expect("queued");
    }
    // The disk has written nothing yet, and the view already has everything.
    let seen: Vec<(u64, JournalEvent)> = handle
        .view()
        .entries()
        .map(|entry| (entry.seq, entry.event.clone()))
        .collect();
    assert_eq!(seen, (1..).zip(events.clone()).collect::<Vec<_>>());
    drop(stuck_disk);
    assert!(handle.close(close_timeout()), "the writer finished");

    let (journal, report) = Journal::<JournalEvent>::open(&path).expect("reopen");
    assert_eq!(report.warning, None);
    let written: Vec<(u64, JournalEvent)> = journal
        .entries()
        .map(|entry| (entry.seq, entry.event.clone()))
        .collect();
    assert_eq!(written, seen, "same records, same order");
}

#[test]
fn a_full_queue_drops_the_record_loudly_and_never_waits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let (journal, _) = Journal::<JournalEvent>::open(&path).expect("open");
    let mut handle = journal.spawn_writer().expect("writer");
    let stuck_disk = handle.hold_writes();
    // The writer may have taken the first record off the queue before it stalled.
    let mut refused = None;
    for attempt in 1..=WRITE_QUEUE_CAPACITY + 2 {
        if let Err(error) = handle.record(JournalEvent::Paused) {
            refused = Some((attempt as u64, error));
            break;
        }
    }
    let (dropped, error) = refused.expect("the queue filled up");
    assert!(
        dropped > WRITE_QUEUE_CAPACITY as u64,
        "dropped record {dropped}"
    );
    assert!(matches!(error, JournalError::QueueFull { .. }), "{error}");
    assert!(error.to_string().contains("NOT WRITTEN"), "{error}");
    assert!(handle.is_unwritten(dropped));
    assert!(!handle.is_unwritten(dropped - 1));
    assert_eq!(handle.unwritten_total(), 1);
    let newest = handle.view().entries().last().expect("in memory");
    assert_eq!(newest.seq, dropped, "the dropped record stays in memory");

    drop(stuck_disk);
    assert!(handle.close(close_timeout()));
    let (journal, _) = Journal::<JournalEvent>::open(&path).expect("reopen");
    let seqs: Vec<u64> = journal.entries().map(|entry| entry.seq).collect();
    assert_eq!(
        seqs,
        (1..dropped).collect::<Vec<_>>(),
        "in order, up to the gap"
    );
}

#[test]
fn the_writer_thread_compacts_and_keeps_old_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let mut events = vec![stale("b"), split_brain("x")];
    events.extend(history(MAX_FILE_RECORDS - events.len()));
    craft(&path, &events);
    let (journal, _) = Journal::<JournalEvent>::open(&path).expect("open");
    let mut handle = journal.spawn_writer().expect("writer");
    handle.record(JournalEvent::Resumed).expect("queued");
    let key = StateKey::Stale { node: "b".into() }.to_string();
    assert_eq!(handle.view().state(&key).expect("in memory").seq, 1);
    assert!(handle.close(close_timeout()));

    let (journal, report) = Journal::<JournalEvent>::open(&path).expect("reopen");
    assert_eq!(report.records, MAX_RETAINED_ENTRIES + 2);
    assert_eq!(last_stale(&journal, "b").expect("stale").seq, 1);
    let split = journal.state(&StateKey::SplitBrain.to_string());
    assert_eq!(split.expect("split-brain").seq, 2);
}
