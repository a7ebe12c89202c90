//! Facts that must hold together after every step, tick and advance, and rules every batch
//! of actions must keep. A violation is a bug in the core, so these are `assert!`s, on in
//! release builds too: a daemon that would promote into a double-Primary stops instead.

use super::mode::{is_start, Mode};
use super::{Action, Layer, Node, Ready, Step};

impl Node {
    /// The node's facts agree with each other and with its mode.
    pub(crate) fn check_invariants(&self) {
        assert!(
            !self.fence_call_needs_power_fence() || self.cfg.power_fence,
            "BUG: a fence-peer call waits for a power fence, but none is configured"
        );
        assert!(
            self.cfg.drbd || (self.peer_stale.is_none() && self.self_stale.is_none()),
            "BUG: a stale-data record without DRBD"
        );
        assert!(
            !(self.fencing_in_flight && self.power_fenced),
            "BUG: a power fence in flight after the peer was reported off"
        );
        assert!(
            self.cfg.drbd || self.up.contains(Layer::Primary) == self.up.contains(Layer::Mount),
            "BUG: with shared-disk storage, holding the mount is being Primary: {:?}",
            self.up
        );
        let mode = self.mode();
        let agrees = match mode {
            Mode::Active => self.up.all() && self.in_flight.is_none(),
            Mode::Standby => !self.up.any() && !self.in_flight.is_some_and(is_start),
            Mode::Promoting => self.up.any() || self.in_flight.is_some_and(is_start),
            Mode::Fencing => self.fencing_in_flight || self.fence_call.is_some(),
            _ => true,
        };
        assert!(
            agrees,
            "BUG: mode {mode:?} disagrees with the layers up ({:?}) or the step in flight \
             ({:?})",
            self.up, self.in_flight
        );
    }

    /// The actions `advance()` is about to record keep the safety rules: at most one step in
    /// flight; never a promote (or a shared-disk mount) unless the peer is proven not
    /// Primary, unless the operator forced it; never a power fence of a peer heard within the
    /// peer timeout, that DRBD shows connected, or that this core has not yet had one peer
    /// timeout to hear since it started.
    pub(crate) fn check_actions(&self, ready: &Ready) {
        self.check_power_query(&ready.actions);
        self.check_drbd_probe(&ready.actions);
        let runs: Vec<Step> = ready
            .actions
            .iter()
            .filter_map(|action| match action {
                Action::Run(step) => Some(*step),
                _ => None,
            })
            .collect();
        assert!(
            runs.len() <= 1 && (runs.is_empty() || self.in_flight.is_none()),
            "BUG: two actions in flight: {:?} while {:?} runs",
            runs,
            self.in_flight
        );
        // Paused, only an operator's command (a goal or a split-brain resolution) starts
        // anything: the cluster pause's promise (pause.rs).
        let on_its_own = self.pause.paused && self.operator.is_none() && self.resolve.is_none();
        assert!(
            !on_its_own || !runs.iter().any(|step| is_start(*step)),
            "BUG: {runs:?} asked on the core's own while the cluster is paused"
        );
        for step in runs {
            let takes_storage = match step {
                Step::Promote { force: false } => true,
                Step::Mount => !self.cfg.drbd && !self.any_up() && !self.forced(),
                _ => false,
            };
            assert!(
                !takes_storage || self.safe_to_take_over(),
                "BUG: {step} asked while the peer may be Primary: {:?}",
                self.drbd
            );
        }
        let fences = ready
            .actions
            .iter()
            .filter(|action| matches!(action, Action::PowerFencePeer))
            .count();
        assert!(
            fences == 0 || (fences == 1 && self.cfg.power_fence && !self.fencing_in_flight),
            "BUG: {fences} power fence(s) asked (configured: {}, one in flight: {})",
            self.cfg.power_fence,
            self.fencing_in_flight
        );
        // Paused, the only power fence is one DRBD's fence-peer already waits for (it began
        // before the pause, and DRBD holds I/O until it is answered) or an operator's.
        assert!(
            fences == 0
                || !self.pause.paused
                || self.fence_call_needs_power_fence()
                || self.operator.is_some(),
            "BUG: a power fence on the core's own while the cluster is paused"
        );
        let maybe_live =
            self.peer_fresh() || self.drbd.connected() || self.peer_unheard_since_start();
        assert!(
            fences == 0 || !maybe_live,
            "BUG: a power fence of a live peer (heard at tick {:?}, started at {}, now {}; \
             DRBD {})",
            self.peer_heard_at,
            self.started_at,
            self.now,
            self.drbd.connection
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::core::{Action, CoreConfig, Input, Node, PeerMessage, PeerView, Ready, Step};
    use crate::drbd::{DiskState, Role};

    fn node(power_fence: bool) -> Node {
        Node::new(
            CoreConfig {
                me: "a".into(),
                peer: "b".into(),
                drbd: true,
                peer_timeout_ticks: 5,
                flap_guard_ticks: 100,
                restart_limit: 2,
                restart_window_ticks: 50,
                power_fence,
                automatic_failover: true,
                fence_delay_ticks: 4,
                power_status: false,
                preferred: true,
            },
            None,
        )
    }

    /// The peer says it is Primary: nothing proves it is not.
    fn heard_primary(node: &mut Node) {
        node.step(Input::Peer(PeerMessage::Heartbeat(PeerView {
            role: Role::Primary,
            disk: DiskState::UpToDate,
            active: true,
            busy: false,
            paused: false,
            split_brain: false,
            drbd_known: true,
            stale_peer: false,
            pause: None,
        })));
    }

    fn asked(actions: Vec<Action>) -> Ready {
        Ready {
            actions,
            reason: "a buggy decision".into(),
        }
    }

    #[test]
    #[should_panic(expected = "BUG: promote asked while the peer may be Primary")]
    fn a_promote_while_the_peer_may_be_primary_stops_the_core() {
        let mut a = node(false);
        heard_primary(&mut a);
        a.advance(&asked(vec![Action::Run(Step::Promote { force: false })]));
    }

    #[test]
    #[should_panic(expected = "BUG: two actions in flight")]
    fn two_steps_at_once_stop_the_core() {
        let mut a = node(false);
        a.advance(&asked(vec![
            Action::Run(Step::Mount),
            Action::Run(Step::Umount),
        ]));
    }

    #[test]
    #[should_panic(expected = "BUG: a power fence of a live peer")]
    fn a_power_fence_of_a_peer_just_heard_stops_the_core() {
        let mut a = node(true);
        heard_primary(&mut a);
        a.advance(&asked(vec![Action::PowerFencePeer]));
    }
}
