//! DRBD's fence-peer protocol, as the core answers it.
//!
//! DRBD 8.4 runs the fence-peer handler (`tandem helper fence-peer`) when a Primary loses its
//! replication connection, and when a disconnected Secondary is promoted. The kernel
//! (`conn_try_outdate_peer`) reads the exit code; docs/decisions.md has the table measured in
//! the VM lab. The rules that follow from it:
//! - answer 4 (peer outdated) or 3 (peer inconsistent) only after the peer said so over the
//!   peer link, and 7 (peer stonithed) only after a power fence succeeded;
//! - never answer 5: with an UpToDate local disk the kernel reads it as "peer dead", marks
//!   the peer Outdated and promotes, which is exactly the lie that lets two nodes write;
//! - when nothing proves the peer outdated or off, answer 1 ([`FenceExit::Unproven`]): the
//!   kernel refuses a promote, and a Primary keeps running (with `resource-and-stonith` its
//!   I/O stays frozen). A Primary records that the peer may be stale as soon as the call
//!   starts (with resource-only fencing it goes on writing meanwhile, and may die before the
//!   peer is outdated), so the peer is never promoted automatically before it has resynced.

use super::decide::Goal;
use super::{Action, JournalEvent, Node, OutdateOutcome, PeerMessage, Step};
use crate::drbd::{DiskState, Role};
use serde::{Deserialize, Serialize};

/// Resend an unanswered OutdateRequest after this many ticks: the peer may have refused it
/// because its own DRBD still read Connected (DRBD refuses to outdate a connected disk).
pub const OUTDATE_RESEND_TICKS: u64 = 2;

/// The fence-peer exit codes tandem answers (DRBD 8.4's meanings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FenceExit {
    /// 3: the peer's disk is Inconsistent; DRBD marks it so and goes on.
    PeerInconsistent,
    /// 4: the peer's disk is now Outdated; DRBD goes on.
    PeerOutdated,
    /// 6: the peer is Primary; DRBD outdates the local disk (a promote fails).
    PeerPrimary,
    /// 7: the peer was powered off; DRBD marks it Outdated and goes on.
    PeerStonithed,
    /// 1: nothing proves the peer outdated or off. DRBD calls the helper broken: it refuses
    /// a promote, and a Primary's peer disk stays unknown.
    Unproven,
}

impl FenceExit {
    pub fn code(self) -> u8 {
        match self {
            FenceExit::PeerInconsistent => 3,
            FenceExit::PeerOutdated => 4,
            FenceExit::PeerPrimary => 6,
            FenceExit::PeerStonithed => 7,
            FenceExit::Unproven => 1,
        }
    }

    fn from_outcome(outcome: OutdateOutcome) -> Self {
        match outcome {
            OutdateOutcome::Outdated => FenceExit::PeerOutdated,
            OutdateOutcome::AlreadyInconsistent => FenceExit::PeerInconsistent,
            OutdateOutcome::RefusedPrimary | OutdateOutcome::RefusedAskerStale => {
                FenceExit::PeerPrimary
            }
        }
    }
}

/// A fence-peer call waiting for its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FenceCall {
    pub call: u64,
    pub asked_at: u64,
    /// When the last OutdateRequest went out.
    pub sent_at: u64,
    /// The peer could not be asked: the answer waits for a power fence of the peer.
    pub needs_power_fence: bool,
    /// events2 has shown the connection lost since the call (it may lag the helper).
    pub saw_disconnect: bool,
}

impl FenceCall {
    /// A call asked (and, without a power fence to wait for, sent to the peer) at `now`.
    fn new(call: u64, now: u64, needs_power_fence: bool, connected: bool) -> Self {
        Self {
            call,
            asked_at: now,
            sent_at: now,
            needs_power_fence,
            saw_disconnect: !connected,
        }
    }
}

impl Node {
    /// DRBD's fence-peer handler was called.
    pub(crate) fn on_fence_peer(&mut self, call: u64) {
        if let Some(old) = self.fence_call.take() {
            // DRBD runs one handler at a time: an older call is gone (its helper timed out).
            self.answer_fence(old.call, FenceExit::Unproven, "superseded by a new call");
        }
        if self.is_primary_here() {
            // Recorded before asking: with resource-only fencing this Primary goes on writing
            // while the call runs, and if it dies before the peer is outdated, the peer must
            // not be promoted over the writes it lacks (the record comes back from the
            // journal with this node, and travels in its heartbeats).
            let peer = self.cfg.peer.clone();
            self.mark_peer_stale(format!(
                "DRBD lost {peer} while this node was Primary; {peer} may lack writes made \
                 here until it has resynced"
            ));
        }
        if self.power_fenced {
            self.answer_fence(call, FenceExit::PeerStonithed, "the peer was power-fenced");
        } else if self.peer_fresh() {
            self.queued
                .push(Action::Send(PeerMessage::OutdateRequest { call }));
            self.fence_call = Some(FenceCall::new(call, self.now, false, self.drbd.connected()));
        } else {
            self.peer_unreachable(call);
        }
    }

