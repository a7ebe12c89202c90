//! The input handlers for DRBD views, peer messages and DRBD helper calls. They record
//! facts (and queue the replies and journal records those facts call for); every choice of
//! what to do about them is `decide()`'s.

use super::{Action, DrbdView, Helper, JournalEvent, Layer, Node, OperatorGoal, PeerMessage};
use crate::drbd::{DiskState, Role};

impl Node {
    pub(crate) fn on_drbd(&mut self, view: DrbdView) {
        if self.cfg.drbd {
            self.up.set(Layer::Primary, view.role == Role::Primary);
        }
        if view.connected() && view.peer_disk == DiskState::UpToDate {
            // Reconnected and in sync: whatever fencing said about the peer is history.
            self.power_fenced = false;
            if view.disk == DiskState::UpToDate {
                if self.split_brain.take().is_some() {
                    // Only a resolution reconnects a split-brain: one side's changes were
                    // discarded and both disks hold the same data again.
                    self.queue_journal(JournalEvent::SplitBrainResolved);
                }
                self.end_resolve();
            }
        }
        let was_connected = self.drbd.connected();
        self.drbd = view;
        self.note_drbd_loss(was_connected);
        self.drbd_known = true;
        self.fence_on_drbd();
        self.clear_stale_if_synced();
    }

    pub(crate) fn on_peer(&mut self, message: PeerMessage) {
        self.peer_heard_at = Some(self.now);
        match message {
            PeerMessage::Heartbeat(view) => {
                if view.role == Role::Primary || view.active {
                    self.handover_at = None;
                }
                if view.stale_peer {
                    let peer = self.cfg.peer.clone();
                    self.mark_self_stale(format!(
                        "{peer} lost DRBD's connection to this node while Primary, and this \
                         node may lack writes made there"
                    ));
                }
                self.on_peer_pause(view.pause.clone());
                self.peer = Some(view);
            }
            PeerMessage::Handover => self.handover_at = Some(self.now),
            PeerMessage::StepDown => {
                if self.any_up() {
                    self.operator = Some(OperatorGoal::Standby);
                    self.handover_owed = true;
                    self.queue_journal(JournalEvent::SwitchoverStarted {
                        to: self.cfg.peer.clone(),
                    });
                }
            }
            PeerMessage::OutdateRequest { call } => self.on_outdate_request(call),
            PeerMessage::ResolveSplitBrain { keep, backup } => self.begin_resolve(&keep, backup),
            PeerMessage::OutdateReply { call, outcome } => self.on_outdate_reply(call, outcome),
        }
    }

    pub(crate) fn on_helper(&mut self, helper: Helper) {
        match helper {
            Helper::FencePeer { call } => self.on_fence_peer(call),
            Helper::UnfencePeer { call } => {
                self.queued.push(Action::AnswerHelper { call, code: 0 })
            }
            Helper::SplitBrain { call } => {
                let detail = "DRBD reported split-brain; the connection was dropped".to_string();
                self.split_brain = Some(detail.clone());
                self.queue_journal(JournalEvent::SplitBrain { detail });
                self.queued.push(Action::AnswerHelper { call, code: 0 });
            }
        }
    }
}
