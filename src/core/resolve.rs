//! `tandem split-brain resolve --keep NODE`: the DRBD runbook, driven by both cores.
//!
//! The operator names the survivor on either node; that core takes its own part and sends
//! the peer its part over the peer link (both must be heard: the resolution needs both).
//! - The victim stops its services (VIP, mysqld, umount, Secondary), preserves its data
//!   (a copy of its backing device, unless `--no-backup`), then `connect --discard-my-data`.
//! - The survivor runs `connect`.
//! - Both wait until DRBD is Connected and UpToDate/UpToDate: that ends the split-brain hold
//!   (mod.rs, `on_drbd`). The victim then hands the service to the survivor.
//!
//! Every phase is journaled. A failed step ends the attempt with its error; running the
//! command again starts over, and each step is safe to repeat: stopping what is stopped does
//! nothing, the backup reuses an intact copy of the same generations (or makes another beside
//! it, never overwriting one), and a connect of a connecting resource is a no-op. A backup
//! that fails (no room, a copy that reads back wrong) ends the attempt before
//! `--discard-my-data`.

use super::{Action, JournalEvent, Layer, Node, OperatorGoal, PeerMessage, Step};
use crate::drbd::ConnectionState;
use serde::{Deserialize, Serialize};

/// This node's part in a running resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolve {
    /// The node whose data is kept.
    pub keep: String,
    /// Copy the victim's backing device before discarding it.
    pub backup: bool,
    pub phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Victim: stopping the services that use the data, then copying the backing device.
    StopServices,
    /// Victim: `connect --discard-my-data`; survivor: `connect`.
    Reconnect,
    /// Both: DRBD resyncs the victim.
    Resync,
}

impl Node {
    /// The operator's request, on either node. Refused unless a split-brain stands, the peer
    /// is heard, and `keep` names a node.
    pub(crate) fn request_resolve(&mut self, keep: &str, backup: bool) -> Result<String, String> {
        let (me, peer) = (self.cfg.me.clone(), self.cfg.peer.clone());
        if keep != me && keep != peer {
            return Err(format!(
                "refused: no node {keep}; use --keep {me} or --keep {peer}"
            ));
        }
        if self.split_brain.is_none() {
            return Err(format!(
                "refused: no split-brain stands here (DRBD {}); `tandem split-brain status` \
                 shows the last handshake",
                self.drbd.connection
            ));
        }
        if !self.peer_fresh() {
            return Err(format!(
                "refused: {peer} is not heard on the peer link, and the resolution needs both \
                 nodes; heal the peer link, or follow docs/runbooks/split-brain.md by hand"
            ));
        }
        self.queued
            .push(Action::Send(PeerMessage::ResolveSplitBrain {
                keep: keep.to_string(),
                backup,
            }));
        self.begin_resolve(keep, backup);
        let victim = if keep == me { &peer } else { &me };
        let copy = if backup {
            "keeping a copy of its backing device first"
        } else {
            "WITHOUT a copy (--no-backup)"
        };
        Ok(format!(
            "resolving the split-brain: keeping {keep}'s data; {victim} stops its services and \
             discards its changes, {copy}; then DRBD resyncs {victim} from {keep}"
        ))
    }

    /// Starts this node's part (asked locally, or by the peer's message).
    pub(crate) fn begin_resolve(&mut self, keep: &str, backup: bool) {
        let victim = keep != self.cfg.me;
        let phase = if victim {
            self.operator = Some(OperatorGoal::Standby);
            Phase::StopServices
        } else {
            Phase::Reconnect
        };
        self.queue_journal(JournalEvent::Resolve {
            keep: keep.to_string(),
            what: format!("{phase:?}"),
        });
        self.resolve = Some(Resolve {
            keep: keep.to_string(),
            backup,
            phase,
        });
    }

    /// What the resolution needs next on this node, if one runs.
    pub(crate) fn resolve_step(&self) -> Option<(Option<Step>, String)> {
        let resolve = self.resolve.as_ref()?;
        let keep = &resolve.keep;
        let step = match resolve.phase {
            Phase::StopServices => {
                self.layers_up()
                    .last()
                    .map(|layer| layer.stop())
                    .or(Some(if resolve.backup {
                        Step::Backup
                    } else {
                        Step::ConnectDiscardMyData
                    }))
            }
            Phase::Reconnect if self.drbd.connection != ConnectionState::StandAlone => None,
            Phase::Reconnect if keep == &self.cfg.me => Some(Step::Connect),
            Phase::Reconnect => Some(Step::ConnectDiscardMyData),
            Phase::Resync => None,
        };
        let why = match (resolve.phase, step) {
            (_, Some(step)) => format!("resolving the split-brain, keeping {keep}: {step}"),
            (Phase::Resync, None) | (Phase::Reconnect, None) => format!(
                "resolving the split-brain, keeping {keep}: waiting for DRBD to connect and \
                 resync (DRBD {} {}/{})",
                self.drbd.connection, self.drbd.disk, self.drbd.peer_disk
            ),
            _ => format!("resolving the split-brain, keeping {keep}"),
        };
        Some((step, why))
    }

    fn layers_up(&self) -> impl Iterator<Item = Layer> + '_ {
        super::LAYERS
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, layer)| {
                self.up.contains(*layer) && (self.cfg.drbd || *layer != Layer::Primary)
            })
            .map(|(_, layer)| layer)
    }

    /// A resolution step finished.
    pub(crate) fn on_resolve_step(&mut self, step: Step, result: &Result<(), String>) {
        let Some(resolve) = self.resolve.as_mut() else {
            return;
        };
        let next = match (step, result) {
            (Step::Backup, Ok(())) => Some(Phase::Reconnect),
            (Step::Connect | Step::ConnectDiscardMyData, Ok(())) => Some(Phase::Resync),
            (Step::Backup | Step::Connect | Step::ConnectDiscardMyData, Err(error)) => {
                let what = format!("{step} failed: {error}; run the resolve again to retry");
                self.resolve = None;
                self.queue_journal(JournalEvent::Resolve {
                    keep: String::new(),
                    what,
                });
                return;
            }
            _ => None,
        };
        if let Some(phase) = next {
            resolve.phase = phase;
            let keep = resolve.keep.clone();
            self.queue_journal(JournalEvent::Resolve {
                keep,
                what: format!("{step} done; next {phase:?}"),
            });
        }
    }

    /// DRBD is in sync again: the resolution is over; the victim hands over to the survivor.
    pub(crate) fn end_resolve(&mut self) {
        let Some(resolve) = self.resolve.take() else {
            return;
        };
        self.queue_journal(JournalEvent::Resolve {
            keep: resolve.keep.clone(),
            what: "resynced: UpToDate/UpToDate".into(),
        });
        if resolve.keep != self.cfg.me {
            // The survivor serves from here: hand over, and do not start here meanwhile.
            self.operator = None;
            self.handed_over_at = Some(self.now);
            self.queued.push(Action::Send(PeerMessage::Handover));
        }
    }
}
