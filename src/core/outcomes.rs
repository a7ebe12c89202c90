//! What the core learns from its own actions and the monitors: step outcomes, service health.
//! The handlers record facts (what failed, when, how often); decide() and recovery.rs draw
//! the consequences (restart, give the service away, escalate, back off).

use super::mode::is_start;
use super::{Action, Health, JournalEvent, Layer, Node, OperatorGoal, OutdateOutcome, PeerMessage};
use super::{Step, LAYERS};
use crate::drbd::DiskState;

impl Node {
    pub(crate) fn on_health(&mut self, health: Health) {
        let what = match &health {
            Health::MysqldExited(how) => format!("mysqld {how}"),
            Health::MysqldUnhealthy(why) => format!("mysqld unhealthy: {why}"),
        };
        if !self.up.contains(Layer::Mysqld) || self.mysqld_hung {
            return;
        }
        if matches!(health, Health::MysqldUnhealthy(_)) {
            // Still running: decide() stops it first; the restart budget counts it now.
            self.mysqld_hung = true;
        } else {
            self.up.set(Layer::Mysqld, false);
        }
        let window = self.cfg.restart_window_ticks;
        self.mysqld_failures.retain(|at| self.now - at < window);
        self.mysqld_failures.push(self.now);
        self.mysqld_failure = Some(what.clone());
        self.queue_journal(JournalEvent::StepFailed {
            step: Layer::Mysqld.start(),
            error: what,
        });
    }

    pub(crate) fn on_done(&mut self, step: Step, result: Result<(), String>) {
        if self.in_flight != Some(step) {
            return; // a late outcome of an action the core no longer waits for
        }
        self.in_flight = None;
        match &result {
            Ok(()) => self.on_step_ok(step),
            Err(error) => self.on_step_failed(step, error.clone()),
        }
        self.on_resolve_step(step, &result);
    }

    fn on_step_ok(&mut self, step: Step) {
        if LAYERS.iter().any(|l| l.stop() == step) || step == Step::ForceDemote {
            self.stop_failures = 0;
            self.stop_chain_failed_at = None;
        }
        if matches!(step, Step::SelfFence | Step::Demote | Step::ForceDemote) {
            // The stop chain got through: nothing left to escalate.
            self.stop_failed = None;
        }
        if step == Step::StopMysqld {
            self.mysqld_hung = false;
        }
        for layer in LAYERS {
            let primary = layer == Layer::Primary;
            if layer.start() == step || (primary && matches!(step, Step::Promote { .. })) {
                self.up.set(layer, true);
            } else if layer.stop() == step || (primary && step == Step::ForceDemote) {
                self.up.set(layer, false);
            }
        }
        if !self.cfg.drbd {
            // Shared-disk: holding the mount is what "Primary" means.
            self.up.set(Layer::Primary, self.up.contains(Layer::Mount));
        }
        if self.up.all() {
            // The chain came up after all (a retry worked): an earlier failure is history,
            // not a reason to roll back what now runs.
            self.start_failed_at = None;
        }
        match step {
            Step::Promote { .. } => {
                self.queue_journal(JournalEvent::Promoted {
                    reason: "DRBD role is Primary".into(),
                });
                self.handover_at = None;
            }
            Step::Demote | Step::ForceDemote => {
                self.queue_journal(JournalEvent::Demoted {
                    reason: "DRBD role is Secondary".into(),
                });
            }
            Step::OutdateLocal => {
                // exec read the state back: the disk is Outdated now, whether or not events2
                // has said so yet. Deciding on the older view could promote an Outdated disk.
                self.drbd.disk = DiskState::Outdated;
                if let Some(call) = self.outdate_call.take() {
                    self.queued.push(Action::Send(PeerMessage::OutdateReply {
                        call,
                        outcome: OutdateOutcome::Outdated,
                    }));
                }
            }
            _ => {}
        }
        if is_start(step) && self.up.all() {
            // The operator's promote is done once the whole chain runs.
            if matches!(self.operator, Some(OperatorGoal::Active { .. })) {
                self.operator = None;
            }
        }
    }

    /// Records the failure; recovery.rs reads it (rollback wait, escalation, backoff).
    fn on_step_failed(&mut self, step: Step, error: String) {
        self.queue_journal(JournalEvent::StepFailed {
            step,
            error: error.clone(),
        });
        match step {
            // Any promote, forced too, is a start step: its failure is rolled back and
            // retried later, never escalated to a self-fence.
            _ if is_start(step) => self.start_failed_at = Some(self.now),
            // The peer's request cannot be honoured now: its fence-peer asks again or ends.
            Step::OutdateLocal => self.outdate_call = None,
            // A split-brain resolution's step stops nothing, so its failure is no failed stop
            // chain: resolve.rs ends the attempt with the error, before any discard. A failed
            // disconnect leaves the node as it was (decide() tries again or waits).
            Step::Backup | Step::Connect | Step::ConnectDiscardMyData | Step::Disconnect => {}
            _ => {
                self.stop_failed = Some(step);
                if step == Step::SelfFence {
                    self.stop_failures += 1;
                    self.stop_chain_failed_at = Some(self.now);
                }
            }
        }
    }
}
