//! The node's mode: one word for where it stands, derived from the facts the core holds after
//! every step, shown by `tandem status`, and checked against the layers that are up.
//!
//! ```text
//!            DRBD state known, peer heard or timed out
//! Starting ─────────────────────────────────────────────▶ Standby ◀──────────────┐
//!                                                          │    ▲                 │
//!                              start chain (promote first) │    │ stop chain done │
//!                                                          ▼    │                 │
//!   Fencing ◀── peer silent, no proof ── Standby      Promoting  Demoting ◀── operator,
//!      │        (fence delay first)                      │          ▲        local failure,
//!      └── fenced: the start chain may run ──▶ Promoting  │ all up   │        split-brain victim
//!                                                          ▼          │
//!                                                        Active ──────┘
//! Paused: any mode, observing only (operator commands still act).
//! Resolving: a split-brain resolution this node takes part in (docs/runbooks/split-brain.md).
//! ```

use super::{Layer, Node, Step, LAYERS};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// DRBD's initial state is not known yet, or the peer not heard yet nor timed out.
    Starting,
    /// Nothing up here.
    Standby,
    /// The start chain runs (some layers up, or a start step in flight).
    Promoting,
    /// Every layer is up.
    Active,
    /// The stop chain runs (a stop step in flight, an escalation, or a handover owed).
    Demoting,
    /// A power fence of the peer runs, or DRBD's fence-peer waits for its answer.
    Fencing,
    /// Part of a split-brain resolution.
    Resolving,
    /// Observing only: automatic decisions are off.
    Paused,
}

impl Node {
    /// Where this node stands, derived from its facts.
    pub fn mode(&self) -> Mode {
        let starting = (self.cfg.drbd && !self.drbd_known)
            || (!self.up.any() && self.peer_unheard_since_start());
        let stopping = self.in_flight.is_some_and(is_stop)
            || self.escalation().is_some()
            || (self.up.any() && self.owes_handover());
        if starting {
            Mode::Starting
        } else if self.pause.paused {
            Mode::Paused
        } else if self.resolve.is_some() {
            Mode::Resolving
        } else if self.fencing_in_flight || self.fence_call.is_some() {
            Mode::Fencing
        } else if stopping {
            Mode::Demoting
        } else if self.up.all() && self.in_flight.is_none() {
            Mode::Active
        } else if self.up.any() || self.in_flight.is_some_and(is_start) {
            Mode::Promoting
        } else {
            Mode::Standby
        }
    }
}

pub(crate) fn is_start(step: Step) -> bool {
    LAYERS.iter().any(|l| l.start() == step) || matches!(step, Step::Promote { .. })
}

fn is_stop(step: Step) -> bool {
    LAYERS.iter().any(|l| l.stop() == step)
        || matches!(step, Step::ForceDemote | Step::SelfFence)
        || (step == Layer::Primary.stop())
}
