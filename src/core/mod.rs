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
//! Safety rules (design.md §3) are assertions here, on in release builds: the core never asks
//! to promote a disk that is not UpToDate (unless an operator forced it), and never while
//! the peer may be Primary.

pub mod action;
mod deadline;
mod decide;
pub mod fence;
pub mod input;
mod layers;
pub mod mode;
mod outcomes;
mod reconfigure;
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
pub use resolve::{Phase as ResolvePhase, Resolve};
pub use status::Status;

use crate::drbd::{DiskState, Role};
use serde::{Deserialize, Serialize};

/// A failing power fence or stop chain is retried after 1, 2, 4, … peer timeouts, at most
/// 32: soon enough to recover from a transient fault, rare enough not to hammer a BMC or
/// reboot-loop a node.
pub const MAX_BACKOFF_DOUBLINGS: u32 = 5;

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
    pub(crate) paused: bool,
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
    pub(crate) restarts: Vec<u64>,
    /// mysqld is running but not answering: stop it before starting it again.
    pub(crate) mysqld_hung: bool,
    /// mysqld failed more often than the restart limit allows: give the service away.
    pub(crate) local_failure: Option<String>,
    /// A start step failed: do not retry before this tick.
    pub(crate) start_blocked_until: Option<deadline::Deadline>,
    /// A stop step failed: the next, harder step to try (demote --force, then self-fence).
    pub(crate) escalation: Option<Step>,
    /// Failed power fences in a row, and when the next may run (exponential backoff).
    pub(crate) power_fence_failures: u32,
    pub(crate) power_fence_retry_at: Option<deadline::Deadline>,
    /// Stop chains that ended with a failed self-fence, in a row, and when to try again.
    pub(crate) stop_failures: u32,
    pub(crate) stop_retry_at: Option<deadline::Deadline>,
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
    /// Actions produced while handling inputs (replies, helper answers, journal).
    pub(crate) queued: Vec<Action>,
}

impl Node {
    /// A fresh core. `last_failover_ago_ticks` comes from the journal, so that a restart does
    /// not reset the anti-flapping guard.
    pub fn new(cfg: CoreConfig, last_failover_ago_ticks: Option<u64>) -> Self {
        let now = cfg.flap_guard_ticks;
        Self {
            last_failover_at: last_failover_ago_ticks.map(|ago| now.saturating_sub(ago)),
            cfg,
            now,
            drbd: DrbdView::unknown(),
            peer: None,
            peer_heard_at: None,
            up: LayerSet::default(),
            in_flight: None,
            fencing_in_flight: false,
            paused: false,
            split_brain: None,
            power_fenced: false,
            drbd_known: false,
            resolve: None,
            handover_at: None,
            handover_owed: false,
            handed_over_at: None,
            operator: None,
            restarts: Vec::new(),
            local_failure: None,
            mysqld_hung: false,
            start_blocked_until: None,
            escalation: None,
            power_fence_failures: 0,
            power_fence_retry_at: None,
            stop_failures: 0,
            stop_retry_at: None,
            started_at: now,
            fence_call: None,
            peer_stale: None,
            self_stale: None,
            outdate_call: None,
            queued: Vec::new(),
        }
    }

    /// Tells the core what is already running (a restarted daemon adopts, never restarts).
    pub fn adopt(&mut self, mounted: bool, mysqld: bool, vip: bool) {
        self.up.set(Layer::Mount, mounted);
        self.up.set(Layer::Mysqld, mysqld);
        self.up.set(Layer::Vip, vip);
        if !self.cfg.drbd {
            self.up.set(Layer::Primary, mounted);
        }
    }

    /// A split-brain the journal says was detected and never resolved, before a restart: the
    /// hold comes back with it (and ends as usual once DRBD is in sync again).
    pub fn restore_split_brain(&mut self, detail: String) {
        self.split_brain = Some(format!("{detail} (from the journal, before a restart)"));
    }

    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    /// One tick of time.
    pub fn tick(&mut self) {
        self.now += 1;
        self.fence_tick();
        self.check_invariants();
    }

    pub fn step(&mut self, input: Input) {
        match input {
            Input::Drbd(view) => self.on_drbd(view),
            Input::Peer(message) => self.on_peer(message),
            Input::Control(request) => self.on_request(request),
            Input::Helper(helper) => self.on_helper(helper),
            Input::Health(health) => self.on_health(health),
            Input::Done { step, result } => self.on_done(step, result),
            Input::PowerFenced(result) => self.on_power_fenced(result),
        }
        self.check_invariants();
    }

