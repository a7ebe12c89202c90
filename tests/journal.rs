//! The journal on real files in a temporary directory: round trips, torn tails at every byte,
//! checksum damage, damage in the middle, absurd lengths, and arbitrary file contents;
//! compaction (`journal/compaction.rs`) and the daemon's writer thread (`journal/writer.rs`).

#[path = "journal/compaction.rs"]
mod compaction;
#[path = "journal/pause.rs"]
mod pause;
#[path = "journal/writer.rs"]
mod writer;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tandem::exec::journal::{
    self, Compactable, Journal, JournalError, OpenReport, MAX_RECORD_BYTES,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Event {
    AutomaticFailover { to: String },
    Switchover { to: String, by: String },
    Promoted,
}

impl Compactable for Event {
    fn state_key(&self) -> Option<String> {
        matches!(self, Event::AutomaticFailover { .. }).then(|| "failover".to_string())
    }
}

fn events() -> Vec<Event> {
    vec![
        Event::Promoted,
        Event::AutomaticFailover { to: "b".into() },
        Event::Switchover {
            to: "a".into(),
            by: "operator".into(),
        },
        Event::AutomaticFailover { to: "a".into() },
        Event::Promoted,
    ]
}

fn journal_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("state").join("journal")
}

/// Writes the events and returns the file length after each record.
fn write_all(path: &Path, events: &[Event]) -> Vec<u64> {
    let (mut journal, report) = Journal::<Event>::open(path).expect("open");
    assert_eq!(report.warning, None);
    events
        .iter()
        .map(|event| {
            journal.append(event.clone()).expect("append");
            journal.length_bytes()
        })
        .collect()
}

fn reopen(path: &Path) -> (Journal<Event>, OpenReport) {
    Journal::<Event>::open(path).expect("open never fails because of damage")
}

fn kept_events(journal: &Journal<Event>) -> Vec<Event> {
    journal.entries().map(|entry| entry.event.clone()).collect()
}

fn file_length(path: &Path) -> u64 {
    std::fs::metadata(path).expect("metadata").len()
}

fn damaged_copies(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.to_string_lossy().contains(".damaged-"))
        .collect()
}

#[test]
fn round_trip_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let (mut journal, report) = Journal::<Event>::open(&path).expect("open");
    assert_eq!(report.records, 0);
    assert_eq!(report.warning, None);
    let mode = std::fs::metadata(path.parent().expect("parent"))
        .expect("dir metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the state directory is private");

    let first = journal.append(Event::Promoted).expect("append");
    assert_eq!(first.seq, 1);
    assert!(first.unix_ms > 0);
    let second = journal
        .append(Event::AutomaticFailover { to: "b".into() })
        .expect("append");
    assert_eq!(second.seq, 2);
    assert!(second.unix_ms >= first.unix_ms);
    drop(journal);

    let (mut journal, report) = reopen(&path);
    assert_eq!(report.records, 2);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.warning, None);
    assert_eq!(journal.entries().collect::<Vec<_>>(), vec![&first, &second]);
    let third = journal
        .append(Event::Promoted)
        .expect("append after reopen");
    assert_eq!(third.seq, 3, "sequence numbers continue across restarts");
    drop(journal);

    let (journal, report) = reopen(&path);
    assert_eq!(report.records, 3);
    let last_two: Vec<u64> = journal.last_n(2).map(|entry| entry.seq).collect();
    assert_eq!(last_two, vec![2, 3]);
    assert_eq!(journal.last_n(10).count(), 3);
    let failover = journal
        .last_matching(|event| matches!(event, Event::AutomaticFailover { .. }))
        .expect("a failover was journaled");
    assert_eq!(failover, &second);
    assert!(journal
        .last_matching(|event| matches!(event, Event::Switchover { .. }))
        .is_none());
}

#[test]
fn on_disk_layout_is_length_crc_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    write_all(&path, &[Event::Promoted]);
    let bytes = std::fs::read(&path).expect("read");
    let length = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    assert_eq!(bytes.len(), 8 + length);
    assert_eq!(crc, crc32fast::hash(&bytes[8..]));
    let payload: serde_json::Value = serde_json::from_slice(&bytes[8..]).expect("json");
    assert_eq!(payload["seq"], 1);
    assert_eq!(payload["event"]["kind"], "promoted");
    assert!(payload["unix_ms"].as_u64().is_some());
}

