//! The decision core: a pure state machine you step. No I/O, no clock, no sleeping.
//!
//! ```text
//! loop {
//!     node.step(input);            // 1. feed every input (DRBD, peer, operator, outcomes)
//!     node.tick();                 // 2. once per tick: time passes, timeouts expire
//!     let ready = node.ready();    // 3. what to do now, and one sentence of why
//!     perform(ready.actions);      // 4. the daemon acts (exec/) and reports back as inputs
//!     node.advance(&ready);        // 5. the core records what it asked for
//! }
//! ```
//! Safety rules (docs/architecture.md, "The engine") are assertions here, on in release builds: the core never asks
//! to promote a disk that is not UpToDate (unless an operator forced it), and never while
//! the peer may be Primary.

pub mod action;
mod deadline;
mod decide;
pub mod fence;
pub mod input;
mod invariants;
mod layers;
pub mod mode;
mod node;
mod outcomes;
pub mod pause;
pub mod power;
mod probe;
mod reconfigure;
mod record;
mod recovery;
mod requests;
mod resolve;
pub mod status;
pub mod step;
mod takeover;

pub use action::{Action, JournalEvent, Reply, StateKey, Step};
pub use fence::FenceExit;
pub use input::{DrbdView, Health, Helper, Input, OutdateOutcome, PeerMessage, PeerView, Request};
pub use layers::{Layer, LayerSet, LAYERS};
pub use mode::Mode;
pub use pause::ClusterPause;
pub use resolve::{Phase as ResolvePhase, Resolve};
pub use status::Status;

pub use recovery::MAX_BACKOFF_DOUBLINGS;

use serde::{Deserialize, Serialize};

/// Fixed facts and limits, from the config; counted in ticks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreConfig {
    pub me: String,
    pub peer: String,
    /// `storage = "drbd"`; with shared-disk there is no DRBD role to change.
    pub drbd: bool,
    /// The peer is silent after this many ticks without a heartbeat.
    pub peer_timeout_ticks: u64,
    /// No automatic failover within this many ticks of the last one.
    pub flap_guard_ticks: u64,
    /// mysqld may be restarted this many times within `restart_window_ticks`.
    pub restart_limit: usize,
    pub restart_window_ticks: u64,
    /// A power-fence command is configured.
    pub power_fence: bool,
    /// A silent peer's service is taken over automatically (`[engine] automatic_failover`).
    pub automatic_failover: bool,
    /// A standby node waits this many ticks of peer silence beyond the peer timeout before
    /// it power-fences (the preferred node waits none when both are standby): a partition
    /// must not make both nodes shoot each other. See `Node::fence_delay_ticks`.
    pub fence_delay_ticks: u64,
    /// A power-status command is configured: a silent peer whose power reads off is fenced
    /// without the fence delay (power.rs).
    #[serde(default)]
    pub power_status: bool,
    /// When both nodes are idle and healthy, this one starts the service (the first node in
    /// the config): a deterministic tie-break.
    pub preferred: bool,
}

/// What the core asks for now, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    pub actions: Vec<Action>,
    pub reason: String,
}

/// What the operator asked for, until it is done or replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperatorGoal {
    Active {
        force: bool,
    },
    /// Stay standby; hand over to the peer once stopped.
    Standby,
}

