//! Everything the core learns arrives as one [`Input`]: DRBD state, peer messages, operator
//! requests, DRBD helper calls, the outcomes of the actions it asked for, and child exits.

use super::step::Step;
use crate::drbd::{ConnectionState, DiskState, Role};
use serde::{Deserialize, Serialize};

/// The local DRBD resource as the events2 stream shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrbdView {
    pub role: Role,
    pub disk: DiskState,
    pub peer_role: Role,
    pub peer_disk: DiskState,
    pub connection: ConnectionState,
}

impl DrbdView {
    /// What a node knows before DRBD has said anything.
    pub fn unknown() -> Self {
        Self {
            role: Role::Unknown,
            disk: DiskState::DUnknown,
            peer_role: Role::Unknown,
            peer_disk: DiskState::DUnknown,
            connection: ConnectionState::StandAlone,
        }
    }

    pub fn connected(&self) -> bool {
        self.connection == ConnectionState::Connected
    }
}

/// What the peer says about itself in every heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    pub role: Role,
    pub disk: DiskState,
    /// All services (mount, mysqld, VIP) are up on the peer.
    pub active: bool,
    /// The peer is starting or stopping its services.
    pub busy: bool,
    pub paused: bool,
    pub split_brain: bool,
    /// The peer's daemon has read DRBD's state (its initial events2 dump). Before that its
    /// `role` and `disk` are placeholders (Unknown, DUnknown), not facts to act on.
    pub drbd_known: bool,
    /// The sender holds a record that the receiver's data may be stale (it could not outdate
    /// the receiver while Primary): the receiver must not promote before a resync.
    #[serde(default)]
    pub stale_peer: bool,
    /// The cluster pause the sender holds (pause.rs); absent from daemons before it, which
    /// only pause themselves.
    #[serde(default)]
    pub pause: Option<super::ClusterPause>,
}

/// Messages between the two cores, carried by the authenticated peer link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMessage {
    /// Sent every heartbeat interval; its arrival is what keeps the peer "heard".
    Heartbeat(PeerView),
    /// "I have stopped everything and am Secondary: take over." Switchover and local-failure
    /// handover both end with it.
    Handover,
    /// "Please stop and hand over to me": a switchover asked for on the standby node.
    StepDown,
    /// DRBD's fence-peer on the sender: "outdate your disk so that you cannot promote".
    OutdateRequest {
        call: u64,
    },
    OutdateReply {
        call: u64,
        outcome: OutdateOutcome,
    },
    /// The operator resolves the split-brain on the sender: take your part (the victim's if
    /// `keep` is not you).
    ResolveSplitBrain {
        keep: String,
        backup: bool,
    },
}

/// The answer to an [`PeerMessage::OutdateRequest`], mapped to DRBD's fence-peer exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutdateOutcome {
    /// Exit 4: the peer's disk is now Outdated.
    Outdated,
    /// Exit 3: the peer's disk was Inconsistent already.
    AlreadyInconsistent,
    /// Exit 6: the peer is Primary and refused.
    RefusedPrimary,
    /// Exit 6: the peer holds a record that the asker's data may be stale: the asker must
    /// outdate itself, not the peer.
    RefusedAskerStale,
}

/// An operator's request, from `tandem` over the control socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Become active here. `force` skips the UpToDate and peer checks: it may lose data.
    Promote {
        force: bool,
    },
    Demote,
    /// Move the service to `to` (this node or the peer).
    Switchover {
        to: String,
    },
    /// Pause the cluster (pause.rs): both nodes observe and act only on explicit commands.
    /// `at_unix_ms` is the CLI host's clock, since the core reads none.
    Pause {
        reason: String,
        at_unix_ms: u64,
    },
    /// Resume the cluster: automatic decisions on both nodes again.
    Resume {
        reason: String,
        at_unix_ms: u64,
    },
    /// Resolve a standing split-brain keeping `keep`'s data (`--keep`); `backup` copies the
    /// victim's backing device first.
    ResolveSplitBrain {
        keep: String,
        backup: bool,
    },
}

/// A DRBD usermode helper call relayed by `tandem helper NAME`; `call` pairs the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Helper {
    FencePeer { call: u64 },
    UnfencePeer { call: u64 },
    SplitBrain { call: u64 },
}

/// A service's health as the monitors see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Health {
    /// mysqld exited (its child exit status, in words).
    MysqldExited(String),
    /// mysqld stopped answering `SELECT 1`.
    MysqldUnhealthy(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    Drbd(DrbdView),
    Peer(PeerMessage),
    Control(Request),
    Helper(Helper),
    Health(Health),
    /// The outcome of the action in flight.
    Done {
        step: Step,
        result: Result<(), String>,
    },
    /// The power-fence command ran; `Ok` means the peer is off.
    PowerFenced(Result<(), String>),
    /// The power-status command ran.
    PeerPower(super::power::PeerPower),
}
