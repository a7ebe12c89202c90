//! `decide()`: the one branching function. It reads the node's state and returns what to do
//! next and one sentence of why. Every `if` about policy lives here; the leaves are pure.

use super::{Action, JournalEvent, Layer, Node, OperatorGoal, PeerMessage, Step, LAYERS};
use crate::drbd::{DiskState, Role};

pub(crate) struct Decision {
    pub actions: Vec<Action>,
    pub reason: String,
}

impl Decision {
    fn idle(reason: String) -> Self {
        Self {
            actions: Vec::new(),
            reason,
        }
    }

    fn run(step: Step, reason: String) -> Self {
        Self {
            actions: vec![Action::Run(step)],
            reason,
        }
    }
}

/// Where this node is heading.
enum Goal {
    /// Do nothing (paused, split-brain, or waiting for something outside).
    Hold,
    Active {
        failover: bool,
    },
    Standby,
    PowerFencePeer,
}

impl Node {
    pub(crate) fn decide(&self) -> Decision {
        let pause = if self.paused { "PAUSE: " } else { "" };
        if let Some(step) = self.in_flight {
            return Decision::idle(format!("{pause}waiting for {step} to finish"));
        }
        if self.cfg.drbd && !self.drbd_known {
            // Adoption and every rule below read the DRBD role and disks: no guessing.
            return Decision::idle(format!(
                "{pause}waiting for DRBD's initial state (drbdsetup events2) before deciding"
            ));
        }
        if self.fence_call_needs_power_fence() {
            return self.fence_for_drbd(pause);
        }
        if let Some(step) = self.escalation {
            return Decision::run(
                step,
                format!("{pause}the stop chain failed; escalating to {step}"),
            );
        }
        if let Some((step, why)) = self.resolve_step() {
            return match step {
                Some(step) => Decision::run(step, format!("{pause}{why}")),
                None => Decision::idle(format!("{pause}{why}")),
            };
        }
        if self.mysqld_hung && self.up[Layer::Mysqld as usize] {
            return Decision::run(
                Step::StopMysqld,
                format!("{pause}mysqld does not answer SELECT 1: stopping it to restart it"),
            );
        }
        if self.outdate_call.is_some() {
            return Decision::run(
                Step::OutdateLocal,
                format!(
                    "{pause}peer {} is fencing this node: outdating the local disk",
                    self.cfg.peer
                ),
            );
        }
        let (goal, why) = self.goal();
        let why = format!("{pause}{why}");
        match goal {
            Goal::Hold => Decision::idle(why),
            Goal::Active { failover } => self.toward_active(why, failover),
            Goal::Standby => self.toward_standby(why),
            Goal::PowerFencePeer => Decision {
                actions: vec![Action::PowerFencePeer],
                reason: why,
            },
        }
    }

    /// DRBD's fence-peer on this Primary waits: the peer is silent and cannot be asked to
    /// outdate itself. The Primary fences without delay; a standby peer waits its delay.
    fn fence_for_drbd(&self, pause: &str) -> Decision {
        let peer = &self.cfg.peer;
        if self.fencing_in_flight {
            return Decision::idle(format!(
                "{pause}DRBD's fence-peer: waiting for the power fence of {peer}"
            ));
        }
        if self.drbd.connected() {
            return Decision::idle(format!(
                "{pause}DRBD's fence-peer: {peer} is silent, but DRBD still shows it Connected; \
                 waiting for DRBD to report the loss (a connected peer is never fenced)"
            ));
        }
        Decision {
            actions: vec![Action::PowerFencePeer],
            reason: format!(
                "{pause}DRBD lost {peer} while this node is Primary and {peer} is silent on \
                 the peer link: power-fencing it before DRBD may go on"
            ),
        }
    }

    fn goal(&self) -> (Goal, String) {
        if self.paused {
            return match &self.operator {
                Some(OperatorGoal::Active { .. }) => (
                    Goal::Active { failover: false },
                    "operator asked to promote".into(),
                ),
                Some(OperatorGoal::Standby) => (Goal::Standby, "operator asked to demote".into()),
                None => (Goal::Hold, format!("observing only; {}", self.summary())),
            };
        }
        if let Some(detail) = &self.split_brain {
            return match &self.operator {
                Some(OperatorGoal::Standby) => (Goal::Standby, "operator asked to demote".into()),
                _ => (
                    Goal::Hold,
                    format!(
                        "split-brain: no automatic action until it is resolved \
                         (docs/runbooks/split-brain.md): {detail}"
                    ),
                ),
            };
        }
        match &self.operator {
            Some(OperatorGoal::Active { .. }) => {
                return (
                    Goal::Active { failover: false },
                    "operator asked to promote".into(),
                )
            }
            Some(OperatorGoal::Standby) => {
                return (
                    Goal::Standby,
                    format!("operator asked to hand the service to {}", self.cfg.peer),
                )
            }
            None => {}
        }
        if let Some(why) = &self.local_failure {
            return (
                Goal::Standby,
                format!(
                    "local failure: {why}; handing the service to {}",
                    self.cfg.peer
                ),
            );
        }
        if self
            .start_blocked_until
            .is_some_and(|until| self.now < until)
        {
            return (
                Goal::Standby,
                "a start step failed; rolled back, will retry later".into(),
            );
        }
        if self.any_up() {
            return (Goal::Active { failover: false }, self.active_reason());
        }
        self.standby_goal()
    }

