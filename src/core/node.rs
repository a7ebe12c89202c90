//! Building a node, what a restart hands it (adopted services, records from the journal),
//! and the small reads of its facts that the rest of the core shares.

use super::PeerView;
use super::{Action, CoreConfig, DrbdView, JournalEvent, Layer, LayerSet, Node, OperatorGoal};

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
            pause: super::ClusterPause::default(),
            split_brain: None,
            power_fenced: false,
            drbd_known: false,
            resolve: None,
            handover_at: None,
            handover_owed: false,
            handed_over_at: None,
            operator: None,
            mysqld_failures: Vec::new(),
            mysqld_failure: None,
            give_away_journaled: false,
            mysqld_hung: false,
            start_failed_at: None,
            stop_failed: None,
            power_fence_failures: 0,
            power_fence_failed_at: None,
            stop_failures: 0,
            stop_chain_failed_at: None,
            started_at: now,
            fence_call: None,
            peer_stale: None,
            self_stale: None,
            outdate_call: None,
            peer_power: None,
            drbd_probed_for: None,
            drbd_lost_peer: false,
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

    /// The peer has been silent for more than half the peer timeout, or is silent outright:
    /// when a standby starts to ask DRBD and the power status about it (probe.rs). Half,
    /// because `tandem status` already calls a silence over half the timeout a warning sign,
    /// and because a live peer never costs more than one refused promote per silence.
    pub(crate) fn peer_suspect(&self) -> bool {
        match self.peer_heard_at {
            Some(at) => self.now - at > self.cfg.peer_timeout_ticks / 2,
            None => !self.peer_unheard_since_start(),
        }
    }

    /// The last automatic failover is less than the anti-flapping guard ago: the tick the
    /// guard ends.
    pub(crate) fn flap_guard_until(&self) -> Option<u64> {
        self.last_failover_at
            .map(|at| at + self.cfg.flap_guard_ticks)
            .filter(|until| self.now < *until)
    }

    /// This core started less than one peer timeout ago and has not heard the peer yet: the
    /// peer is not silent, only not heard *by this process* (a restarted tandemd has no
    /// session yet, while its predecessor may have heard the peer a moment ago).
    pub(crate) fn peer_unheard_since_start(&self) -> bool {
        self.peer_heard_at.is_none() && self.now - self.started_at <= self.cfg.peer_timeout_ticks
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
}
