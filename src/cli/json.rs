//! The CLI's JSON: the `status --json` document (a stable, versioned view of the daemon's
//! status, with objects and plain strings only, never tuples) and the error object every
//! `--json` command prints when it fails.
//!
//! Errors: with `--json`, a failing command prints one line
//! `{"error":{"kind":KIND,"message":TEXT}}` on **stdout** (where a `| jq` reads) and nothing
//! on stderr, and exits non-zero (1). `KIND` is one of [`ErrorKind`]'s kebab-case names.

use crate::control::{ClusterStatus, ReloadReport};
use crate::core::{Mode, PeerView};
use crate::drbd::{DiskState, Role};
use serde::{Deserialize, Serialize};

/// Bumped when a field is removed or changes meaning; new fields do not bump it.
pub const SCHEMA_VERSION: u32 = 1;

/// `tandem status --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusJson {
    pub schema_version: u32,
    pub cluster: String,
    pub local: LocalJson,
    /// The peer's last heartbeat, if one arrived within the peer timeout; else null.
    pub peer: Option<PeerView>,
    /// Resync progress in percent while DRBD resyncs; else null.
    pub sync_percent: Option<f64>,
    pub last_reload: Option<ReloadReport>,
    /// The active node's last check of each `[[replica]]` (added within schema_version 1);
    /// empty on a standby node and without replicas.
    #[serde(default)]
    pub replicas: Vec<crate::replica::ReplicaStatus>,
    /// The longest silence of the peer on a live peer-link session since tandemd started,
    /// against the peer timeout (added within schema_version 1).
    #[serde(default)]
    pub heartbeat_gaps: crate::metrics::HeartbeatGaps,
}

/// This node, as its daemon sees itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalJson {
    pub node: String,
    pub peer: String,
    pub role: Role,
    pub disk: DiskState,
    pub peer_disk: DiskState,
    pub connection: String,
    /// e.g. "Active", "Standby"; null from a daemon too old to say.
    pub mode: Option<Mode>,
    /// The service chain in start order.
    pub services: Vec<ServiceJson>,
    /// Whether every service is up: this node serves.
    pub active: bool,
    pub in_flight: Option<String>,
    pub peer_heard: bool,
    pub paused: bool,
    pub split_brain: Option<String>,
    pub stale: Vec<StaleJson>,
    /// The cluster pause this node holds (who, when, why); null until the first pause and
    /// from daemons before the cluster pause.
    #[serde(default)]
    pub pause: Option<PauseJson>,
    /// The current decision's sentence.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceJson {
    /// "Primary", "Mount", "Mysqld" or "Vip".
    pub name: String,
    pub up: bool,
}

/// The last `tandem pause` or `tandem resume` of the cluster, as this node holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseJson {
    pub paused: bool,
    /// Grows by one per pause or resume; the higher epoch wins when the nodes meet again.
    pub epoch: u64,
    /// The node the command ran on.
    pub by: String,
    pub at_unix_ms: u64,
    /// `at_unix_ms` as RFC 3339 UTC.
    pub at: String,
    pub reason: String,
}

