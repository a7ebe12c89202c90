//! What the core learns from its own actions and the monitors: step outcomes, service health.
//! The handlers record facts and budgets (restarts, backoff); decide() draws the consequences.

use super::{Action, Health, JournalEvent, Layer, Node, OperatorGoal, OutdateOutcome, PeerMessage};
use super::{Step, LAYERS, MAX_BACKOFF_DOUBLINGS};

impl Node {
    pub(crate) fn on_health(&mut self, health: Health) {
        let (layer, what) = match &health {
            Health::MysqldExited(how) => (Layer::Mysqld, format!("mysqld {how}")),
            Health::MysqldUnhealthy(why) => (Layer::Mysqld, format!("mysqld unhealthy: {why}")),
        };
        if !self.up.contains(layer) || (self.mysqld_hung && layer == Layer::Mysqld) {
            return;
        }
        if matches!(health, Health::MysqldUnhealthy(_)) {
            // Still running: decide() stops it first; the restart budget counts it now.
            self.mysqld_hung = true;
        } else {
            self.up.set(layer, false);
        }
        self.restarts
            .retain(|at| self.now - at < self.cfg.restart_window_ticks);
        if self.restarts.len() >= self.cfg.restart_limit {
            let why = format!(
                "{what}, and it failed {} times within the restart window",
                self.restarts.len() + 1
            );
            // Moving the service is an automatic failover: journaled, and rate-limited.
            self.queue_journal(JournalEvent::FailoverStarted {
                reason: format!("local failure: {why}"),
            });
            self.local_failure = Some(why);
            self.handover_owed = true;
        } else {
            self.restarts.push(self.now);
        }
        self.queue_journal(JournalEvent::StepFailed {
            step: layer.start(),
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

    /// Exponential backoff for a failing power fence or stop chain: one peer timeout, then
    /// doubling up to 2^[`MAX_BACKOFF_DOUBLINGS`] peer timeouts.
    pub(crate) fn backoff_ticks(&self, failures: u32) -> u64 {
        self.cfg.peer_timeout_ticks.max(1) << failures.min(MAX_BACKOFF_DOUBLINGS)
    }

    fn on_step_ok(&mut self, step: Step) {
        if LAYERS.iter().any(|l| l.stop() == step) || step == Step::ForceDemote {
            self.stop_failures = 0;
            self.stop_retry_at = None;
        }
        if step == Step::SelfFence {
            self.escalation = None;
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
        match step {
            Step::Promote { .. } => {
                self.queue_journal(JournalEvent::Promoted {
                    reason: "DRBD role is Primary".into(),
                });
                self.handover_at = None;
            }
            Step::Demote | Step::ForceDemote => {
                self.escalation = None;
                self.queue_journal(JournalEvent::Demoted {
                    reason: "DRBD role is Secondary".into(),
                });
            }
            Step::OutdateLocal => {
                if let Some(call) = self.outdate_call.take() {
                    self.queued.push(Action::Send(PeerMessage::OutdateReply {
                        call,
                        outcome: OutdateOutcome::Outdated,
                    }));
                }
            }
            Step::AddVip if matches!(self.operator, Some(OperatorGoal::Active { .. })) => {
                self.operator = None;
            }
            _ => {}
        }
    }

    fn on_step_failed(&mut self, step: Step, error: String) {
        self.queue_journal(JournalEvent::StepFailed {
            step,
            error: error.clone(),
        });
        let is_start = LAYERS.iter().any(|l| l.start() == step);
        if is_start {
            // Roll back what was started, and do not retry at once.
            let wait = self.cfg.peer_timeout_ticks * 2;
            self.start_blocked_until = Some(super::deadline::Deadline::after(self.now, wait));
        } else if step == Step::OutdateLocal {
            self.outdate_call = None;
        } else if matches!(
            step,
            Step::Backup | Step::Connect | Step::ConnectDiscardMyData
        ) {
            // A split-brain resolution's step stops nothing, so its failure is no failed stop
            // chain to fence: resolve.rs ends the attempt with the error, before any discard.
        } else {
            self.escalation = match step {
                Step::Demote if self.cfg.drbd => Some(Step::ForceDemote),
                Step::SelfFence | Step::Disconnect => None,
                _ => Some(Step::SelfFence),
            };
            if step == Step::SelfFence {
                // The whole chain failed: try again later, ever later, not in a hot loop.
                let wait = self.backoff_ticks(self.stop_failures);
                self.stop_retry_at = Some(super::deadline::Deadline::after(self.now, wait));
                self.stop_failures += 1;
            }
        }
    }
}