#[test]
fn second_opener_is_refused_while_the_first_holds_the_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let (_held, _) = Journal::<Event>::open(&path).expect("open");
    let refused = Journal::<Event>::open(&path).expect_err("locked");
    assert!(matches!(refused, JournalError::Locked { .. }), "{refused}");
    assert!(refused.to_string().starts_with("refused:"), "{refused}");
}

#[test]
fn torn_tail_of_every_length_keeps_all_earlier_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let all = events();
    let ends = write_all(&path, &all);
    let full = std::fs::read(&path).expect("read");
    let last_good = ends[ends.len() - 2];
    let end = ends[ends.len() - 1];
    for cut in last_good + 1..end {
        std::fs::write(&path, &full[..cut as usize]).expect("write torn file");
        let (journal, report) = reopen(&path);
        assert_eq!(kept_events(&journal), all[..all.len() - 1], "cut at {cut}");
        assert_eq!(report.records, all.len() - 1);
        assert_eq!(report.truncated_bytes, cut - last_good, "cut at {cut}");
        assert_eq!(file_length(&path), last_good, "cut at {cut}");
        let warning = report.warning.expect("a torn tail is reported");
        assert!(warning.contains("torn"), "{warning}");
        assert_eq!(
            report.damaged_copy, None,
            "a torn write lost nothing acknowledged"
        );
    }
    // Cutting exactly at a record boundary is a clean, shorter journal.
    std::fs::write(&path, &full[..last_good as usize]).expect("write");
    let (_, report) = reopen(&path);
    assert_eq!(report.warning, None);
    assert!(damaged_copies(path.parent().expect("parent")).is_empty());
}

#[test]
fn append_after_a_torn_tail_lands_after_the_last_good_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let ends = write_all(&path, &events()[..2]);
    let full = std::fs::read(&path).expect("read");
    std::fs::write(&path, &full[..ends[1] as usize - 3]).expect("tear");
    let (mut journal, report) = reopen(&path);
    assert!(report.warning.is_some());
    journal.append(Event::Promoted).expect("append");
    drop(journal);
    let (journal, report) = reopen(&path);
    assert_eq!(report.warning, None, "no garbage between records");
    assert_eq!(
        kept_events(&journal),
        vec![events()[0].clone(), Event::Promoted]
    );
    let seqs: Vec<u64> = journal.entries().map(|entry| entry.seq).collect();
    assert_eq!(seqs, vec![1, 2]);
}

#[test]
fn flipped_byte_in_the_last_payload_is_a_checksum_mismatch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let all = events();
    let ends = write_all(&path, &all);
    let last_good = ends[ends.len() - 2];
    let mut bytes = std::fs::read(&path).expect("read");
    let target = last_good as usize + 8 + 3;
    bytes[target] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");

    let (journal, report) = reopen(&path);
    assert_eq!(kept_events(&journal), all[..all.len() - 1]);
    assert_eq!(file_length(&path), last_good);
    let warning = report.warning.expect("warned");
    assert!(warning.contains("checksum mismatch"), "{warning}");
    let copy = report
        .damaged_copy
        .expect("bytes that were once complete are saved");
    assert_eq!(std::fs::read(copy).expect("copy"), bytes);
}

#[test]
fn damage_in_the_middle_keeps_records_before_it_and_warns_loudly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let all = events();
    let ends = write_all(&path, &all);
    let mut bytes = std::fs::read(&path).expect("read");
    // Damage the second record's payload; records 3..5 stay intact after it.
    bytes[ends[0] as usize + 8 + 10] ^= 0xff;
    std::fs::write(&path, &bytes).expect("write");

    let (mut journal, report) = reopen(&path);
    assert_eq!(kept_events(&journal), all[..1]);
    assert_eq!(report.records, 1);
    assert_eq!(report.truncated_bytes, bytes.len() as u64 - ends[0]);
    assert_eq!(file_length(&path), ends[0]);
    let warning = report.warning.expect("warned");
    assert!(warning.starts_with("JOURNAL DAMAGED"), "{warning}");
    assert!(
        warning.contains("followed by 3 intact-looking records"),
        "{warning}"
    );
    let copy = report.damaged_copy.expect("the file as found is saved");
    assert!(warning.contains(&copy.display().to_string()), "{warning}");
    assert_eq!(std::fs::read(&copy).expect("copy"), bytes);

    let next = journal.append(Event::Promoted).expect("append");
    assert_eq!(next.seq, 2);
}

