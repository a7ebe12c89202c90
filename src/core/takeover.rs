//! When a standby may take the service, and what proves that the peer is not Primary: the
//! standby's goals, the fence delay, and the safety predicate that advance() asserts.

use super::decide::Goal;
use super::{Node, PeerView};
use crate::drbd::{DiskState, Role};

impl Node {
    pub(crate) fn standby_goal(&self) -> (Goal, String) {
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
        if self.peer_fresh() && self.drbd_probe_due() {
            return self.suspect_peer_goal();
        }
        if let Some(p) = self.fresh_peer() {
            return self.heard_peer_goal(p);
        }
        if self.peer_fresh() {
            // Heard (an outdate request, a handover), but no heartbeat yet: alive.
            return (
                Goal::Hold,
                format!("{peer} is heard; waiting for its heartbeat"),
            );
        }
        if self.peer_unheard_since_start() {
            return (Goal::Hold, format!("waiting to hear from {peer}"));
        }
        self.peer_silent_goal()
    }

    /// The peer is heard and has sent its view: who starts, or who waits for whom.
    fn heard_peer_goal(&self, p: &PeerView) -> (Goal, String) {
        let peer = &self.cfg.peer;
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
        // The peer handed the service (back) to this node after this node last handed it
        // over: that is explicit, so the hold against ping-pong below does not apply.
        let handed_back = match (self.handover_at, self.handed_over_at) {
            (Some(back), Some(away)) => back > away,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if let Some(at) = self.handed_over_at.filter(|_| !handed_back) {
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
        (
            Goal::Hold,
            format!("nobody is active: waiting for {peer}, the preferred node, to start"),
        )
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
        if let Some(until) = self.flap_guard_until() {
            return (
                Goal::Hold,
                format!(
                    "{peer} is silent, but the last automatic failover was less than {} ticks \
                     ago (anti-flapping); not before tick {until}",
                    self.cfg.flap_guard_ticks,
                ),
            );
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
            // A read, not an action on the peer: when DRBD reports the loss (up to its ping
            // interval and timeout later), the reading is there already. The probe makes
            // DRBD report it sooner, and changes nothing on a live peer (probe.rs).
            let power = self.cfg.power_fence && self.power_query_due();
            let probe = self.drbd_probe_due();
            if power || probe {
                return (
                    Goal::Ask { power, probe },
                    format!(
                        "{peer} is silent on the peer link, but DRBD shows it Connected ({}): \
                         it is never fenced while so; {}",
                        self.drbd.peer_role,
                        self.asking_said(power, probe)
                    ),
                );
            }
            return (
                Goal::Hold,
                format!(
                    "{peer} is silent on the peer link, but DRBD shows it Connected ({}): it is \
                     alive and is never fenced; standby here",
                    self.drbd.peer_role
                ),
            );
        }
        self.unproven_silent_goal()
    }

    /// The peer has been silent for more than half the peer timeout while DRBD shows it
    /// Connected and Primary: probe DRBD and read the power status now, so that both answers
    /// are in when the peer timeout ends (probe.rs). Nothing else changes before it ends.
    fn suspect_peer_goal(&self) -> (Goal, String) {
        let power = self.power_query_due();
        (
            Goal::Ask { power, probe: true },
            format!(
                "{} has been silent on the peer link for over half the peer timeout, and DRBD \
                 shows it Connected ({}): {}",
                self.cfg.peer,
                self.drbd.peer_role,
                self.asking_said(power, true)
            ),
        )
    }

    /// What an [`Goal::Ask`] asks, for its reason sentence.
    fn asking_said(&self, power: bool, probe: bool) -> String {
        match (power, probe) {
            (true, true) => format!("asking its power status, and {}", self.drbd_probe_said()),
            (true, false) => "asking its power status meanwhile".to_string(),
            _ => format!("{}{}", self.drbd_probe_said(), self.power_reading_said()),
        }
    }

    /// A silent peer that nothing proves down: power-fence it (after the backoff of a failed
    /// fence, and after the fence delay), or, without a power fence, wait.
    fn unproven_silent_goal(&self) -> (Goal, String) {
        let peer = &self.cfg.peer;
        if let Some(retry) = self.power_fence_retry() {
            let at = retry.at;
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
                return self.fence_delay_goal(fence_at);
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

    /// Within the fence delay: a peer whose power reads off is fenced at once (it cannot
    /// shoot back); otherwise the power status is asked once, and the delay runs out.
    fn fence_delay_goal(&self, fence_at: u64) -> (Goal, String) {
        let peer = &self.cfg.peer;
        if self.peer_power_off() {
            return (
                Goal::PowerFencePeer,
                format!(
                    "{peer} is silent and its power reads off: power-fencing it now, without \
                     the fence delay (a node without power cannot shoot back)"
                ),
            );
        }
        if self.power_query_due() {
            return (
                Goal::Ask {
                    power: true,
                    probe: false,
                },
                format!(
                    "{peer} is silent and may still be Primary: asking its power status (off \
                     skips the fence delay; otherwise power-fencing it at tick {fence_at})"
                ),
            );
        }
        (
            Goal::Hold,
            format!(
                "{peer} is silent and may still be Primary: fence delay, power-fencing it at \
                 tick {fence_at} unless it is heard (a standby waits, so that both nodes never \
                 shoot each other){}",
                self.power_reading_said()
            ),
        )
    }

    /// How long this node waits beyond the peer timeout before power-fencing the peer: none
    /// for the preferred node when the peer was not active (two standbys: one must go first),
    /// the configured delay otherwise (an active peer fences from DRBD's fence-peer first).
    fn fence_delay_ticks(&self) -> u64 {
        // The last heartbeat, fresh or not: was the peer active when it went silent?
        let peer_was_active = self
            .peer
            .as_ref()
            .is_some_and(|p| p.role == Role::Primary || p.active);
        if self.cfg.preferred && !peer_was_active {
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

    /// May this node take the service now without risking two writers? One of: the peer is
    /// confirmed Secondary (peer link, or DRBD while connected), its disk is outdated, or it
    /// was power-fenced; and it must not be known Primary.
    pub(crate) fn safe_to_take_over(&self) -> bool {
        let peer_says_primary = self
            .fresh_peer()
            .is_some_and(|p| p.role == Role::Primary || p.active);
        if self.drbd.peer_role == Role::Primary || peer_says_primary {
            return false;
        }
        if self.cfg.drbd && self.drbd.disk != DiskState::UpToDate {
            return false;
        }
        if self.self_stale.is_some() {
            return false;
        }
        let confirmed_secondary = self.fresh_peer().is_some_and(|p| p.role == Role::Secondary)
            || (self.drbd.connected() && self.drbd.peer_role == Role::Secondary);
        let outdated = matches!(
            self.drbd.peer_disk,
            DiskState::Outdated | DiskState::Inconsistent
        );
        confirmed_secondary || (self.cfg.drbd && outdated) || self.power_fenced
    }
}
