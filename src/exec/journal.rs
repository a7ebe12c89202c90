//! The append-only, checksummed journal of what tandem did: promotions, failovers,
//! switchovers, fences. `tandem history` shows it, and the core reads the time of the last
//! automatic failover from it at startup so that a restart does not reset the anti-flapping
//! guard.
//!
//! # On-disk format
//! A sequence of records, each:
//! ```text
//! u32 LE  payload length (at most MAX_RECORD_BYTES)
//! u32 LE  crc32 of the payload (crc32fast, IEEE)
//! payload serde_json of Entry<T> { seq, unix_ms, event }
//! ```
//! There is no file header: an empty file is an empty journal.
//!
//! # Durability
//! [`Journal::append`] writes one record with `O_APPEND` and calls `fdatasync` before it
//! returns. A promotion that the core journaled must survive power loss: otherwise a node that
//! reboots right after an automatic failover would forget it and the anti-flapping guard would
//! let it fail over again at once. When a write or the sync fails, the file is cut back to the
//! last record that was complete, and the event counts as not recorded.
//!
//! # Damage policy (on open)
//! Records are read from the start. At the first record that is short, has a length above
//! [`MAX_RECORD_BYTES`], fails its CRC or is not an entry, reading stops and the file is
//! truncated to the end of the last intact record, then fsynced. Open fails only on I/O errors
//! or a lock held by another process, never because of what the file holds, and it never drops
//! a record before the damaged one; [`OpenReport::warning`] says what happened.
//! - A short record at the end is a torn write (power loss during an append): nothing that was
//!   acknowledged is lost, and the warning says so.
//! - Any other damage, or damage followed by records that still look intact (damage in the
//!   middle), drops records that were once acknowledged. The whole original file is first
//!   copied beside the journal (`journal.damaged-<unix_ms>`; if that fails, the warning says
//!   so and the repair goes on) and the warning is loud: it names the copy and how many
//!   intact-looking records were dropped. Records after the damage are
//!   not kept in place: their framing can no longer be trusted, and appends must follow a
//!   known-good end.
//! - A record whose checksum and framing are intact but whose event this build does not know
//!   (a newer tandem wrote it) is kept in the file, skipped in memory, and counted in the
//!   warning: a downgrade must not destroy history.
//!
//! # Compaction
//! The file would otherwise only grow. Once it holds more than [`MAX_FILE_RECORDS`] records,
//! it is rewritten (temporary file, fsync, rename, fsync of the directory) with the newest
//! [`MAX_RETAINED_ENTRIES`] records plus the newest record of each state key
//! ([`Compactable::state_key`]: an unresolved split-brain, a stale node, the last automatic
//! failover, pause), however old; `compact` says what a crash at each step leaves. Memory
//! keeps the same: the newest entries and, apart from them, the newest record of each state
//! key, so that the startup read-back finds a state record older than the window.
//!
//! # Locking
//! The journal takes an exclusive `flock` so that two daemons never append to one file; how
//! the lock stays right across the rename of compaction is in `disk`. [`read_only`] reads
//! without the lock and without repairing, for `tandem history` on a node whose daemon holds
//! the journal or is stopped: it sees the old file or the new one, both complete.
//!
//! # Off the event loop
//! The daemon does not call [`Journal::append`]: [`Journal::spawn_writer`] hands the file to
//! a thread of its own ([`JournalHandle`]), so that a slow `fdatasync` never holds up
//! heartbeats and decisions. There a record is in memory before it is durable, and one that
//! cannot be written stays in memory, flagged and logged, rather than "not recorded".

mod compact;
mod disk;
mod error;
mod repair;
mod scan;
mod view;
mod writer;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use compact::{Compaction, CrashPoint, COMPACTION_TEMP_SUFFIX};
pub use error::JournalError;
pub use view::View;
pub use writer::{JournalHandle, WriteStall, WRITE_QUEUE_CAPACITY};

use disk::Disk;
use scan::Scan;

/// Where the daemon keeps its state.
pub const DEFAULT_JOURNAL_DIR: &str = "/var/lib/tandem";

/// The journal's file name inside [`DEFAULT_JOURNAL_DIR`].
pub const JOURNAL_FILE_NAME: &str = "journal";

/// The largest payload a record may have. Events are a few hundred bytes; 64 KiB leaves room
/// for a long operator reason, and a length field above it is damage: it is never allocated.
pub const MAX_RECORD_BYTES: u32 = 64 * 1024;