    /// The peer cannot be asked to outdate itself. A paused node fences nobody: it answers
    /// 1 (with resource-and-stonith DRBD keeps I/O frozen until the operator acts).
    fn peer_unreachable(&mut self, call: u64) {
        let primary = self.is_primary_here();
        // A Primary: decide() power-fences the peer (no fence delay: the Primary goes first).
        // DRBD calls this handler once the connection is gone, even if events2 lags.
        // A standby's promote, or its probe (probe.rs), asks while this node power-fences the
        // silent peer, or is about to (its goal is the fence now): the fence's outcome is the
        // answer, 7 or 1. DRBD's promote then waits for it, instead of failing now and
        // calling this handler again (another fence-peer round trip in the failover).
        let primary_fences = primary && self.cfg.power_fence && !self.pause.paused;
        let standby_fences = !primary && (self.fencing_in_flight || self.standby_fences_now());
        if primary_fences || standby_fences {
            self.fence_call = Some(FenceCall::new(call, self.now, true, self.drbd.connected()));
            return;
        }
        let peer = self.cfg.peer.clone();
        self.answer_fence(
            call,
            FenceExit::Unproven,
            &format!("{peer} is silent and nothing proves its disk outdated"),
        );
        if primary {
            self.mark_peer_stale(format!(
                "DRBD lost {peer} while this node was Primary and {peer} could not be outdated"
            ));
        }
    }

    /// This standby's goal is to power-fence the peer now (takeover.rs decides when).
    fn standby_fences_now(&self) -> bool {
        self.cfg.power_fence && matches!(self.goal().0, Goal::PowerFencePeer)
    }

    pub(crate) fn is_primary_here(&self) -> bool {
        self.drbd.role == Role::Primary || self.up.contains(super::Layer::Primary)
    }

    pub(crate) fn answer_fence(&mut self, call: u64, exit: FenceExit, why: &str) {
        self.queued.push(Action::AnswerHelper {
            call,
            code: exit.code(),
        });
        self.queue_journal(JournalEvent::Fenced {
            how: "fence-peer".into(),
            result: format!("{exit:?} ({}): {why}", exit.code()),
        });
    }

    /// Once per tick: resend, or give up on the peer link.
    pub(crate) fn fence_tick(&mut self) {
        let Some(pending) = self.fence_call else {
            return;
        };
        if pending.needs_power_fence {
            if self.peer_fresh() && !self.fencing_in_flight {
                // Heard again before the fence started: ask it, never shoot a live peer.
                self.queued.push(Action::Send(PeerMessage::OutdateRequest {
                    call: pending.call,
                }));
                self.fence_call = Some(FenceCall {
                    asked_at: self.now,
                    sent_at: self.now,
                    needs_power_fence: false,
                    ..pending
                });
            } else if !self.is_primary_here()
                && !self.fencing_in_flight
                && !self.standby_fences_now()
            {
                // A standby waits only for a fence that runs or starts now: this one did not
                // start (the peer's power no longer reads off, a pause, ...).
                self.fence_call = None;
                let why = format!("{} is silent and was not power-fenced", self.cfg.peer);
                self.answer_fence(pending.call, FenceExit::Unproven, &why);
            }
            return; // otherwise answered by on_power_fenced
        }
        let waited = self.now - pending.asked_at;
        if !self.peer_fresh() {
            self.fence_call = None;
            self.peer_unreachable(pending.call);
        } else if waited > 2 * self.cfg.peer_timeout_ticks {
            // Heard, so alive and never fenced, but its disk is not proven outdated.
            self.fence_call = None;
            let peer = self.cfg.peer.clone();
            let why = format!("{peer} is heard but did not outdate its disk in time");
            self.answer_fence(pending.call, FenceExit::Unproven, &why);
            if self.is_primary_here() {
                self.mark_peer_stale(format!(
                    "DRBD lost {peer} while this node was Primary; {why}"
                ));
            }
        } else if self.now - pending.sent_at >= OUTDATE_RESEND_TICKS {
            self.queued.push(Action::Send(PeerMessage::OutdateRequest {
                call: pending.call,
            }));
            self.fence_call = Some(FenceCall {
                sent_at: self.now,
                ..pending
            });
        }
    }

    pub(crate) fn on_outdate_reply(&mut self, call: u64, outcome: OutdateOutcome) {
        if self.fence_call.is_none_or(|p| p.call != call) {
            return;
        }
        self.fence_call = None;
        self.answer_fence(
            call,
            FenceExit::from_outcome(outcome),
            &format!("{} answered over the peer link", self.cfg.peer),
        );
    }

