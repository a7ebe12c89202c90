//! The state of one DRBD resource, updated from events2 events, and the typed changes.
//!
//! [`ResourceState::apply`] folds one [`Event`] into the state and returns what changed, old →
//! new, so the core reacts to transitions ("disk UpToDate → Outdated") rather than re-deriving
//! them. The model tracks one resource (by name), one volume (0 by default) and one peer, which
//! is tandem's two-node layout; events for other resources and volumes are ignored.
//!
//! What the model assumes where DRBD is silent:
//! - Before `exists -` arrives the state is not authoritative: a fresh state reads role
//!   `Unknown`, disks `DUnknown`, connection `StandAlone`, replication `Off`, and the initial
//!   dump reports the differences from that as ordinary changes.
//! - `destroy peer-device` or `destroy connection` means the peer's objects are gone: the peer
//!   disk becomes `DUnknown`, replication `Off` and sync progress unknown; `destroy connection`
//!   also makes the peer role `Unknown`. The connection state stays what DRBD last said (DRBD
//!   reports `StandAlone` before it destroys a connection); nothing is invented.
//! - `destroy device` makes the disk `Diskless`; `destroy resource` makes the role `Unknown`,
//!   I/O not suspended and `configured` false.
//! - A sync percentage is only kept while replication is a resync/verify state.

use serde::{Deserialize, Serialize};

use super::events2::{Event, ObjectKind, Verb};
use super::procfs::MinorStatus;
use super::words::{ConnectionState, DiskState, ReplicationState, Role};

mod change;
mod stats;
pub use change::Change;
pub use stats::Statistics;

/// What tandem knows about one DRBD resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    /// Resource name (`r0`): events for other resources are ignored.
    pub name: String,
    /// The volume tracked: device and peer-device events for other volumes are ignored.
    pub volume: u32,
    /// The resource exists in the kernel (seen, and not destroyed since).
    pub configured: bool,
    /// Local role: only a Primary may mount and serve.
    pub role: Role,
    /// Peer role: never promote while the peer may be Primary.
    pub peer_role: Role,
    /// Local disk: only an UpToDate disk may be promoted.
    pub disk: DiskState,
    /// Peer disk: tells whether the peer could take over, or was outdated by fencing.
    pub peer_disk: DiskState,
    /// Connection to the peer: StandAlone after a split-brain or a manual disconnect.
    pub connection: ConnectionState,
    /// Replication with the peer: Established when in sync, SyncSource/SyncTarget in a resync.
    pub replication: ReplicationState,
    /// KiB out of sync with the peer, when DRBD reported it (events2 `--statistics`, /proc/drbd).
    pub out_of_sync_kib: Option<u64>,
    /// Resync progress in percent, while a resync or verify runs. DRBD 9's events2 says it
    /// (`done:`); DRBD 8.4's does not, so it is derived from the out-of-sync amount against
    /// the largest amount seen since the resync began.
    pub sync_done_percent: Option<f64>,
    /// KiB out of sync when the running resync began (the largest amount seen since): the
    /// base of the derived progress. `None` outside a resync.
    #[serde(default)]
    pub sync_total_kib: Option<u64>,
    /// I/O is suspended (e.g. by fencing): writes hang until it is resumed.
    pub suspended: bool,
    /// The initial state dump (`exists -`) has been seen: before it the state is partial.
    pub initial_dump_done: bool,
    /// The last usermode helper DRBD called, e.g. `split-brain`, and its status once returned.
    pub last_helper: Option<HelperRun>,
    /// I/O and network counters from `--statistics` (for the metrics endpoint); boxed, as
    /// they are large and rarely read.
    #[serde(default)]
    pub statistics: Box<Statistics>,
}

/// One usermode helper invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperRun {
    /// The helper's name, e.g. `fence-peer`, `split-brain`.
    pub name: String,
    /// The exit status; `None` while it runs (or if DRBD gave none).
    pub status: Option<i32>,
}

/// Sets `slot` to `new` and records the change if the value differs.
fn set<T: PartialEq + Clone>(
    slot: &mut T,
    new: T,
    changes: &mut Vec<Change>,
    change: impl FnOnce(T, T) -> Change,
) {
    if *slot != new {
        let old = std::mem::replace(slot, new.clone());
        changes.push(change(old, new));
    }
}

