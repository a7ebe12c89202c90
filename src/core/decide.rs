//! `decide()`: the one branching function. It reads the node's state and returns what to do
//! next and one sentence of why. Every `if` about policy lives here; the leaves are pure.

use super::{Action, JournalEvent, Layer, Node, OperatorGoal, PeerMessage, Step, LAYERS};

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
pub(crate) enum Goal {
    /// Do nothing (paused, split-brain, or waiting for something outside).
    Hold,
    Active {
        failover: bool,
    },
    Standby,
    /// A local failure: stop here and hand the service to the peer (an automatic failover,
    /// journaled once and rate-limited like one).
    HandOver,
    PowerFencePeer,
    /// Ask whether the silent peer's power is off (power.rs), and/or make DRBD ping the
    /// peer now (probe.rs).
    Ask {
        power: bool,
        probe: bool,
    },
}

impl Node {
    pub(crate) fn decide(&self) -> Decision {
        let pause = if self.pause.paused { "PAUSE: " } else { "" };
        let standby_call = !self.is_primary_here() && !self.fencing_in_flight;
        if self.fence_call_needs_power_fence() && !standby_call {
            // First, even with a step in flight: with resource-and-stonith DRBD holds I/O
            // frozen until the answer, so that step may be waiting for this very fence. (A
            // standby's call that waits for a fence not yet started leaves the decision to
            // the standby's own rules below: the fence delay stays theirs.)
            return self.fence_for_drbd(pause);
        }
        if self.partition_needs_power_fence() {
            // Also with a step in flight: the peer may be promoting over there.
            return Decision {
                actions: vec![Action::PowerFencePeer],
                reason: format!(
                    "DRBD lost {peer} while this node is Primary and {peer} is silent on the \
                     peer link: power-fencing it now, before DRBD's fence-peer asks (in a \
                     partition the active node shoots first)",
                    peer = self.cfg.peer
                ),
            };
        }
        if let Some(step) = self.in_flight {
            return Decision::idle(format!("{pause}waiting for {step} to finish"));
        }
        if self.cfg.drbd && !self.drbd_known {
            // Adoption and every rule below read the DRBD role and disks: no guessing.
            return Decision::idle(format!(
                "{pause}waiting for DRBD's initial state (drbdsetup events2) before deciding"
            ));
        }
        if let Some(step) = self.escalation() {
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
        if self.mysqld_hung && self.up.contains(Layer::Mysqld) && !self.pause.paused {
            // Paused, a hung mysqld is reported, not stopped: stopping it is a restart's
            // first half, and a paused cluster restarts nothing.
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
            Goal::HandOver => self.hand_over(why),
            Goal::PowerFencePeer => Decision {
                actions: vec![Action::PowerFencePeer],
                reason: why,
            },
            Goal::Ask { power, probe } => {
                let mut actions = Vec::new();
                if power {
                    actions.push(Action::QueryPeerPower);
                }
                if probe {
                    actions.push(Action::ProbeDrbdPeer);
                }
                Decision {
                    actions,
                    reason: why,
                }
            }
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
        if self.peer_fresh() {
            // Heard since the call: alive, never fenced. The next tick asks it to outdate.
            return Decision::idle(format!(
                "{pause}DRBD's fence-peer: {peer} was heard again; asking it to outdate its \
                 disk instead of fencing it"
            ));
        }
        if self.peer_unheard_since_start() {
            return Decision::idle(format!(
                "{pause}DRBD's fence-peer: this tandemd started less than a peer timeout ago \
                 and has not heard {peer} yet; waiting for it before power-fencing (it may \
                 have been heard a moment before the restart)"
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

    pub(crate) fn goal(&self) -> (Goal, String) {
        if self.pause.paused {
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
        if let Some(why) = self.local_failure() {
            return (
                Goal::HandOver,
                format!(
                    "local failure: {why}; handing the service to {}",
                    self.cfg.peer
                ),
            );
        }
        if self.start_retry().is_some() {
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

    /// The chain's layers: shared-disk storage has no DRBD role.
    fn layers(&self) -> impl Iterator<Item = (usize, Layer)> + '_ {
        LAYERS
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, layer)| self.cfg.drbd || *layer != Layer::Primary)
    }

    fn toward_active(&self, why: String, failover: bool) -> Decision {
        let Some((_, layer)) = self.layers().find(|(_, layer)| !self.up.contains(*layer)) else {
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
        if let Some(retry) = self.stop_retry() {
            let at = retry.at;
            return Decision::idle(format!(
                "{why}: the stop chain failed {} time(s), self-fence included; retrying at \
                 tick {at} (backoff)",
                self.stop_failures
            ));
        }
        if let Some((_, layer)) = self
            .layers()
            .filter(|(_, layer)| self.up.contains(*layer))
            .last()
        {
            let step = layer.stop();
            return Decision::run(step, format!("{why}: {step}"));
        }
        let peer_has_it_all = !self.cfg.drbd || self.in_sync();
        let owed = self.owes_handover();
        if owed && self.peer_fresh() && !peer_has_it_all {
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
        if owed && self.peer_fresh() {
            return Decision {
                actions: vec![Action::Send(PeerMessage::Handover)],
                reason: format!("{why}: stopped here, handing over to {}", self.cfg.peer),
            };
        }
        Decision::idle(format!("{why}: all services stopped here"))
    }

    /// Giving the service away after a local failure: the stop chain and the handover, with
    /// the FailoverStarted record first (once), so that the flap guard counts it.
    fn hand_over(&self, why: String) -> Decision {
        let mut decision = self.toward_standby(why);
        if !self.give_away_journaled {
            let reason = match self.local_failure() {
                Some(failure) => format!("local failure: {failure}"),
                None => decision.reason.clone(),
            };
            let record = Action::Journal(JournalEvent::FailoverStarted { reason });
            decision.actions.insert(0, record);
        }
        decision
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