    /// The peer's fence-peer asks this node to outdate its disk.
    pub(crate) fn on_outdate_request(&mut self, call: u64) {
        let promoting = matches!(self.in_flight, Some(Step::Promote { .. }));
        let outcome = if self.is_primary_here() || promoting {
            // A promote in flight may finish: outdating now would race it.
            Some(OutdateOutcome::RefusedPrimary)
        } else if self.peer_stale.is_some() {
            // This node holds the newer data: the stale asker outdates itself (exit 6).
            Some(OutdateOutcome::RefusedAskerStale)
        } else if self.drbd.disk == DiskState::Inconsistent {
            Some(OutdateOutcome::AlreadyInconsistent)
        } else if self.drbd.disk == DiskState::Outdated {
            Some(OutdateOutcome::Outdated)
        } else {
            None
        };
        match outcome {
            Some(outcome) => self
                .queued
                .push(Action::Send(PeerMessage::OutdateReply { call, outcome })),
            // The disk must be outdated first: decide() runs OutdateLocal, then replies.
            None => self.outdate_call = Some(call),
        }
    }

    /// A power fence ended; a fence-peer call waiting for it gets its answer.
    pub(crate) fn on_power_fenced(&mut self, result: Result<(), String>) {
        self.fencing_in_flight = false;
        self.power_fenced = result.is_ok();
        if result.is_ok() {
            self.power_fence_failures = 0;
            self.power_fence_failed_at = None;
        } else {
            // recovery.rs turns these into the backoff before the next attempt.
            self.power_fence_failures += 1;
            self.power_fence_failed_at = Some(self.now);
        }
        self.queue_journal(JournalEvent::Fenced {
            how: "power fence".into(),
            result: match &result {
                Ok(()) => "peer powered off".into(),
                Err(e) => format!("failed: {e}"),
            },
        });
        let Some(pending) = self.fence_call.filter(|p| p.needs_power_fence) else {
            return;
        };
        self.fence_call = None;
        match result {
            Ok(()) => self.answer_fence(
                pending.call,
                FenceExit::PeerStonithed,
                "the peer was power-fenced",
            ),
            Err(_) => {
                let peer = self.cfg.peer.clone();
                self.answer_fence(
                    pending.call,
                    FenceExit::Unproven,
                    &format!("the power fence of {peer} failed"),
                );
                if self.is_primary_here() {
                    self.mark_peer_stale(format!(
                        "DRBD lost {peer} while this node was Primary; the power fence failed"
                    ));
                }
            }
        }
    }

    /// A new DRBD view while a call waits: once the loss was seen, a Connected view means
    /// DRBD reconnected (the peer is alive and resyncs): the call is moot, nobody is fenced.
    pub(crate) fn fence_on_drbd(&mut self) {
        let Some(mut pending) = self.fence_call else {
            return;
        };
        if !self.drbd.connected() {
            pending.saw_disconnect = true;
            self.fence_call = Some(pending);
        } else if pending.saw_disconnect && !self.fencing_in_flight {
            self.fence_call = None;
            let why = format!("DRBD reconnected to {}: it is alive", self.cfg.peer);
            self.answer_fence(pending.call, FenceExit::Unproven, &why);
        }
    }

    /// Does a fence-peer call wait for a power fence that decide() should start?
    pub(crate) fn fence_call_needs_power_fence(&self) -> bool {
        self.fence_call.is_some_and(|p| p.needs_power_fence)
    }

    /// Records (journal) that the peer may hold stale data: it must not be promoted
    /// automatically before it has resynced from this node.
    pub(crate) fn mark_peer_stale(&mut self, detail: String) {
        // Shared-disk storage has one copy of the data: nothing can be stale.
        if self.peer_stale.is_some() || !self.cfg.drbd {
            return;
        }
        self.peer_stale = Some(detail.clone());
        self.queue_journal(JournalEvent::MayBeStale {
            node: self.cfg.peer.clone(),
            detail,
        });
    }

    /// The peer told this node that its data may be stale.
    pub(crate) fn mark_self_stale(&mut self, detail: String) {
        if self.self_stale.is_some() || self.in_sync() {
            return;
        }
        self.self_stale = Some(detail.clone());
        self.queue_journal(JournalEvent::MayBeStale {
            node: self.cfg.me.clone(),
            detail,
        });
    }

    /// DRBD is connected with both disks UpToDate: any stale record is history.
    pub(crate) fn clear_stale_if_synced(&mut self) {
        if !self.in_sync() {
            return;
        }
        if self.peer_stale.take().is_some() {
            let node = self.cfg.peer.clone();
            self.queue_journal(JournalEvent::StaleCleared { node });
        }
        if self.self_stale.take().is_some() {
            let node = self.cfg.me.clone();
            self.queue_journal(JournalEvent::StaleCleared { node });
        }
    }

    pub(crate) fn in_sync(&self) -> bool {
        self.drbd.connected()
            && self.drbd.disk == DiskState::UpToDate
            && self.drbd.peer_disk == DiskState::UpToDate
    }

    /// A stale record from the journal, before a restart.
    pub fn restore_stale(&mut self, node: &str, detail: String) {
        const SUFFIX: &str = " (from the journal, before a restart)";
        let detail = if detail.ends_with(SUFFIX) {
            detail
        } else {
            format!("{detail}{SUFFIX}")
        };
        if node == self.cfg.me {
            self.self_stale = Some(detail);
        } else if node == self.cfg.peer {
            self.peer_stale = Some(detail);
        }
    }
}