impl ResourceState {
    /// A state for resource `name`, volume 0, before anything is known.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            volume: 0,
            configured: false,
            role: Role::Unknown,
            peer_role: Role::Unknown,
            disk: DiskState::DUnknown,
            peer_disk: DiskState::DUnknown,
            connection: ConnectionState::StandAlone,
            replication: ReplicationState::Off,
            out_of_sync_kib: None,
            sync_done_percent: None,
            sync_total_kib: None,
            suspended: false,
            initial_dump_done: false,
            last_helper: None,
            statistics: Box::default(),
        }
    }

    /// The state of resource `name` from its /proc/drbd minor entry (which has no resource
    /// name). A snapshot is complete, so `initial_dump_done` is true; what an unconfigured
    /// minor does not say keeps the values of [`ResourceState::new`].
    pub fn from_procfs(name: &str, minor: &MinorStatus) -> Self {
        let mut state = Self::new(name);
        let (role, peer_role) = (minor.role.clone(), minor.peer_role.clone());
        let (disk, peer_disk) = (minor.disk.clone(), minor.peer_disk.clone());
        state.configured = minor.is_configured();
        state.role = role.unwrap_or(state.role);
        state.peer_role = peer_role.unwrap_or(state.peer_role);
        state.disk = disk.unwrap_or(state.disk);
        state.peer_disk = peer_disk.unwrap_or(state.peer_disk);
        state.connection = minor.connection.clone();
        state.replication = minor.replication.clone();
        state.out_of_sync_kib = minor.out_of_sync_kib();
        state.sync_done_percent = minor.resync.as_ref().map(|resync| resync.done_percent);
        state.sync_total_kib = minor.resync.as_ref().map(|resync| resync.total_kib);
        state.suspended = minor.suspended();
        state.initial_dump_done = true;
        state
    }

    /// Folds one event into the state and returns the changes, in field order.
    pub fn apply(&mut self, event: &Event) -> Vec<Change> {
        let mut changes = Vec::new();
        if event.is_initial_state_done() {
            self.initial_dump_done = true;
            changes.push(Change::InitialStateDone);
            return changes;
        }
        if event.name() != Some(self.name.as_str()) || self.is_other_volume(event) {
            return changes;
        }
        match (&event.verb, &event.kind) {
            (Verb::Call, ObjectKind::Helper) => self.helper_called(event, &mut changes),
            (Verb::Response, ObjectKind::Helper) => self.helper_returned(event, &mut changes),
            (Verb::Exists | Verb::Change, _) => self.update(event, &mut changes),
            (Verb::Create, kind) => {
                changes.push(Change::ObjectCreated { kind: kind.clone() });
                self.update(event, &mut changes);
            }
            (Verb::Destroy, kind) => {
                self.destroy(kind, &mut changes);
                changes.push(Change::ObjectDestroyed { kind: kind.clone() });
            }
            _ => {}
        }
        changes
    }

    /// The changes that turn `self` into `newer`, e.g. between two /proc/drbd snapshots.
    pub fn changes_to(&self, newer: &ResourceState) -> Vec<Change> {
        let mut scratch = self.clone();
        let mut changes = Vec::new();
        scratch.set_role(newer.role.clone(), &mut changes);
        scratch.set_suspended(newer.suspended, &mut changes);
        scratch.set_connection(newer.connection.clone(), &mut changes);
        scratch.set_peer_role(newer.peer_role.clone(), &mut changes);
        scratch.set_disk(newer.disk.clone(), &mut changes);
        scratch.set_replication(newer.replication.clone(), &mut changes);
        scratch.set_peer_disk(newer.peer_disk.clone(), &mut changes);
        scratch.set_out_of_sync(newer.out_of_sync_kib, &mut changes);
        scratch.set_sync_progress(newer.sync_done_percent, &mut changes);
        changes
    }

    /// Device and peer-device lines name their volume; helper lines are never filtered.
    fn is_other_volume(&self, event: &Event) -> bool {
        let volume_scoped = matches!(event.kind, ObjectKind::Device | ObjectKind::PeerDevice);
        volume_scoped
            && event
                .field("volume")
                .is_some_and(|volume| volume.parse::<u32>() != Ok(self.volume))
    }

    fn update(&mut self, event: &Event, changes: &mut Vec<Change>) {
        self.statistics.absorb(event);
        match event.kind {
            ObjectKind::Resource => {
                self.configured = true;
                if let Some(role) = event.role() {
                    self.set_role(role, changes);
                }
                if let Some(suspended) = event.suspended() {
                    self.set_suspended(suspended, changes);
                }
            }
            ObjectKind::Connection => {
                if let Some(connection) = event.connection() {
                    self.set_connection(connection, changes);
                }
                if let Some(peer_role) = event.peer_role() {
                    self.set_peer_role(peer_role, changes);
                }
            }
            ObjectKind::Device => {
                if let Some(disk) = event.disk() {
                    self.set_disk(disk, changes);
                }
            }
            ObjectKind::PeerDevice => self.update_peer_device(event, changes),
            _ => {}
        }
    }

    fn update_peer_device(&mut self, event: &Event, changes: &mut Vec<Change>) {
        if let Some(replication) = event.replication() {
            self.set_replication(replication, changes);
        }
        if let Some(peer_disk) = event.peer_disk() {
            self.set_peer_disk(peer_disk, changes);
        }
        if let Some(out_of_sync) = event.out_of_sync_kib() {
            self.set_out_of_sync(Some(out_of_sync), changes);
        }
        self.sync_total_kib = match (self.replication.is_syncing(), self.out_of_sync_kib) {
            (true, Some(now)) => Some(self.sync_total_kib.unwrap_or(0).max(now)),
            (true, None) => self.sync_total_kib,
            (false, _) => None,
        };
        let done = match event.done_percent() {
            Some(done) => Some(done),
            None if self.replication.is_syncing() => self.derived_progress(),
            None => None,
        };
        self.set_sync_progress(done, changes);
    }

    /// Progress from the out-of-sync amount (DRBD 8.4): `None` until both amounts are known.
    /// Rounded to 0.1 % so that a change is reported only when the figure moves visibly.
    fn derived_progress(&self) -> Option<f64> {
        let (total, left) = (self.sync_total_kib?, self.out_of_sync_kib?);
        if total == 0 {
            return None;
        }
        let done = 100.0 * (total.saturating_sub(left)) as f64 / total as f64;
        Some((done * 10.0).round() / 10.0)
    }

    fn destroy(&mut self, kind: &ObjectKind, changes: &mut Vec<Change>) {
        match kind {
            ObjectKind::Resource => {
                self.configured = false;
                self.set_role(Role::Unknown, changes);
                self.set_suspended(false, changes);
            }
            ObjectKind::Connection => {
                self.set_peer_role(Role::Unknown, changes);
                self.forget_peer_device(changes);
            }
            ObjectKind::PeerDevice => self.forget_peer_device(changes),
            ObjectKind::Device => self.set_disk(DiskState::Diskless, changes),
            _ => {}
        }
    }

    fn forget_peer_device(&mut self, changes: &mut Vec<Change>) {
        self.set_replication(ReplicationState::Off, changes);
        self.set_peer_disk(DiskState::DUnknown, changes);
        self.set_sync_progress(None, changes);
        self.sync_total_kib = None;
    }

    fn helper_called(&mut self, event: &Event, changes: &mut Vec<Change>) {
        let name = event.helper().unwrap_or("unknown").to_string();
        self.last_helper = Some(HelperRun {
            name: name.clone(),
            status: None,
        });
        changes.push(Change::HelperCalled { name });
    }

    fn helper_returned(&mut self, event: &Event, changes: &mut Vec<Change>) {
        let name = event.helper().unwrap_or("unknown").to_string();
        let status = event.helper_status();
        self.last_helper = Some(HelperRun {
            name: name.clone(),
            status,
        });
        changes.push(Change::HelperReturned { name, status });
    }

    fn set_role(&mut self, new: Role, changes: &mut Vec<Change>) {
        set(&mut self.role, new, changes, |old, new| Change::Role {
            old,
            new,
        });
    }

    fn set_peer_role(&mut self, new: Role, changes: &mut Vec<Change>) {
        set(&mut self.peer_role, new, changes, |old, new| {
            Change::PeerRole { old, new }
        });
    }

    fn set_disk(&mut self, new: DiskState, changes: &mut Vec<Change>) {
        set(&mut self.disk, new, changes, |old, new| Change::Disk {
            old,
            new,
        });
    }

    fn set_peer_disk(&mut self, new: DiskState, changes: &mut Vec<Change>) {
        set(&mut self.peer_disk, new, changes, |old, new| {
            Change::PeerDisk { old, new }
        });
    }

    fn set_connection(&mut self, new: ConnectionState, changes: &mut Vec<Change>) {
        set(&mut self.connection, new, changes, |old, new| {
            Change::Connection { old, new }
        });
    }

    fn set_replication(&mut self, new: ReplicationState, changes: &mut Vec<Change>) {
        set(&mut self.replication, new, changes, |old, new| {
            Change::Replication { old, new }
        });
    }

    fn set_out_of_sync(&mut self, new: Option<u64>, changes: &mut Vec<Change>) {
        set(&mut self.out_of_sync_kib, new, changes, |old, new| {
            Change::OutOfSync { old, new }
        });
    }

    fn set_sync_progress(&mut self, new: Option<f64>, changes: &mut Vec<Change>) {
        set(&mut self.sync_done_percent, new, changes, |old, new| {
            Change::SyncProgress { old, new }
        });
    }

    fn set_suspended(&mut self, new: bool, changes: &mut Vec<Change>) {
        set(&mut self.suspended, new, changes, |old, new| {
            Change::Suspended { old, new }
        });
    }
}

#[cfg(test)]
mod tests;