impl PauseJson {
    pub fn new(pause: &crate::core::ClusterPause) -> PauseJson {
        PauseJson {
            paused: pause.paused,
            epoch: pause.epoch,
            by: pause.by.clone(),
            at_unix_ms: pause.at_unix_ms,
            at: super::ops::format_unix_ms(pause.at_unix_ms),
            reason: pause.reason.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleJson {
    pub node: String,
    pub detail: String,
}

impl StatusJson {
    pub fn new(status: &ClusterStatus) -> StatusJson {
        let local = &status.local;
        let services: Vec<ServiceJson> = local
            .services
            .iter()
            .map(|(name, up)| ServiceJson {
                name: name.clone(),
                up: *up,
            })
            .collect();
        StatusJson {
            schema_version: SCHEMA_VERSION,
            cluster: status.cluster.clone(),
            local: LocalJson {
                node: local.node.clone(),
                peer: local.peer.clone(),
                role: local.role.clone(),
                disk: local.disk.clone(),
                peer_disk: local.peer_disk.clone(),
                connection: local.connection.clone(),
                mode: local.mode,
                active: !services.is_empty() && services.iter().all(|s| s.up),
                services,
                in_flight: local.in_flight.clone(),
                peer_heard: local.peer_heard,
                paused: local.paused,
                split_brain: local.split_brain.clone(),
                stale: local
                    .stale
                    .iter()
                    .map(|(node, detail)| StaleJson {
                        node: node.clone(),
                        detail: detail.clone(),
                    })
                    .collect(),
                pause: local.pause.as_ref().map(PauseJson::new),
                reason: local.reason.clone(),
            },
            peer: status.peer.clone(),
            sync_percent: status.sync_percent,
            last_reload: status.last_reload.clone(),
            replicas: status.replicas.clone(),
            heartbeat_gaps: status.heartbeat_gaps,
        }
    }
}

/// What kind of failure a `--json` error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// tandemd's control socket cannot be reached (not running, wrong `--config`).
    Unreachable,
    /// tandemd did not answer in time.
    Timeout,
    /// The exchange with tandemd broke, or its answer was not understood (version skew).
    Protocol,
    /// tandemd answered with an error.
    Daemon,
    /// DRBD refused (exit 3); the message starts with the refusal's name.
    Refused,
    /// Anything else: the config, the host, DRBD.
    Failed,
}

/// Serialises as `{"error":{"kind":…,"message":…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorJson {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    pub kind: ErrorKind,
    pub message: String,
}

impl ErrorJson {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ErrorJson {
        ErrorJson {
            error: ErrorBody {
                kind,
                message: message.into(),
            },
        }
    }

    /// One line; serialising these plain types cannot fail, but if it did the line still
    /// says what happened.
    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            "{\"error\":{\"kind\":\"failed\",\"message\":\"unprintable error\"}}".to_string()
        })
    }
}

/// Whether the command line asked for JSON output (`--json` on a command that has it).
pub fn wants_json(command: &crate::cli::args::Command) -> bool {
    use crate::cli::args::{Command, SplitBrainCommand};
    use crate::cli::drbd::DrbdCommand;
    match command {
        Command::Status { json, .. } | Command::History { json, .. } => *json,
        Command::SplitBrain(SplitBrainCommand::Status { json }) => *json,
        Command::Drbd(DrbdCommand::State { json } | DrbdCommand::Watch { json, .. }) => *json,
        _ => false,
    }
}

impl From<&crate::control::client::ControlError> for ErrorKind {
    fn from(error: &crate::control::client::ControlError) -> ErrorKind {
        use crate::control::client::ControlError;
        match error {
            ControlError::Connect { .. } => ErrorKind::Unreachable,
            ControlError::Timeout { .. } => ErrorKind::Timeout,
            ControlError::Io(_) | ControlError::Malformed(_) => ErrorKind::Protocol,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_object_with_a_kebab_case_kind() {
        let line = ErrorJson::new(ErrorKind::Unreachable, "cannot reach tandemd").line();
        assert_eq!(
            line,
            r#"{"error":{"kind":"unreachable","message":"cannot reach tandemd"}}"#
        );
    }

    #[test]
    fn replicas_are_objects_with_plain_string_states() {
        let text = r#"{"cluster":"c","local":{"node":"a","peer":"b","role":"Primary",
            "disk":"UpToDate","peer_disk":"UpToDate","connection":"Connected","services":[],
            "in_flight":null,"peer_heard":true,"paused":false,"split_brain":null,"stale":[],
            "reason":"r"},"peer":null,"sync_percent":null}"#;
        let mut status: ClusterStatus = serde_json::from_str(text).unwrap();
        assert!(
            StatusJson::new(&status).replicas.is_empty(),
            "an older daemon: none"
        );
        let mut r1 = crate::replica::ReplicaStatus::empty(
            "r1",
            "10.0.0.21:3306",
            crate::replica::ReplicaState::Replicating,
            None,
            1,
        );
        r1.gtid_behind = Some(0);
        status.replicas = vec![r1];
        let json = serde_json::to_value(StatusJson::new(&status)).unwrap();
        assert_eq!(json["schema_version"], 1);
        let r = &json["replicas"][0];
        assert_eq!(r["name"], "r1");
        assert_eq!(r["state"], "replicating");
        assert_eq!(r["gtid_behind"], 0);
        assert!(r["lag_seconds"].is_null() && r["error"].is_null());
    }
}
