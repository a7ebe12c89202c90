//! The DRBD probe: how a standby makes DRBD find a dead Primary peer sooner.
//!
//! DRBD 8.4 finds a dead peer late while a client writes: the Secondary's meta socket times
//! out every `ping-int`, and DRBD sends no ping when the data socket received anything within
//! that interval, so the ping goes out one interval after the last write and is declared lost
//! `ping-timeout` later (1.5-2.5 s with a 1 s interval and 500 ms timeout). Only one path
//! makes DRBD ping at once: a promote (`drbd_set_role` requests a ping before anything else).
//!
//! So a standby whose peer has been silent on the peer link for more than half the peer
//! timeout, while DRBD still shows that peer Connected and Primary, runs one promote per
//! silence: the probe (with the power-status query, if one is configured). It changes nothing by
//! itself, because DRBD decides it, not tandem:
//! - a live Primary peer answers the ping and DRBD refuses the promote (two Primaries are not
//!   allowed; it retries once after `ping-timeout` and refuses again): nothing changes;
//! - a dead peer does not answer, DRBD drops the connection `ping-timeout` later, and its
//!   retry asks the fence-peer handler, which is this core: it answers 7 only once it has
//!   power-fenced the peer (fence.rs), otherwise 1 (before the peer timeout it first asks
//!   the peer, which is silent, to outdate itself), and DRBD refuses.
//!
//! A promote DRBD accepts therefore leaves this node Primary only when the peer is proven off
//! or Secondary; the core then sees the role in events2, as after any promote. The rule that
//! no peer is fenced while DRBD shows it Connected is untouched: the probe only makes DRBD
//! tell the truth sooner.

use super::Node;
use crate::drbd::{DiskState, Role};

impl Node {
    /// A probe should go out now: a power fence is configured and an automatic failover could
    /// follow (otherwise a silent peer is never taken over from, so an early loss is worth
    /// nothing), the peer has been silent for more than half the peer timeout (not just
    /// unheard since this tandemd started), DRBD shows it Connected and Primary with an
    /// UpToDate disk here, and no probe went out in this silence.
    ///
    /// Half the timeout, not all of it: DRBD then reports a dead peer's loss about when the
    /// peer timeout ends (the probe's process start plus DRBD's `ping-timeout`), instead of
    /// `ping-timeout` after it, and the power status is read by then too.
    pub(crate) fn drbd_probe_due(&self) -> bool {
        self.cfg.drbd
            && self.cfg.power_fence
            && self.cfg.automatic_failover
            && self.flap_guard_until().is_none()
            && !self.pause.paused
            && self.self_stale.is_none()
            && self.peer_suspect()
            && self.drbd.connected()
            && self.drbd.peer_role == Role::Primary
            && self.drbd.role == Role::Secondary
            && self.drbd.disk == DiskState::UpToDate
            && self.drbd_probed_for != Some(self.peer_heard_at)
    }

    /// `advance()` saw the probe go out: none again until the peer is heard and silent anew.
    pub(crate) fn drbd_probe_sent(&mut self) {
        self.drbd_probed_for = Some(self.peer_heard_at);
    }

    /// The probe's half of a reason sentence.
    pub(crate) fn drbd_probe_said(&self) -> String {
        format!(
            "asking DRBD to ping it now with a promote DRBD refuses while {} is Primary and \
             Connected (the probe)",
            self.cfg.peer
        )
    }

    /// A batch holds at most one probe, and only when one is due.
    pub(crate) fn check_drbd_probe(&self, actions: &[super::Action]) {
        let probes = actions
            .iter()
            .filter(|action| matches!(action, super::Action::ProbeDrbdPeer))
            .count();
        assert!(
            probes == 0 || (probes == 1 && self.drbd_probe_due()),
            "BUG: a DRBD probe that is not due: {actions:?}"
        );
    }
}
