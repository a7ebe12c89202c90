//! The daemon's journal: what is in memory stays with the event loop, the file goes to a thread
//! of its own, so that a slow disk never holds up heartbeats and decisions.
//!
//! [`JournalHandle::record`] stamps the event (sequence number, time), adds it to the view in
//! memory at once (`tandem history` and the startup-state lookups never wait for the disk) and
//! queues the framed record. One thread takes the queue in order, appends, `fdatasync`s and
//! compacts, so records reach the file in the order the core produced them. A record that
//! does not reach the file (its write failed, the queue was full, the thread is gone) is logged
//! as an error, counted, and flagged in memory; `tandem history` marks it.
//!
//! # A full queue drops the record, loudly
//! `record` never waits. A full queue means the disk has not finished one write in the time
//! the core produced [`WRITE_QUEUE_CAPACITY`] records; waiting for it on the event loop would
//! stop heartbeats, and the peer would take this node for dead and fence it, which is worse
//! than one record missing after a restart. The record stays in memory (so this process keeps
//! acting on it), flagged as unwritten, and `record` returns an error the daemon logs with the
//! running count. The sequence number it had is a gap in the file.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::disk::Disk;
use super::view::View;
use super::{compact, Compactable, JournalError, MAX_RETAINED_ENTRIES};

/// Records waiting for the writer thread. The busiest step (a failover) journals about ten, so
/// 256 is far beyond any burst: a full queue means the disk is stuck, not busy. Memory: at
/// most 256 records, a few hundred bytes each (64 KiB at the very most).
pub const WRITE_QUEUE_CAPACITY: usize = 256;

/// How often [`JournalHandle::close`] looks whether the writer has finished.
const CLOSE_POLL_MS: u64 = 10;

/// One framed record on its way to the file.
struct Queued {
    seq: u64,
    record: Vec<u8>,
}

/// Shared by the handle and the writer thread.
#[derive(Debug, Default)]
struct Unwritten {
    /// Sequence numbers of records in memory that never reached the file; only the newest
    /// [`MAX_RETAINED_ENTRIES`], as older entries are out of memory anyway.
    seqs: Mutex<BTreeSet<u64>>,
    /// Records that never reached the file since the daemon started.
    total: AtomicU64,
    /// Test hook: while set, the writer waits before its next write, as on a stuck disk.
    stalled: Mutex<bool>,
    /// Wakes the writer when `stalled` is cleared.
    unstalled: Condvar,
}

impl Unwritten {
    /// Flags `seq`; returns the running total.
    fn note(&self, seq: u64) -> u64 {
        let mut seqs = self.seqs.lock().unwrap_or_else(PoisonError::into_inner);
        seqs.insert(seq);
        if seqs.len() > MAX_RETAINED_ENTRIES {
            seqs.pop_first();
        }
        self.total.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn wait_while_stalled(&self) {
        let stalled = self.stalled.lock().unwrap_or_else(PoisonError::into_inner);
        let waited = self.unstalled.wait_while(stalled, |stalled| *stalled);
        drop(waited.unwrap_or_else(PoisonError::into_inner));
    }

    fn set_stalled(&self, stalled: bool) {
        *self.stalled.lock().unwrap_or_else(PoisonError::into_inner) = stalled;
        self.unstalled.notify_all();
    }
}

/// Test hook: the writer is stalled while this lives; see [`JournalHandle::hold_writes`].
#[doc(hidden)]
#[derive(Debug)]
pub struct WriteStall {
    shared: Arc<Unwritten>,
}

impl Drop for WriteStall {
    fn drop(&mut self) {
        self.shared.set_stalled(false);
    }
}

/// The journal as the daemon holds it: the view in memory, and a queue to the writer thread.
#[derive(Debug)]
pub struct JournalHandle<T> {
    path: PathBuf,
    view: View<T>,
    queue: SyncSender<Queued>,
    unwritten: Arc<Unwritten>,
    writer: JoinHandle<()>,
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record {} ({} bytes)", self.seq, self.record.len())
    }
}