    fn active_reason(&self) -> String {
        if self.all_up() {
            format!("no action: active here; {}", self.summary())
        } else {
            "bringing the remaining services up".into()
        }
    }

    fn standby_goal(&self) -> (Goal, String) {
        let peer = &self.cfg.peer;
        if self.cfg.drbd && self.drbd.disk != DiskState::UpToDate {
            return (
                Goal::Hold,
                format!(
                    "standby: the local disk is {}, not UpToDate",
                    self.drbd.disk
                ),
            );
        }
        if let Some(why) = &self.self_stale {
            return (
                Goal::Hold,
                format!(
                    "standby: this node's data may be stale ({why}); no automatic promote \
                     until DRBD has resynced it from {peer}"
                ),
            );
        }
        if let Some(p) = self.fresh_peer() {
            if p.active || p.busy || p.role == Role::Primary {
                return (
                    Goal::Hold,
                    format!("no action: {peer} is active; standby here"),
                );
            }
            if self.cfg.drbd && !p.drbd_known {
                return (
                    Goal::Hold,
                    format!("waiting for {peer} to read its DRBD state"),
                );
            }
            if let Some(at) = self.handed_over_at {
                if self.now - at <= 2 * self.cfg.peer_timeout_ticks {
                    return (
                        Goal::Hold,
                        format!("handed over to {peer}: waiting for it to take over"),
                    );
                }
            }
            if self.handover_at.is_some() {
                return (
                    Goal::Active { failover: false },
                    format!("{peer} handed over and is Secondary: taking over"),
                );
            }
            let peer_unfit =
                (self.cfg.drbd && p.disk != DiskState::UpToDate) || self.peer_stale.is_some();
            if self.cfg.preferred || peer_unfit {
                return (
                    Goal::Active { failover: false },
                    format!("nobody is active and {peer} is standby: starting here"),
                );
            }
            return (
                Goal::Hold,
                format!("nobody is active: waiting for {peer}, the preferred node, to start"),
            );
        }
        if self.peer_heard_at.is_none() && self.now - self.started_at <= self.cfg.peer_timeout_ticks
        {
            return (Goal::Hold, format!("waiting to hear from {peer}"));
        }
        self.peer_silent_goal()
    }

    fn peer_silent_goal(&self) -> (Goal, String) {
        let peer = &self.cfg.peer;
        if !self.cfg.automatic_failover {
            return (
                Goal::Hold,
                format!(
                    "{peer} is silent; automatic failover is off ([engine] automatic_failover = \
                     false): `tandem promote` once {peer} is known down"
                ),
            );
        }
        if let Some(at) = self.last_failover_at {
            if self.now - at < self.cfg.flap_guard_ticks {
                return (
                    Goal::Hold,
                    format!(
                        "{peer} is silent, but the last automatic failover was less than {} \
                         ticks ago (anti-flapping); not before tick {}",
                        self.cfg.flap_guard_ticks,
                        at + self.cfg.flap_guard_ticks
                    ),
                );
            }
        }
        if self.safe_to_take_over() {
            return (
                Goal::Active { failover: true },
                format!(
                    "{peer} is silent and {}: taking over",
                    self.takeover_proof()
                ),
            );
        }
        if self.fencing_in_flight {
            return (
                Goal::Hold,
                format!("{peer} is silent: waiting for the power fence"),
            );
        }
        if self.drbd.connected() {
            return (
                Goal::Hold,
                format!(
                    "{peer} is silent on the peer link, but DRBD shows it Connected ({}): it is \
                     alive and is never fenced; standby here",
                    self.drbd.peer_role
                ),
            );
        }
        if let Some(at) = self.power_fence_retry_at.filter(|at| self.now < *at) {
            return (
                Goal::Hold,
                format!(
                    "{peer} is silent; the power fence failed {} time(s) in a row: retrying at \
                     tick {at} (backoff)",
                    self.power_fence_failures
                ),
            );
        }
        if self.cfg.power_fence {
            let silent_at =
                self.peer_heard_at.unwrap_or(self.started_at) + self.cfg.peer_timeout_ticks;
            let fence_at = silent_at + self.fence_delay_ticks();
            if self.now < fence_at {
                return (
                    Goal::Hold,
                    format!(
                        "{peer} is silent and may still be Primary: fence delay, power-fencing \
                         it at tick {fence_at} unless it is heard (a standby waits, so that \
                         both nodes never shoot each other)"
                    ),
                );
            }
            return (
                Goal::PowerFencePeer,
                format!("{peer} is silent and may still be Primary: power-fencing it"),
            );
        }
        (
            Goal::Hold,
            format!(
                "{peer} is silent; not taking over: nothing proves it is not Primary (DRBD {}, \
                 peer disk {}, no power fence configured)",
                self.drbd.connection, self.drbd.peer_disk
            ),
        )
    }

