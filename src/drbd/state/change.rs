//! [`Change`]: one old → new difference of a [`ResourceState`](super::ResourceState), with a
//! Display sentence fragment such as `disk UpToDate → Outdated` for logs and status.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::drbd::events2::ObjectKind;
use crate::drbd::words::{ConnectionState, DiskState, ReplicationState, Role};

/// One old → new change of a [`ResourceState`](super::ResourceState).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Change {
    Role {
        old: Role,
        new: Role,
    },
    PeerRole {
        old: Role,
        new: Role,
    },
    Disk {
        old: DiskState,
        new: DiskState,
    },
    PeerDisk {
        old: DiskState,
        new: DiskState,
    },
    Connection {
        old: ConnectionState,
        new: ConnectionState,
    },
    Replication {
        old: ReplicationState,
        new: ReplicationState,
    },
    /// KiB out of sync; `None` where DRBD did not report it.
    OutOfSync {
        old: Option<u64>,
        new: Option<u64>,
    },
    /// Resync/verify percent done; `None` outside a resync.
    SyncProgress {
        old: Option<f64>,
        new: Option<f64>,
    },
    /// I/O suspended (any reason).
    Suspended {
        old: bool,
        new: bool,
    },
    /// DRBD started a usermode helper.
    HelperCalled {
        name: String,
    },
    /// A usermode helper returned.
    HelperReturned {
        name: String,
        status: Option<i32>,
    },
    /// DRBD created an object of the resource (`create …`).
    ObjectCreated {
        kind: ObjectKind,
    },
    /// DRBD destroyed an object of the resource (`destroy …`).
    ObjectDestroyed {
        kind: ObjectKind,
    },
    /// The initial state dump is complete (`exists -`).
    InitialStateDone,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Role { old, new } => write!(f, "role {old} → {new}"),
            Self::PeerRole { old, new } => write!(f, "peer role {old} → {new}"),
            Self::Disk { old, new } => write!(f, "disk {old} → {new}"),
            Self::PeerDisk { old, new } => write!(f, "peer disk {old} → {new}"),
            Self::Connection { old, new } => write!(f, "connection {old} → {new}"),
            Self::Replication { old, new } => write!(f, "replication {old} → {new}"),
            Self::OutOfSync { old, new } => {
                write!(f, "out-of-sync {} → {}", Kib(*old), Kib(*new))
            }
            Self::SyncProgress { old, new } => {
                write!(f, "sync progress {} → {}", Percent(*old), Percent(*new))
            }
            Self::Suspended { old, new } => {
                write!(f, "suspended {} → {}", yes_no(*old), yes_no(*new))
            }
            Self::HelperCalled { name } => write!(f, "helper {name} called"),
            Self::HelperReturned {
                name,
                status: Some(status),
            } => {
                write!(f, "helper {name} returned {status}")
            }
            Self::HelperReturned { name, status: None } => {
                write!(f, "helper {name} returned without status")
            }
            Self::ObjectCreated { kind } => write!(f, "{kind} created"),
            Self::ObjectDestroyed { kind } => write!(f, "{kind} destroyed"),
            Self::InitialStateDone => f.write_str("initial state dump done"),
        }
    }
}

struct Kib(Option<u64>);

impl fmt::Display for Kib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(kib) => write!(f, "{kib} KiB"),
            None => f.write_str("unknown"),
        }
    }
}

struct Percent(Option<f64>);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(percent) => write!(f, "{percent}%"),
            None => f.write_str("unknown"),
        }
    }
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}
