//! Operator requests. Each is accepted or refused at once with a sentence; a refusal says
//! what would make the command safe. Accepted requests become goals that `decide()` pursues
//! through the same chains as automatic decisions.

use super::{Action, JournalEvent, Node, OperatorGoal, PeerMessage, Reply, Request};
use crate::drbd::{DiskState, Role};

impl Node {
    pub(crate) fn on_request(&mut self, request: Request) {
        let text = format!("{request:?}");
        let reply = match request {
            Request::Promote { force } => self.request_promote(force),
            Request::Demote => {
                self.operator = Some(OperatorGoal::Standby);
                self.handover_owed = true;
                Ok(format!(
                    "demoting {}: stopping VIP, mysqld, mount, then DRBD Secondary",
                    self.cfg.me
                ))
            }
            Request::Switchover { to } => self.request_switchover(&to),
            Request::ResolveSplitBrain { keep, backup } => self.request_resolve(&keep, backup),
            Request::Pause { reason, at_unix_ms } => {
                return self.request_pause(true, reason, at_unix_ms);
            }
            Request::Resume { reason, at_unix_ms } => {
                return self.request_pause(false, reason, at_unix_ms);
            }
        };
        match reply {
            Ok(text) => self.queued.push(Action::Reply(Reply::Accepted(text))),
            Err(reason) => {
                self.queue_journal(JournalEvent::Refused {
                    request: text,
                    reason: reason.clone(),
                });
                self.queued.push(Action::Reply(Reply::Refused(reason)));
            }
        }
    }

    fn request_promote(&mut self, force: bool) -> Result<String, String> {
        let (me, peer) = (&self.cfg.me, &self.cfg.peer);
        let peer_primary = self.drbd.peer_role == Role::Primary
            || self
                .fresh_peer()
                .is_some_and(|p| p.role == Role::Primary || p.active);
        if peer_primary {
            return Err(format!(
                "refused: peer {peer} is Primary; run `tandem switchover --to {me}` or demote \
                 {peer} first"
            ));
        }
        if self.all_up() {
            return Ok(format!("{me} is already active"));
        }
        if force {
            self.operator = Some(OperatorGoal::Active { force: true });
            return Ok(format!(
                "forced promote of {me}: disk {} — writes the peer made that this disk lacks, and \
                 any the peer makes if it is still alive, may be lost",
                self.drbd.disk
            ));
        }
        if self.cfg.drbd && self.drbd.disk != DiskState::UpToDate {
            return Err(format!(
                "refused: the local disk is {}, not UpToDate; promoting would serve stale data. \
                 Wait for the resync, or use `tandem promote --force` to accept data loss",
                self.drbd.disk
            ));
        }
        if let Some(why) = &self.self_stale {
            return Err(format!(
                "refused: {me}'s data may be stale ({why}); let DRBD resync it from {peer} \
                 first, or use `tandem promote --force` to accept losing {peer}'s later writes"
            ));
        }
        if !self.safe_to_take_over() {
            return Err(format!(
                "refused: peer {peer} may still be Primary (peer link silent, DRBD {}, peer disk \
                 {}); bring the peer link back, power-fence {peer}, or use `tandem promote \
                 --force` if you know {peer} is down",
                self.drbd.connection, self.drbd.peer_disk
            ));
        }
        self.operator = Some(OperatorGoal::Active { force: false });
        Ok(format!("promoting {me}"))
    }

    fn request_switchover(&mut self, to: &str) -> Result<String, String> {
        let (me, peer) = (self.cfg.me.clone(), self.cfg.peer.clone());
        if to != me && to != peer {
            return Err(format!(
                "refused: no node named {to}; the nodes are {me} and {peer}"
            ));
        }
        if to == me {
            if self.all_up() {
                return Ok(format!("{me} is already active"));
            }
            if self.cfg.drbd && self.drbd.disk != DiskState::UpToDate {
                return Err(format!(
                    "refused: {me}'s disk is {}, not UpToDate; wait for the resync to finish",
                    self.drbd.disk
                ));
            }
            if let Some(why) = &self.self_stale {
                return Err(format!(
                    "refused: {me}'s data may be stale ({why}); wait until DRBD has resynced \
                     it from {peer}"
                ));
            }
            if self.fresh_peer().is_none() {
                return Err(format!(
                    "refused: peer {peer} is not answering on the peer link, so it cannot be \
                     asked to stop; use `tandem promote` once {peer} is known down"
                ));
            }
            self.queued.push(Action::Send(PeerMessage::StepDown));
            self.operator = None;
            return Ok(format!("asked {peer} to stop and hand over to {me}"));
        }
        if !self.any_up() {
            return Err(format!(
                "refused: {me} is not active, so there is nothing to switch over; run it on \
                 the active node or use `tandem switchover --to {me}`"
            ));
        }
        match self.fresh_peer() {
            None => Err(format!(
                "refused: peer {peer} is not answering on the peer link; a switchover needs it \
                 ready to take over"
            )),
            Some(p) if self.cfg.drbd && p.disk != DiskState::UpToDate => Err(format!(
                "refused: peer {peer}'s disk is {}, not UpToDate; wait for the resync to finish",
                p.disk
            )),
            Some(_) if self.peer_stale.is_some() => Err(format!(
                "refused: {peer}'s data may be stale ({}); wait until DRBD has resynced it",
                self.peer_stale.as_deref().unwrap_or_default()
            )),
            Some(_) => {
                self.operator = Some(OperatorGoal::Standby);
                self.handover_owed = true;
                self.queue_journal(JournalEvent::SwitchoverStarted { to: peer.clone() });
                Ok(format!("switching over from {me} to {peer}"))
            }
        }
    }
}
