//! The steps the core asks the daemon to run, one at a time: the start/stop chain and DRBD
//! operations. Shared by inputs (their outcomes) and actions (the requests).

use serde::{Deserialize, Serialize};
use std::fmt;

/// One step of the start or stop chain, or a DRBD operation. At most one is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Step {
    /// `drbdadm primary` (`force` only on an operator's forced promote).
    Promote {
        force: bool,
    },
    Mount,
    StartMysqld,
    AddVip,
    RemoveVip,
    StopMysqld,
    Umount,
    /// `drbdadm secondary`.
    Demote,
    /// `drbdadm secondary --force`, after a failed demote (DRBD 9 only; 8.4 reports failure).
    ForceDemote,
    /// The configured self-fence command: the last resort when demotion fails.
    SelfFence,
    /// `drbdadm disconnect`: a confirmed-dead peer can still read Connected until ping-timeout,
    /// and DRBD refuses to promote then.
    Disconnect,
    /// `drbdadm outdate` on this node, asked for by the peer's fence-peer.
    OutdateLocal,
    /// Split-brain victim: copy the backing device, with a manifest, before discarding it.
    Backup,
    /// Split-brain survivor: `drbdadm connect`.
    Connect,
    /// Split-brain victim: `drbdadm connect --discard-my-data`.
    ConnectDiscardMyData,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Promote { force: false } => "promote",
            Step::Promote { force: true } => "promote --force",
            Step::Mount => "mount",
            Step::StartMysqld => "start mysqld",
            Step::AddVip => "add VIP",
            Step::RemoveVip => "remove VIP",
            Step::StopMysqld => "stop mysqld",
            Step::Umount => "umount",
            Step::Demote => "demote",
            Step::ForceDemote => "demote --force",
            Step::SelfFence => "self-fence",
            Step::Disconnect => "disconnect DRBD",
            Step::OutdateLocal => "outdate local disk",
            Step::Backup => "preserve this node's data (copy of the backing device)",
            Step::Connect => "connect DRBD",
            Step::ConnectDiscardMyData => "connect DRBD --discard-my-data",
        })
    }
}
