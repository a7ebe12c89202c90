//! The peer's power, in the race that a partition starts (both nodes run, each sees the other
//! silent): the active node must shoot first, the standby never before its fence delay.
//!
//! - The active node power-fences as soon as it has seen DRBD lose the peer while Primary
//!   and the peer is silent on the peer link: the decision DRBD's fence-peer handler would
//!   ask for, taken without waiting for the handler's process, which under load took
//!   seconds to start in the VM lab (longer than the standby's delay). The handler's call
//!   is then answered 7 at once.
//! - The peer's power status (`[engine] power_status_command`) is read once per silence: a
//!   peer whose power reads off cannot shoot back, so the standby power-fences it without the
//!   fence delay. Every other rule (the power fence itself, the proof it gives, the backoff
//!   after a failed one) stays.

use super::{Action, Node};
use crate::drbd::{DiskState, Role};
use serde::{Deserialize, Serialize};

/// What the power-status command said about the peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerPower {
    On,
    Off,
    /// The command failed, timed out or answered something else: no shortcut.
    Unknown(String),
}

/// A reading, and the peer's last heartbeat when it was asked for: it belongs to that
/// silence only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PowerReading {
    pub heard_at: Option<u64>,
    pub power: Option<PeerPower>,
}

impl Node {
    /// `on_drbd`: DRBD's connection to the peer went from Connected to anything else while
    /// this node is Primary (what makes DRBD call fence-peer), or came back.
    ///
    /// The loss also journals at once that the peer may be stale, as the fence-peer call
    /// does: with `fencing resource-only` this Primary goes on writing while that call's
    /// process starts, and a handover in that window must not promote the peer over those
    /// writes (the seeded simulation found it with a slow helper and a switchover).
    pub(crate) fn note_drbd_loss(&mut self, was_connected: bool) {
        if self.drbd.connected() || self.drbd.role != Role::Primary {
            self.drbd_lost_peer = false;
        } else if was_connected {
            self.drbd_lost_peer = true;
            let peer = self.cfg.peer.clone();
            self.mark_peer_stale(format!(
                "DRBD lost {peer} while this node was Primary; {peer} may lack writes made \
                 here until it has resynced"
            ));
        }
    }

    /// The active node's side of the race: DRBD lost the peer while Primary here, the peer
    /// disk is unknown, the peer is silent, and nothing is fencing it yet.
    pub(crate) fn partition_needs_power_fence(&self) -> bool {
        self.drbd_lost_peer
            && self.cfg.power_fence
            && !self.pause.paused
            && !self.power_fenced
            && !self.fencing_in_flight
            && self.fence_call.is_none()
            && self.drbd.peer_disk == DiskState::DUnknown
            && !self.drbd.connected()
            && !self.peer_fresh()
            && !self.peer_unheard_since_start()
            && self.power_fence_retry().is_none()
    }

    /// The reading for the current silence, if one was asked for since the peer was last heard.
    fn power_reading(&self) -> Option<&PowerReading> {
        self.peer_power
            .as_ref()
            .filter(|reading| reading.heard_at == self.peer_heard_at)
    }

    /// The peer's power read off during this silence.
    pub(crate) fn peer_power_off(&self) -> bool {
        self.power_reading()
            .is_some_and(|reading| reading.power == Some(PeerPower::Off))
    }

    /// A power-status query should go out: configured, and none asked in this silence.
    pub(crate) fn power_query_due(&self) -> bool {
        self.cfg.power_status && self.power_reading().is_none()
    }

    /// The query of this silence is still running.
    pub(crate) fn power_query_in_flight(&self) -> bool {
        self.power_reading()
            .is_some_and(|reading| reading.power.is_none())
    }

    /// What the reading of this silence said, for the reason sentence.
    pub(crate) fn power_reading_said(&self) -> String {
        match self.power_reading().map(|reading| reading.power.as_ref()) {
            None | Some(Some(PeerPower::Off)) => String::new(),
            Some(None) => "; its power status is being asked".into(),
            Some(Some(PeerPower::On)) => "; its power reads on".into(),
            Some(Some(PeerPower::Unknown(why))) => {
                format!("; its power status is unknown ({why})")
            }
        }
    }

    /// `advance()` saw the query go out.
    pub(crate) fn power_query_sent(&mut self) {
        self.peer_power = Some(PowerReading {
            heard_at: self.peer_heard_at,
            power: None,
        });
    }

    /// The query ended. An answer to a query of an earlier silence is dropped: the peer was
    /// heard since, and its power then says nothing about now.
    pub(crate) fn on_peer_power(&mut self, power: PeerPower) {
        match self.peer_power.as_mut() {
            Some(reading) if reading.power.is_none() => reading.power = Some(power),
            _ => {}
        }
    }

    /// At most one query runs at a time.
    pub(crate) fn check_power_query(&self, actions: &[Action]) {
        let queries = actions
            .iter()
            .filter(|action| matches!(action, Action::QueryPeerPower))
            .count();
        assert!(
            queries == 0
                || (queries == 1 && self.cfg.power_status && !self.power_query_in_flight()),
            "BUG: a power-status query while one runs or none is configured: {actions:?}"
        );
    }
}