    /// Facts that must hold together after every step, tick and advance; a violation is a
    /// bug in the core, so these stay on in release builds.
    fn check_invariants(&self) {
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
        self.queued.clear();
        for action in &ready.actions {
            match action {
                Action::Run(step) => {
                    let takes_storage = match step {
                        Step::Promote { force: false } => true,
                        Step::Mount => !self.cfg.drbd && !self.any_up() && !self.forced(),
                        _ => false,
                    };
                    if takes_storage {
                        assert!(
                            self.safe_to_take_over(),
                            "BUG: promote asked while unsafe: {:?}",
                            self.drbd
                        );
                    }
                    assert!(self.in_flight.is_none(), "BUG: two actions in flight");
                    self.in_flight = Some(*step);
                }
                Action::PowerFencePeer => self.fencing_in_flight = true,
                Action::Send(PeerMessage::Handover) => {
                    self.handover_owed = false;
                    self.handed_over_at = Some(self.now);
                    if self.operator == Some(OperatorGoal::Standby) {
                        self.operator = None;
                    }
                    self.local_failure = None;
                }
                Action::Journal(JournalEvent::FailoverStarted { .. }) => {
                    self.last_failover_at = Some(self.now)
                }
                _ => {}
            }
        }
        self.check_invariants();
    }

    pub(crate) fn forced(&self) -> bool {
        matches!(self.operator, Some(OperatorGoal::Active { force: true }))
    }

    pub(crate) fn queue_journal(&mut self, event: JournalEvent) {
        self.queued.push(Action::Journal(event));
    }

    pub(crate) fn peer_fresh(&self) -> bool {
        self.peer_heard_at
            .is_some_and(|at| self.now - at <= self.cfg.peer_timeout_ticks)
    }

    /// The peer's view, if it is fresh.
    pub(crate) fn fresh_peer(&self) -> Option<&PeerView> {
        self.peer.as_ref().filter(|_| self.peer_fresh())
    }

    pub(crate) fn all_up(&self) -> bool {
        self.up.all()
    }

    pub(crate) fn any_up(&self) -> bool {
        self.up.any()
    }

    fn on_drbd(&mut self, view: DrbdView) {
        if self.cfg.drbd {
            self.up.set(Layer::Primary, view.role == Role::Primary);
        }
        if view.connected() && view.peer_disk == DiskState::UpToDate {
            // Reconnected and in sync: whatever fencing said about the peer is history.
            self.power_fenced = false;
            if view.disk == DiskState::UpToDate {
                if self.split_brain.take().is_some() {
                    // Only a resolution reconnects a split-brain: one side's changes were
                    // discarded and both disks hold the same data again.
                    self.queue_journal(JournalEvent::SplitBrainResolved);
                }
                self.end_resolve();
            }
        }
        self.drbd = view;
        self.drbd_known = true;
        self.fence_on_drbd();
        self.clear_stale_if_synced();
    }

    fn on_peer(&mut self, message: PeerMessage) {
        self.peer_heard_at = Some(self.now);
        match message {
            PeerMessage::Heartbeat(view) => {
                if view.role == Role::Primary || view.active {
                    self.handover_at = None;
                }
                if view.stale_peer {
                    let peer = self.cfg.peer.clone();
                    self.mark_self_stale(format!(
                        "{peer} could not outdate this node while it was Primary"
                    ));
                }
                self.peer = Some(view);
            }
            PeerMessage::Handover => self.handover_at = Some(self.now),
            PeerMessage::StepDown => {
                if self.any_up() {
                    self.operator = Some(OperatorGoal::Standby);
                    self.handover_owed = true;
                    self.queue_journal(JournalEvent::SwitchoverStarted {
                        to: self.cfg.peer.clone(),
                    });
                }
            }
            PeerMessage::OutdateRequest { call } => self.on_outdate_request(call),
            PeerMessage::ResolveSplitBrain { keep, backup } => self.begin_resolve(&keep, backup),
            PeerMessage::OutdateReply { call, outcome } => self.on_outdate_reply(call, outcome),
        }
    }

    fn on_helper(&mut self, helper: Helper) {
        match helper {
            Helper::FencePeer { call } => self.on_fence_peer(call),
            Helper::UnfencePeer { call } => {
                self.queued.push(Action::AnswerHelper { call, code: 0 })
            }
            Helper::SplitBrain { call } => {
                let detail = "DRBD reported split-brain; the connection was dropped".to_string();
                self.split_brain = Some(detail.clone());
                self.queue_journal(JournalEvent::SplitBrain { detail });
                self.queued.push(Action::AnswerHelper { call, code: 0 });
            }
        }
    }
}