/// How many of the newest entries stay in memory for `tandem history`, and in the file after
/// a compaction. The journal holds milestones (promotions, failovers, switchovers), a handful
/// a day at worst; 4096 is years of history while bounding memory to ~1 MiB. State records
/// older than this are kept apart (see [`Compactable`]).
pub const MAX_RETAINED_ENTRIES: usize = 4096;

/// Records of known kinds the file may hold before it is compacted down to about
/// [`MAX_RETAINED_ENTRIES`]. Twice the window: a rewrite (a few MiB read, one fsync) happens
/// once per 4096 appends, not at every append, and the file stays below ~2 MiB of typical
/// records.
pub const MAX_FILE_RECORDS: usize = 2 * MAX_RETAINED_ENTRIES;

/// Length + CRC, both u32 LE.
const HEADER_BYTES: usize = 8;

/// The journal at the default place.
pub fn default_path() -> PathBuf {
    Path::new(DEFAULT_JOURNAL_DIR).join(JOURNAL_FILE_NAME)
}

/// One journaled event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<T> {
    // `seq` must stay the first field: the scan for intact records after damage looks for
    // payloads that start with `{"seq":`.
    /// 1 for the first record, then one more per record: shows gaps and orders equal times.
    pub seq: u64,
    /// Wall-clock time of the append, for the operator and for anti-flapping across restarts.
    pub unix_ms: u64,
    pub event: T,
}

/// What [`Journal::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Intact records in the file after open (including any of an unknown kind).
    pub records: usize,
    /// Bytes cut from the end of the file because they were damaged.
    pub truncated_bytes: u64,
    /// Intact records whose event this build cannot decode; kept in the file, not in memory.
    pub unknown_records: usize,
    /// A copy of the file as found, made before records that were once complete were dropped.
    pub damaged_copy: Option<PathBuf>,
    /// Records dropped by a compaction at open (the file was above [`MAX_FILE_RECORDS`]).
    pub compacted_records: usize,
    /// What to tell the operator, when anything was not as expected.
    pub warning: Option<String>,
}

/// What compaction needs to know of an event: which state it defines, if any.
pub trait Compactable {
    /// A name for the state this record defines (the newest record per name is never
    /// compacted away and is found by [`Journal::state`]); `None` for history only.
    fn state_key(&self) -> Option<String>;
}

/// An open journal: the file (locked) and what is in memory.
#[derive(Debug)]
pub struct Journal<T> {
    disk: Disk,
    view: View<T>,
}

impl<T: Serialize + DeserializeOwned + Compactable + Clone> Journal<T> {
    /// Opens (creating it and its directory, mode 0700, if missing), locks, removes what an
    /// interrupted compaction left, reads every record, cuts off damage as the module
    /// documentation describes, and compacts when the file is above [`MAX_FILE_RECORDS`].
    pub fn open(path: impl AsRef<Path>) -> Result<(Journal<T>, OpenReport), JournalError> {
        let path = path.as_ref().to_path_buf();
        let file = disk::open_locked(&path)?;
        let mut warnings: Vec<String> = compact::remove_stray_temp(&path).into_iter().collect();
        let scanned: Scan<T> = scan::scan(&mut std::io::BufReader::new(&*file))
            .map_err(|error| read_error(&path, error))?;
        let file_length = file
            .metadata()
            .map_err(|error| read_error(&path, error))?
            .len();
        let mut report = OpenReport {
            records: scanned.records,
            truncated_bytes: file_length.saturating_sub(scanned.good_end),
            unknown_records: scanned.unknown,
            damaged_copy: None,
            compacted_records: 0,
            warning: None,
        };
        if let Some(damage) = &scanned.damage {
            warnings.push(repair::repair(&path, &file, &scanned, damage, &mut report)?);
        }
        if scanned.unknown > 0 {
            warnings.push(format!(
                "journal {}: {} records are of a kind this tandem does not know (written by a \
                 newer version?); they are kept in the file but not shown",
                path.display(),
                scanned.unknown
            ));
        }
        let mut disk = Disk::new(path, file, scanned.good_end);
        disk.known_records = scanned.records - scanned.unknown;
        disk.unknown_records = scanned.unknown;
        match compact::compact_if_due::<T>(&mut disk) {
            Some(Ok(done)) => report.compacted_records = done.records_before - done.records_after,
            Some(Err(error)) => warnings.push(error.to_string()),
            None => {}
        }
        report.records = disk.records();
        report.warning = (!warnings.is_empty()).then(|| warnings.join("; "));
        let view = scanned.view;
        Ok((Journal { disk, view }, report))
    }

