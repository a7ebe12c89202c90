//! What the core asks the daemon to do. Actions are data; `exec/` performs them and reports
//! back through `Input::Done`.

use super::input::PeerMessage;
pub use super::step::Step;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An event worth keeping in the journal and showing in `tandem history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JournalEvent {
    Promoted {
        reason: String,
    },
    Demoted {
        reason: String,
    },
    /// An automatic takeover began; its tick feeds the anti-flapping guard.
    FailoverStarted {
        reason: String,
    },
    SwitchoverStarted {
        to: String,
    },
    Fenced {
        how: String,
        result: String,
    },
    Refused {
        request: String,
        reason: String,
    },
    StepFailed {
        step: Step,
        error: String,
    },
    SplitBrain {
        detail: String,
    },
    /// A phase of `tandem split-brain resolve`.
    Resolve {
        keep: String,
        what: String,
    },
    /// DRBD is connected again with both disks UpToDate: the split-brain was resolved (by an
    /// operator or an automatic policy) and automatic decisions resume.
    SplitBrainResolved,
    /// `node`'s data may be stale: it was not outdated while the other node was Primary
    /// without it. It is not promoted automatically until DRBD has resynced it.
    MayBeStale {
        node: String,
        detail: String,
    },
    /// DRBD is connected and both disks are UpToDate again: `node` is no longer stale.
    StaleCleared {
        node: String,
    },
    /// A node-local pause, written by tandem before the cluster pause; read, never restored.
    Paused,
    Resumed,
    /// The cluster pause changed: by an operator here, or adopted from the peer's heartbeat
    /// (`from_peer`). The last one is restored at start (daemon/setup.rs).
    PauseChanged {
        pause: super::ClusterPause,
        from_peer: bool,
    },
}

/// The state a journal record defines, for records whose newest instance must survive a
/// restart however old it is: journal compaction keeps the newest record of each key, and
/// the daemon reads them back at startup. Other records are history only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateKey {
    /// `SplitBrain` or `SplitBrainResolved`: whether a split-brain still stands.
    SplitBrain,
    /// `MayBeStale` or `StaleCleared` for one node: whether its data may be stale.
    Stale { node: String },
    /// `FailoverStarted`: when the last automatic failover began (the anti-flapping guard).
    LastFailover,
    /// `Paused` or `Resumed`: whether the operator paused automatic decisions.
    Pause,
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateKey::SplitBrain => f.write_str("split-brain"),
            StateKey::Stale { node } => write!(f, "stale:{node}"),
            StateKey::LastFailover => f.write_str("last-failover"),
            StateKey::Pause => f.write_str("pause"),
        }
    }
}

impl JournalEvent {
    /// Which state this record defines, if any (see [`StateKey`]). Pure: the journal's
    /// compaction and the startup read-back both go by it.
    pub fn state_key(&self) -> Option<StateKey> {
        match self {
            JournalEvent::SplitBrain { .. } | JournalEvent::SplitBrainResolved => {
                Some(StateKey::SplitBrain)
            }
            JournalEvent::MayBeStale { node, .. } | JournalEvent::StaleCleared { node } => {
                Some(StateKey::Stale { node: node.clone() })
            }
            JournalEvent::FailoverStarted { .. } => Some(StateKey::LastFailover),
            JournalEvent::Paused | JournalEvent::Resumed | JournalEvent::PauseChanged { .. } => {
                Some(StateKey::Pause)
            }
            JournalEvent::Promoted { .. }
            | JournalEvent::Demoted { .. }
            | JournalEvent::SwitchoverStarted { .. }
            | JournalEvent::Fenced { .. }
            | JournalEvent::Refused { .. }
            | JournalEvent::StepFailed { .. }
            | JournalEvent::Resolve { .. } => None,
        }
    }
}

/// The reply to an operator's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    Accepted(String),
    Refused(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Run(Step),
    PowerFencePeer,
    /// Run the power-status command; its reading comes back as `Input::PeerPower`.
    QueryPeerPower,
    /// Run a promote that DRBD refuses while the peer is Primary and Connected, so that DRBD
    /// pings the peer at once (probe.rs). No input comes back: events2 shows what changed.
    ProbeDrbdPeer,
    Send(PeerMessage),
    /// Answer a DRBD helper call with its exit code.
    AnswerHelper {
        call: u64,
        code: u8,
    },
    Journal(JournalEvent),
    Reply(Reply),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Run(step) => write!(f, "run {step}"),
            Action::PowerFencePeer => f.write_str("power-fence peer"),
            Action::QueryPeerPower => f.write_str("query peer power"),
            Action::ProbeDrbdPeer => f.write_str("probe DRBD's peer"),
            Action::Send(message) => write!(f, "send {message:?}"),
            Action::AnswerHelper { call, code } => write!(f, "answer helper call {call}: {code}"),
            Action::Journal(event) => write!(f, "journal {event:?}"),
            Action::Reply(Reply::Accepted(text)) => write!(f, "reply accepted: {text}"),
            Action::Reply(Reply::Refused(text)) => write!(f, "reply refused: {text}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{JournalEvent, StateKey};

    #[test]
    fn state_records_pair_up_by_key_and_history_has_none() {
        let stale = |node: &str| JournalEvent::MayBeStale {
            node: node.into(),
            detail: String::new(),
        };
        let cleared = JournalEvent::StaleCleared { node: "a".into() };
        assert_eq!(stale("a").state_key(), cleared.state_key());
        assert_ne!(stale("a").state_key(), stale("b").state_key());
        let split = JournalEvent::SplitBrain {
            detail: String::new(),
        };
        assert_eq!(
            split.state_key(),
            JournalEvent::SplitBrainResolved.state_key()
        );
        assert_eq!(JournalEvent::Paused.state_key(), Some(StateKey::Pause));
        assert_eq!(JournalEvent::Resumed.state_key(), Some(StateKey::Pause));
        let failover = JournalEvent::FailoverStarted {
            reason: String::new(),
        };
        assert_eq!(failover.state_key(), Some(StateKey::LastFailover));
        let promoted = JournalEvent::Promoted {
            reason: String::new(),
        };
        assert_eq!(promoted.state_key(), None);
        let names: Vec<String> = [stale("a"), split, failover, JournalEvent::Paused]
            .iter()
            .filter_map(|event| event.state_key().map(|key| key.to_string()))
            .collect();
        assert_eq!(names, ["stale:a", "split-brain", "last-failover", "pause"]);
    }
}