    /// How long this node waits beyond the peer timeout before power-fencing the peer: none
    /// for the preferred node when the peer was not active (two standbys: one must go first),
    /// the configured delay otherwise (an active peer fences from DRBD's fence-peer first).
    fn fence_delay_ticks(&self) -> u64 {
        if self.cfg.preferred && !self.peer_was_active {
            0
        } else {
            self.cfg.fence_delay_ticks
        }
    }

    fn takeover_proof(&self) -> &'static str {
        if self.power_fenced {
            "was power-fenced"
        } else if matches!(
            self.drbd.peer_disk,
            DiskState::Outdated | DiskState::Inconsistent
        ) {
            "its disk is outdated"
        } else {
            "DRBD confirms it is Secondary"
        }
    }

    /// The chain's layers: shared-disk storage has no DRBD role.
    fn layers(&self) -> impl Iterator<Item = (usize, Layer)> + '_ {
        LAYERS
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, layer)| self.cfg.drbd || *layer != Layer::Primary)
    }

    fn toward_active(&self, why: String, failover: bool) -> Decision {
        let Some((index, layer)) = self.layers().find(|(i, _)| !self.up[*i]) else {
            return Decision::idle(why);
        };
        let force = self.forced();
        let first = !self.any_up();
        if first && !force {
            if !self.safe_to_take_over() {
                return Decision::idle(format!(
                    "{why}; waiting: {} may still be Primary",
                    self.cfg.peer
                ));
            }
            let peer_dead = self.peer_heard_at.is_none() || !self.peer_fresh();
            if self.cfg.drbd && self.power_fenced && peer_dead && self.drbd.connected() {
                return Decision::run(
                    Step::Disconnect,
                    format!("{why}; DRBD still reads Connected to the fenced peer: disconnecting"),
                );
            }
        }
        let step = match layer {
            Layer::Primary if force => Step::Promote { force: true },
            _ => layer.start(),
        };
        debug_assert_eq!(index, layer as usize);
        let mut actions = Vec::new();
        if failover && first {
            actions.push(Action::Journal(JournalEvent::FailoverStarted {
                reason: why.clone(),
            }));
        }
        actions.push(Action::Run(step));
        Decision {
            actions,
            reason: format!("{why}: {step}"),
        }
    }

    fn toward_standby(&self, why: String) -> Decision {
        if let Some(at) = self.stop_retry_at.filter(|at| self.now < *at) {
            return Decision::idle(format!(
                "{why}: the stop chain failed {} time(s), self-fence included; retrying at \
                 tick {at} (backoff)",
                self.stop_failures
            ));
        }
        if let Some((_, layer)) = self.layers().filter(|(i, _)| self.up[*i]).last() {
            let step = layer.stop();
            return Decision::run(step, format!("{why}: {step}"));
        }
        let peer_has_it_all = !self.cfg.drbd || self.in_sync();
        if self.handover_owed && self.peer_fresh() && !peer_has_it_all {
            return Decision::idle(format!(
                "{why}: stopped here; not handing over to {} yet: DRBD is {} {}/{}, so {} may \
                 lack writes made here (waiting for DRBD to connect and resync)",
                self.cfg.peer,
                self.drbd.connection,
                self.drbd.disk,
                self.drbd.peer_disk,
                self.cfg.peer
            ));
        }
        if self.handover_owed && self.peer_fresh() {
            return Decision {
                actions: vec![Action::Send(PeerMessage::Handover)],
                reason: format!("{why}: stopped here, handing over to {}", self.cfg.peer),
            };
        }
        Decision::idle(format!("{why}: all services stopped here"))
    }

    /// One line on where things stand, for reasons that have nothing else to say.
    pub(crate) fn summary(&self) -> String {
        let peer = match self.fresh_peer() {
            Some(p) if p.active => format!("{} active", self.cfg.peer),
            Some(p) => format!("{} standby, disk {}", self.cfg.peer, p.disk),
            None => format!("{} silent", self.cfg.peer),
        };
        if self.cfg.drbd {
            format!(
                "DRBD {} {}/{} {}; {peer}",
                self.drbd.role, self.drbd.disk, self.drbd.peer_disk, self.drbd.connection
            )
        } else {
            peer
        }
    }
}
