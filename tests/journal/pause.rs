//! The cluster pause comes back from the journal at start (daemon/setup.rs `last_pause`):
//! the newest pause record wins, it survives compaction under thousands of later records,
//! and an older version's node-local `Paused` record is not restored.

use super::compaction::{craft, history, journal_path};
use tandem::core::{ClusterPause, JournalEvent};
use tandem::daemon::last_pause;
use tandem::exec::journal::Journal;

fn changed(epoch: u64, paused: bool, from_peer: bool) -> JournalEvent {
    JournalEvent::PauseChanged {
        pause: ClusterPause {
            epoch,
            paused,
            by: "b".into(),
            at_unix_ms: 1_795_000_000_000 + epoch,
            reason: format!("epoch {epoch}"),
        },
        from_peer,
    }
}

#[test]
fn the_newest_pause_record_is_restored_after_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    let mut events = vec![changed(1, true, false), changed(2, false, true)];
    events.push(changed(3, true, true));
    events.extend(history(10_000));
    craft(&path, &events);
    for _ in 0..2 {
        // The first open compacts; the second reads the compacted file.
        let (journal, _) = Journal::<JournalEvent>::open(&path).expect("open");
        let pause = last_pause(&journal).expect("a pause record");
        assert_eq!((pause.epoch, pause.paused), (3, true));
        assert_eq!(pause.reason, "epoch 3");
    }
}

#[test]
fn a_resume_is_restored_as_resumed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    craft(&path, &[changed(1, true, false), changed(2, false, false)]);
    let (journal, _) = Journal::<JournalEvent>::open(&path).expect("open");
    let pause = last_pause(&journal).expect("a pause record");
    assert_eq!((pause.epoch, pause.paused), (2, false));
}

#[test]
fn an_old_node_local_pause_is_not_restored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal_path(&dir);
    craft(&path, &[changed(1, false, false), JournalEvent::Paused]);
    let (journal, _) = Journal::<JournalEvent>::open(&path).expect("open");
    assert_eq!(last_pause(&journal), None);
}