/// One node's decision state.
#[derive(Debug, Clone)]
pub struct Node {
    pub(crate) cfg: CoreConfig,
    pub(crate) now: u64,
    pub(crate) drbd: DrbdView,
    pub(crate) peer: Option<PeerView>,
    pub(crate) peer_heard_at: Option<u64>,
    /// Which layers are up here.
    pub(crate) up: LayerSet,
    pub(crate) in_flight: Option<Step>,
    pub(crate) fencing_in_flight: bool,
    /// The cluster-wide pause (pause.rs): journaled, restored at start, shared in heartbeats.
    pub(crate) pause: ClusterPause,
    pub(crate) split_brain: Option<String>,
    pub(crate) power_fenced: bool,
    /// A DRBD state has arrived (the daemon feeds none before events2's initial dump).
    pub(crate) drbd_known: bool,
    /// A split-brain resolution this node takes part in.
    pub(crate) resolve: Option<Resolve>,
    /// The peer handed over at this tick.
    pub(crate) handover_at: Option<u64>,
    /// This node owes the peer a Handover once it is down.
    pub(crate) handover_owed: bool,
    /// This node handed over at this tick: it must not start again while the peer takes over.
    pub(crate) handed_over_at: Option<u64>,
    pub(crate) operator: Option<OperatorGoal>,
    pub(crate) last_failover_at: Option<u64>,
    /// When mysqld failed, within the restart window as of the last failure: decide()
    /// restarts it within `restart_limit` and gives the service away beyond (recovery.rs).
    pub(crate) mysqld_failures: Vec<u64>,
    /// What the last mysqld failure was, for the reason sentence.
    pub(crate) mysqld_failure: Option<String>,
    /// The FailoverStarted record of giving the service away has been handed out.
    pub(crate) give_away_journaled: bool,
    /// mysqld is running but not answering: stop it before starting it again.
    pub(crate) mysqld_hung: bool,
    /// A start step failed at this tick: decide() rolls back and waits before retrying.
    pub(crate) start_failed_at: Option<u64>,
    /// The stop-chain step that failed last, until a demote or self-fence succeeds: decide()
    /// escalates from it (demote --force, then self-fence).
    pub(crate) stop_failed: Option<Step>,
    /// Failed power fences in a row, and the tick the last one failed.
    pub(crate) power_fence_failures: u32,
    pub(crate) power_fence_failed_at: Option<u64>,
    /// Stop chains that ended with a failed self-fence, in a row, and the tick the last did.
    pub(crate) stop_failures: u32,
    pub(crate) stop_chain_failed_at: Option<u64>,
    /// When the core started; the peer gets one timeout to be heard before it counts silent.
    pub(crate) started_at: u64,
    /// DRBD's fence-peer waits for its answer (fence.rs).
    pub(crate) fence_call: Option<fence::FenceCall>,
    /// This node could not outdate the peer while Primary: the peer may hold stale data and
    /// must not be promoted before it has resynced (journaled, restored after a restart).
    pub(crate) peer_stale: Option<String>,
    /// The peer holds such a record about this node: no automatic promote here.
    pub(crate) self_stale: Option<String>,
    /// The peer asked this node to outdate itself.
    pub(crate) outdate_call: Option<u64>,
    /// This core saw DRBD lose the peer while Primary here; cleared when DRBD reconnects
    /// or this node is no longer Primary (power.rs).
    pub(crate) drbd_lost_peer: bool,
    /// The peer's power status, asked once per silence (power.rs).
    pub(crate) peer_power: Option<power::PowerReading>,
    /// The silence (the peer's last heartbeat) a DRBD probe went out in (probe.rs).
    pub(crate) drbd_probed_for: Option<Option<u64>>,
    /// Actions produced while handling inputs (replies, helper answers, journal).
    pub(crate) queued: Vec<Action>,
}

impl Node {
    /// One tick of time.
    pub fn tick(&mut self) {
        self.now += 1;
        self.fence_tick();
        self.check_invariants();
    }

    /// Records one input. Handlers record facts; `decide()` draws the consequences.
    pub fn step(&mut self, input: Input) {
        match input {
            Input::Drbd(view) => self.on_drbd(view),
            Input::Peer(message) => self.on_peer(message),
            Input::Control(request) => self.on_request(request),
            Input::Helper(helper) => self.on_helper(helper),
            Input::Health(health) => self.on_health(health),
            Input::Done { step, result } => self.on_done(step, result),
            Input::PowerFenced(result) => self.on_power_fenced(result),
            Input::PeerPower(power) => self.on_peer_power(power),
        }
        self.check_invariants();
    }

    /// What to do now. Pure: calling it twice gives the same answer.
    pub fn ready(&self) -> Ready {
        let decision = self.decide();
        let mut actions = self.queued.clone();
        actions.extend(decision.actions);
        Ready {
            actions,
            reason: decision.reason,
        }
    }

    /// Records that `ready`'s actions were handed to the daemon.
    pub fn advance(&mut self, ready: &Ready) {
        self.check_actions(ready);
        self.queued.clear();
        for action in &ready.actions {
            match action {
                Action::Run(step) => self.in_flight = Some(*step),
                Action::PowerFencePeer => self.fencing_in_flight = true,
                Action::QueryPeerPower => self.power_query_sent(),
                Action::ProbeDrbdPeer => self.drbd_probe_sent(),
                Action::Send(PeerMessage::Handover) => {
                    self.handover_owed = false;
                    self.handed_over_at = Some(self.now);
                    if self.operator == Some(OperatorGoal::Standby) {
                        self.operator = None;
                    }
                    // The failure that gave the service away is spent; earlier ones stay
                    // in the restart window.
                    self.mysqld_failures.truncate(self.cfg.restart_limit);
                    self.give_away_journaled = false;
                }
                Action::Journal(JournalEvent::FailoverStarted { .. }) => {
                    self.last_failover_at = Some(self.now);
                    self.give_away_journaled = self.restart_budget_spent();
                }
                _ => {}
            }
        }
        self.check_invariants();
    }
}