/// Starts the writer thread on the opened file.
pub(super) fn spawn<T>(disk: Disk, view: View<T>) -> Result<JournalHandle<T>, JournalError>
where
    T: DeserializeOwned + Compactable + Send + 'static,
{
    let (queue, received) = mpsc::sync_channel(WRITE_QUEUE_CAPACITY);
    let unwritten = Arc::new(Unwritten::default());
    let path = disk.path.clone();
    let shared = unwritten.clone();
    let writer = std::thread::Builder::new()
        .name("journal-writer".into())
        .spawn(move || write_queued::<T>(disk, &received, &shared))
        .map_err(|error| JournalError::StartWriter {
            path: path.clone(),
            error,
        })?;
    Ok(JournalHandle {
        path,
        view,
        queue,
        unwritten,
        writer,
    })
}

impl<T: Serialize + Compactable + Clone> JournalHandle<T> {
    /// Records `event` in memory and queues it for the file; never waits. An error means the
    /// record will not reach the file (see the module documentation); it is in memory all the
    /// same, flagged.
    pub fn record(&mut self, event: T) -> Result<(), JournalError> {
        let entry = self.view.stamp(event);
        let seq = entry.seq;
        let encoded = super::encode_record(&entry);
        self.view.push(entry);
        let sent = match encoded {
            Ok(record) => self.queue.try_send(Queued { seq, record }),
            Err(error) => {
                self.unwritten.note(seq);
                return Err(error);
            }
        };
        let Err(refused) = sent else {
            return Ok(());
        };
        let unwritten_total = self.unwritten.note(seq);
        let path = self.path.clone();
        Err(match refused {
            TrySendError::Full(_) => JournalError::QueueFull {
                path,
                unwritten_total,
            },
            TrySendError::Disconnected(_) => JournalError::WriterGone {
                path,
                unwritten_total,
            },
        })
    }
}

impl<T> JournalHandle<T> {
    /// What is in memory, including records still queued for the file.
    pub fn view(&self) -> &View<T> {
        &self.view
    }

    /// Whether the record `seq` is known never to have reached the file.
    pub fn is_unwritten(&self, seq: u64) -> bool {
        let seqs = self.unwritten.seqs.lock();
        seqs.unwrap_or_else(PoisonError::into_inner).contains(&seq)
    }

    /// Records that never reached the file since the journal was opened.
    pub fn unwritten_total(&self) -> u64 {
        self.unwritten.total.load(Ordering::Relaxed)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the queue and waits at most `timeout` for the writer to write what is queued;
    /// says whether it finished.
    pub fn close(self, timeout: Duration) -> bool {
        let JournalHandle { queue, writer, .. } = self;
        drop(queue);
        let deadline = Instant::now() + timeout;
        while !writer.is_finished() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(CLOSE_POLL_MS));
        }
        writer.join().is_ok()
    }

    /// Test hook: while the returned value lives, the writer waits before its next write, as
    /// on a stuck disk.
    #[doc(hidden)]
    pub fn hold_writes(&self) -> WriteStall {
        self.unwritten.set_stalled(true);
        WriteStall {
            shared: self.unwritten.clone(),
        }
    }
}

/// The writer thread: appends what is queued, in order, until the handle is dropped or closed.
fn write_queued<T: DeserializeOwned + Compactable>(
    mut disk: Disk,
    queue: &Receiver<Queued>,
    unwritten: &Unwritten,
) {
    for Queued { seq, record } in queue {
        unwritten.wait_while_stalled();
        if let Err(error) = disk.append(&record) {
            let unwritten_total = unwritten.note(seq);
            tracing::error!(
                seq,
                unwritten_total,
                %error,
                "JOURNAL RECORD NOT WRITTEN: it is kept in memory only and a restart will forget it"
            );
            continue;
        }
        match compact::compact_if_due::<T>(&mut disk) {
            Some(Ok(done)) => tracing::info!(
                records_before = done.records_before,
                records_after = done.records_after,
                "journal compacted"
            ),
            Some(Err(error)) => tracing::warn!(%error, "journal compaction failed"),
            None => {}
        }
    }
}