#[test]
fn huge_length_field_is_damage_and_is_not_allocated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let ends = write_all(&path, &events()[..3]);
    let mut bytes = std::fs::read(&path).expect("read");
    let at = ends[1] as usize;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&path, &bytes).expect("write");

    let (journal, report) = reopen(&path);
    assert_eq!(kept_events(&journal), events()[..2]);
    assert_eq!(file_length(&path), ends[1]);
    let warning = report.warning.expect("warned");
    assert!(
        warning.contains(&format!("above the {MAX_RECORD_BYTES}-byte limit")),
        "{warning}"
    );
    drop(journal);

    // Just above the bound is refused as well.
    let mut bytes = std::fs::read(&path).expect("read");
    bytes.extend_from_slice(&(MAX_RECORD_BYTES + 1).to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    std::fs::write(&path, &bytes).expect("write");
    let (_, report) = reopen(&path);
    assert!(report.warning.is_some());
    assert_eq!(file_length(&path), ends[1]);
}

#[test]
fn intact_record_of_an_unknown_kind_is_kept_not_dropped() {
    #[derive(Debug, Clone, Serialize, Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Newer {
        Promoted,
        Fenced { how: String },
    }
    impl Compactable for Newer {
        fn state_key(&self) -> Option<String> {
            None
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let (mut newer, _) = Journal::<Newer>::open(&path).expect("open");
    newer.append(Newer::Promoted).expect("append");
    newer
        .append(Newer::Fenced { how: "ipmi".into() })
        .expect("append");
    drop(newer);
    let length = file_length(&path);

    let (mut older, report) = reopen(&path);
    assert_eq!(report.records, 2);
    assert_eq!(report.unknown_records, 1);
    assert_eq!(report.truncated_bytes, 0);
    assert!(report.warning.expect("warned").contains("does not know"));
    assert_eq!(file_length(&path), length, "nothing was cut");
    assert_eq!(kept_events(&older), vec![Event::Promoted]);
    assert_eq!(older.append(Event::Promoted).expect("append").seq, 3);
}

#[test]
fn oversized_event_is_refused_and_leaves_the_file_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let (mut journal, _) = Journal::<Event>::open(&path).expect("open");
    let huge = "x".repeat(MAX_RECORD_BYTES as usize);
    let refused = journal
        .append(Event::AutomaticFailover { to: huge })
        .expect_err("too long");
    assert!(
        matches!(refused, JournalError::RecordTooLong { .. }),
        "{refused}"
    );
    assert_eq!(file_length(&path), 0);
    assert_eq!(journal.append(Event::Promoted).expect("append").seq, 1);
}

#[test]
fn read_only_works_beside_the_daemon_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let ends = write_all(&path, &events()[..3]);
    let (_held, _) = Journal::<Event>::open(&path).expect("the daemon holds the journal");
    let (entries, warning) = journal::read_only::<Event>(&path).expect("read");
    assert_eq!(warning, None);
    let read: Vec<Event> = entries.into_iter().map(|entry| entry.event).collect();
    assert_eq!(read, events()[..3]);

    let mut bytes = std::fs::read(&path).expect("read");
    bytes.truncate(ends[2] as usize - 1);
    std::fs::write(&path, &bytes).expect("tear");
    let (entries, warning) = journal::read_only::<Event>(&path).expect("read");
    assert_eq!(entries.len(), 2);
    assert!(warning.expect("warned").contains("damaged"));
    assert_eq!(file_length(&path), bytes.len() as u64, "left as it is");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever the file holds, open never panics, never fails, and leaves a file that opens
    /// cleanly afterwards.
    #[test]
    fn arbitrary_contents_never_panic(
        prefix in proptest::collection::vec(any::<u8>(), 0..64),
        noise in proptest::collection::vec(any::<u8>(), 0..512),
        records in 0usize..3,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = journal_path(&dir);
        write_all(&path, &events()[..records]);
        let mut bytes = std::fs::read(&path).expect("read");
        let intact = bytes.len() as u64;
        if !prefix.is_empty() {
            bytes = prefix.clone();
        }
        bytes.extend_from_slice(&noise);
        std::fs::write(&path, &bytes).expect("write");

        let (journal, report) = reopen(&path);
        prop_assert_eq!(file_length(&path), bytes.len() as u64 - report.truncated_bytes);
        if prefix.is_empty() && !noise.is_empty() {
            prop_assert!(file_length(&path) >= intact);
            prop_assert!(report.warning.is_some());
        }
        drop(journal);
        let (_, again) = reopen(&path);
        prop_assert_eq!(again.truncated_bytes, 0);
    }
}
