//! The operator's control socket: request and response types shared by `tandemd` and the
//! `tandem` CLI, the server (a Unix socket, mode 0600, root only via SO_PEERCRED, a bounded
//! number of connections) and the client. One JSON request line, one JSON response line.

pub mod client;
pub mod server;

use crate::core::{JournalEvent, Reply, Request, Status};
use serde::{Deserialize, Serialize};

/// A request line longer than this is not from `tandem`.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ControlRequest {
    Status,
    History {
        limit: usize,
    },
    Core(Request),
    /// A DRBD handler, relayed by `tandem helper NAME` (kernel-helpers/ shim).
    Helper {
        name: String,
    },
}

/// One journal record for `tandem history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryLine {
    pub unix_ms: u64,
    pub event: JournalEvent,
    /// The record never reached the journal file (its write failed, or the disk was stuck):
    /// the daemon acts on it, but a restart will forget it.
    #[serde(default)]
    pub unwritten: bool,
}

/// Both nodes as this daemon knows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub cluster: String,
    pub local: Status,
    /// The peer's last heartbeat, if one arrived within the peer timeout.
    pub peer: Option<crate::core::PeerView>,
    /// Resync progress in percent, while DRBD resyncs.
    pub sync_percent: Option<f64>,
    /// What the last `SIGHUP` did, if there was one.
    #[serde(default)]
    pub last_reload: Option<ReloadReport>,
    /// How many `[[replica]]` entries the config has.
    #[serde(default)]
    pub replicas_configured: usize,
    /// The replica monitor's last check; empty on a standby node (the active one checks).
    #[serde(default)]
    pub replicas: Vec<crate::replica::ReplicaStatus>,
    /// The longest silence of the peer on the peer link since tandemd started.
    #[serde(default)]
    pub heartbeat_gaps: crate::metrics::HeartbeatGaps,
}

/// The outcome of a config reload (`SIGHUP`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReloadReport {
    pub unix_ms: u64,
    /// Keys taken over, e.g. `[timings] peer_timeout_ms`.
    pub applied: Vec<String>,
    /// One sentence per changed key that needs a restart.
    pub refused: Vec<String>,
    /// The file's problems (`file:line:column: sentence`) when it was invalid: then nothing
    /// was applied and tandemd runs on as before.
    pub invalid: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ControlResponse {
    Status(Box<ClusterStatus>),
    History(Vec<HistoryLine>),
    Reply(Reply),
    /// The exit code the DRBD handler should return.
    Helper {
        code: u8,
    },
    Error(String),
}