    /// Appends one event and makes it durable (`fdatasync`) before returning it as recorded;
    /// compacts the file when it grows above [`MAX_FILE_RECORDS`]. A failed compaction is
    /// logged and leaves the file as it was: the event is recorded all the same.
    pub fn append(&mut self, event: T) -> Result<Entry<T>, JournalError> {
        let entry = self.view.stamp(event);
        self.disk.append(&encode_record(&entry)?)?;
        self.view.push(entry.clone());
        if let Some(Err(error)) = compact::compact_if_due::<T>(&mut self.disk) {
            tracing::warn!(%error, "journal compaction failed");
        }
        Ok(entry)
    }

    /// Compacts now, whatever the file's size.
    pub fn compact(&mut self) -> Result<Compaction, JournalError> {
        compact::compact::<T>(&mut self.disk, None)
    }

    /// Test hook: compacts up to `point` and stops there, then lets go of the journal as a
    /// killed process would.
    #[doc(hidden)]
    pub fn compact_crashing_at(mut self, point: CrashPoint) -> Result<(), JournalError> {
        compact::compact::<T>(&mut self.disk, Some(point)).map(drop)
    }

    /// Hands the file to a writer thread for the daemon; see [`JournalHandle`].
    pub fn spawn_writer(self) -> Result<JournalHandle<T>, JournalError>
    where
        T: Send + 'static,
    {
        writer::spawn(self.disk, self.view)
    }
}

impl<T> Journal<T> {
    /// What is in memory: the newest entries and the newest record of each state key.
    pub fn view(&self) -> &View<T> {
        &self.view
    }

    /// The retained entries (see [`MAX_RETAINED_ENTRIES`]), oldest first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &Entry<T>> + '_ {
        self.view.entries()
    }

    /// The newest `n` retained entries, oldest first.
    pub fn last_n(&self, n: usize) -> impl DoubleEndedIterator<Item = &Entry<T>> + '_ {
        self.view.last_n(n)
    }

    /// See [`View::last_matching`]: also finds state records older than the retained entries.
    pub fn last_matching(&self, predicate: impl FnMut(&T) -> bool) -> Option<&Entry<T>> {
        self.view.last_matching(predicate)
    }

    /// The newest record of a state key, however old.
    pub fn state(&self, key: &str) -> Option<&Entry<T>> {
        self.view.state(key)
    }

    pub fn path(&self) -> &Path {
        &self.disk.path
    }

    /// The file's length as far as intact records go.
    pub fn length_bytes(&self) -> u64 {
        self.disk.length_bytes
    }

    /// Intact records in the file, including any of an unknown kind.
    pub fn records(&self) -> usize {
        self.disk.records()
    }
}

/// Reads the journal without locking or changing it. Damage is described in the returned
/// warning and left for the daemon to repair; entries up to it are returned (the newest
/// [`MAX_RETAINED_ENTRIES`], oldest first).
pub fn read_only<T: DeserializeOwned + Compactable + Clone>(
    path: impl AsRef<Path>,
) -> Result<(Vec<Entry<T>>, Option<String>), JournalError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|error| JournalError::Open {
        path: path.to_path_buf(),
        error,
    })?;
    let scanned: Scan<T> =
        scan::scan(&mut std::io::BufReader::new(&file)).map_err(|error| read_error(path, error))?;
    let warning = scanned.damage.map(|damage| {
        format!(
            "journal {}: the record at offset {} is damaged ({damage}); showing the {} records \
             before it; tandemd repairs the file when it opens it",
            path.display(),
            scanned.good_end,
            scanned.records
        )
    });
    Ok((scanned.view.entries().cloned().collect(), warning))
}

fn read_error(path: &Path, error: std::io::Error) -> JournalError {
    JournalError::Read {
        path: path.to_path_buf(),
        error,
    }
}

fn encode_record<T: Serialize>(entry: &Entry<T>) -> Result<Vec<u8>, JournalError> {
    disk::frame(&serde_json::to_vec(entry).map_err(JournalError::Encode)?)
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}
