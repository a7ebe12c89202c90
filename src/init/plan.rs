//! The decisions of `tandem init`, pure: each step looks at facts probed from the host and
//! says what to do, or why nothing is to be done. The executor (steps.rs, primary.rs) probes,
//! asks here, acts and reports; the tests below cover every branch without a host.

use crate::drbd::{ConnectionState, DiskState, Role};
use crate::exec::wipefs::Signature;
use std::path::{Path, PathBuf};

/// What a step will do; the executor carries it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    GenerateKey,
    CopyKey(PathBuf),
    ChmodKey,
    WriteResourceFile,
    CreateMetadata,
    /// `wipefs --all` on the backing disk, then create-md: the operator named the disk.
    EraseThenCreateMetadata,
    Up,
    Adjust,
    DisableService,
    /// `drbdadm -- --clear-bitmap new-current-uuid`: two blank disks declared in sync.
    ClearBitmap,
    /// `drbdadm primary --force`: this disk becomes the source of the full initial sync.
    ForcePrimary,
    Mkfs,
    InstallDb,
    MoveDatadir(PathBuf),
}

/// A step's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Do(Action),
    AlreadyDone(String),
    Skip(String),
    /// Not done, and `init` stops: the operator must decide (the sentence says how).
    Refuse(String),
}

/// The peer key file as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    /// (mode bits, size) of the existing key.
    pub existing: Option<(u32, u64)>,
    /// `--key-from FILE`, and whether FILE's bytes equal the existing key's.
    pub key_from: Option<PathBuf>,
    pub same_as_key_from: bool,
}

/// Below this a key is guessable; the same bound as `tandem check`.
pub const MIN_KEY_BYTES: u64 = 32;

pub fn peer_key(facts: &KeyFacts) -> Verdict {
    match (&facts.existing, &facts.key_from) {
        (None, Some(from)) => Verdict::Do(Action::CopyKey(from.clone())),
        (None, None) => Verdict::Do(Action::GenerateKey),
        (Some(_), Some(from)) if !facts.same_as_key_from => Verdict::Refuse(format!(
            "a different key is already installed; if {} is the cluster's key, remove the \
             installed one and run again",
            from.display()
        )),
        (Some((_, size)), _) if *size < MIN_KEY_BYTES => Verdict::Refuse(format!(
            "the installed key holds {size} bytes, fewer than {MIN_KEY_BYTES}; remove it and \
             run again (a new one is generated), then copy it to the peer"
        )),
        (Some((mode, _)), _) if mode & 0o077 != 0 => Verdict::Do(Action::ChmodKey),
        (Some(_), _) => Verdict::AlreadyDone("the key is installed, mode 0600".into()),
    }
}

pub fn resource_file(rendered: &str, installed: Option<&str>) -> Verdict {
    match installed {
        Some(text) if text == rendered => {
            Verdict::AlreadyDone("the installed file equals `tandem drbd render`".into())
        }
        _ => Verdict::Do(Action::WriteResourceFile),
    }
}

/// The backing disk as found, while the resource is down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskFacts {
    pub disk: PathBuf,
    /// The resource is up (attached): its metadata exists.
    pub up: bool,
    pub metadata: bool,
    /// Signatures other than DRBD's own.
    pub signatures: Vec<Signature>,
}

pub fn metadata(facts: &DiskFacts, force_data: Option<&Path>) -> Verdict {
    let disk = facts.disk.display();
    if facts.up {
        return Verdict::AlreadyDone("the resource is up, so its metadata exists".into());
    }
    if facts.metadata {
        return Verdict::AlreadyDone(format!("{disk} holds DRBD metadata (drbdadm dump-md)"));
    }
    if facts.signatures.is_empty() {
        return Verdict::Do(Action::CreateMetadata);
    }
    let found: Vec<String> = facts.signatures.iter().map(|s| s.to_string()).collect();
    let found = found.join(", ");
    match force_data {
        Some(named) if named == facts.disk => Verdict::Do(Action::EraseThenCreateMetadata),
        Some(named) => Verdict::Refuse(format!(
            "--force-data names {}, but this node's backing disk is {disk}; nothing was touched",
            named.display()
        )),
        None => Verdict::Refuse(format!(
            "{disk} holds data: {found}. DRBD would write its metadata over the end of it and \
             the initial sync would overwrite the rest. If that data may be destroyed, run \
             again with --force-data {disk}"
        )),
    }
}

pub fn up(is_up: bool, file_changed: bool) -> Verdict {
    match (is_up, file_changed) {
        (false, _) => Verdict::Do(Action::Up),
        (true, true) => Verdict::Do(Action::Adjust),
        (true, false) => Verdict::AlreadyDone("the resource is up".into()),
    }
}

