//! New limits for a running core (a config reload). Identity never changes while the core
//! runs: the daemon refuses such a reload before it gets here.

use super::{CoreConfig, Node};

impl Node {
    /// Takes over `cfg`'s limits (timeouts, flap guard, restart limits, fencing and failover
    /// switches). Counters already running are measured against the new limits from the
    /// next tick on.
    pub fn reconfigure(&mut self, cfg: CoreConfig) {
        assert!(
            cfg.me == self.cfg.me
                && cfg.peer == self.cfg.peer
                && cfg.drbd == self.cfg.drbd
                && cfg.preferred == self.cfg.preferred,
            "BUG: a reload changed the core's identity: {:?} -> {cfg:?}",
            self.cfg
        );
        self.cfg = cfg;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Input, PeerMessage, PeerView};
    use crate::drbd::{DiskState, Role};

    fn config(peer_timeout_ticks: u64) -> CoreConfig {
        CoreConfig {
            me: "a".into(),
            peer: "b".into(),
            drbd: true,
            peer_timeout_ticks,
            flap_guard_ticks: 10,
            restart_limit: 3,
            restart_window_ticks: 100,
            power_fence: false,
            automatic_failover: true,
            fence_delay_ticks: 5,
            power_status: false,
            preferred: true,
        }
    }

    fn heartbeat() -> Input {
        Input::Peer(PeerMessage::Heartbeat(PeerView {
            role: Role::Secondary,
            disk: DiskState::UpToDate,
            active: false,
            busy: false,
            paused: false,
            split_brain: false,
            drbd_known: true,
            stale_peer: false,
            pause: None,
        }))
    }

    #[test]
    fn a_longer_peer_timeout_counts_from_the_next_tick() {
        let mut node = Node::new(config(3), None);
        node.step(heartbeat());
        for _ in 0..4 {
            node.tick();
        }
        assert!(!node.peer_fresh());
        node.reconfigure(config(6));
        assert!(node.peer_fresh());
        assert_eq!(node.config().peer_timeout_ticks, 6);
    }

    #[test]
    #[should_panic(expected = "BUG: a reload changed the core's identity")]
    fn identity_cannot_change() {
        let mut node = Node::new(config(3), None);
        let mut other = config(3);
        other.peer = "c".into();
        node.reconfigure(other);
    }
}