/// The distribution's MariaDB unit as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFacts {
    pub unit: String,
    pub systemd: bool,
    pub enabled: bool,
    pub active: bool,
    pub missing: bool,
}

pub fn distribution_service(facts: &ServiceFacts) -> Verdict {
    let unit = &facts.unit;
    if !facts.systemd {
        return Verdict::Skip(format!(
            "systemd does not run this host; make sure nothing else starts mysqld here \
             (e.g. `update-rc.d {unit} disable` with sysvinit)"
        ));
    }
    if facts.missing {
        return Verdict::AlreadyDone(format!("no {unit} unit is installed"));
    }
    if facts.enabled || facts.active {
        return Verdict::Do(Action::DisableService);
    }
    Verdict::AlreadyDone(format!("{unit} is disabled and stopped"))
}

/// DRBD's state once the resource is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrbdFacts {
    pub role: Role,
    pub disk: DiskState,
    pub peer_disk: DiskState,
    pub connection: ConnectionState,
}

pub fn initial_sync(facts: &DrbdFacts, skip_sync: bool) -> Verdict {
    let connected = facts.connection == ConnectionState::Connected;
    match (&facts.disk, &facts.peer_disk) {
        (DiskState::UpToDate, _) => Verdict::AlreadyDone(format!(
            "this node's disk is UpToDate (peer's: {})",
            facts.peer_disk
        )),
        (DiskState::Inconsistent, DiskState::UpToDate) => Verdict::Refuse(
            "the peer's disk is UpToDate: the peer holds the data, so it is the initial \
             primary and this node syncs from it; run tandem init here without \
             --initial-primary"
                .into(),
        ),
        (DiskState::Inconsistent, DiskState::Inconsistent) if skip_sync && connected => {
            Verdict::Do(Action::ClearBitmap)
        }
        (DiskState::Inconsistent, _) if skip_sync => Verdict::Refuse(format!(
            "skipping the initial sync needs both blank disks connected (connection {}, peer \
             disk {}); run tandem init on the peer first, or drop --skip-initial-sync for a \
             full sync",
            facts.connection, facts.peer_disk
        )),
        (DiskState::Inconsistent, _) => Verdict::Do(Action::ForcePrimary),
        (other, _) => Verdict::Refuse(format!(
            "this node's disk is {other}, neither new (Inconsistent) nor UpToDate; see \
             `tandem drbd state` and docs/operations.md before forcing anything"
        )),
    }
}

pub fn filesystem(found: Option<&str>, fstype: &str) -> Verdict {
    match found {
        None => Verdict::Do(Action::Mkfs),
        Some(found) if found == fstype => {
            Verdict::AlreadyDone(format!("the DRBD device holds an {found} filesystem"))
        }
        Some(found) => Verdict::Refuse(format!(
            "the DRBD device holds {found}, but [filesystem] fstype is {fstype}; fix the \
             config, or erase it by hand (wipefs) if that data may go"
        )),
    }
}

/// The datadir on the mounted DRBD filesystem, and `--move-datadir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatadirFacts {
    /// The datadir holds a `mysql` system schema.
    pub initialized: bool,
    /// Entries in the datadir (or the mountpoint, when the datadir is the mountpoint) other
    /// than `lost+found`.
    pub other_entries: usize,
    pub move_from: Option<PathBuf>,
    /// `--move-datadir` holds a `mysql` system schema.
    pub source_initialized: bool,
    /// A mysqld/mariadbd process runs on this host.
    pub server_running: bool,
}

pub fn datadir(facts: &DatadirFacts) -> Verdict {
    if facts.initialized {
        return Verdict::AlreadyDone("the datadir holds the mysql system schema".into());
    }
    if facts.other_entries > 0 {
        return Verdict::Refuse(format!(
            "the datadir holds {} entries but no mysql system schema; clear it or fix \
             [mysqld] datadir",
            facts.other_entries
        ));
    }
    match &facts.move_from {
        None => Verdict::Do(Action::InstallDb),
        Some(from) if !facts.source_initialized => Verdict::Refuse(format!(
            "{} holds no mysql system schema, so it is not a datadir to move",
            from.display()
        )),
        Some(_) if facts.server_running => Verdict::Refuse(
            "a mysqld/mariadbd process runs here; stop it before its datadir is copied \
             (a copy of a running datadir is not consistent)"
                .into(),
        ),
        Some(from) => Verdict::Do(Action::MoveDatadir(from.clone())),
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
