//! The simulation's faults and the daemon's bounds: crashes, boots, daemon restarts, mysqld
//! failures, slow or expiring DRBD helpers and hung power fences.

use super::*;

impl Cluster {
    /// The daemon's wall-clock bounds: a hung power-fence command is killed and reported
    /// failed; a fence-peer helper shim stops waiting for tandemd and answers DRBD 1.
    pub(super) fn expire_waits(&mut self) {
        for (i, name) in NAMES.iter().enumerate() {
            if self.fence_hang[i].is_some_and(|at| at <= self.now) {
                self.fence_hang[i] = None;
                let error = FenceCommandError::TimedOut {
                    what: "power-fence",
                    timeout_ms: FENCE_COMMAND_TIMEOUT_MS,
                };
                self.log
                    .push(format!("{name}: power-fence command timed out"));
                self.input(i, Input::PowerFenced(Err(error.to_string())));
            }
        }
        let now = self.now;
        let (expired, waiting): (Vec<_>, Vec<_>) = self
            .helper_deadlines
            .drain(..)
            .partition(|(_, _, at)| *at <= now);
        self.helper_deadlines = waiting;
        for (i, call, _) in expired {
            let node = &self.nodes[i];
            let waited_for = [node.fence_wait, node.disconnect_call, node.probe_wait];
            if waited_for.contains(&Some(call)) {
                self.log.push(format!(
                    "{}: fence-peer helper timed out: answers 1",
                    NAMES[i]
                ));
                self.on_fence_answer(i, call, 1);
            }
        }
        self.drive_dirty();
    }

    /// DRBD runs the fence-peer helper on node `i`; the shim waits for tandemd, bounded.
    /// With `helper_delay_ticks`, the helper's process takes that long to reach tandemd.
    pub(super) fn call_fence_peer(&mut self, i: usize, call: u64) {
        self.log
            .push(format!("{}: DRBD calls fence-peer", NAMES[i]));
        if self.helper_delay_ticks > 0 {
            let due = self.now + self.helper_delay_ticks;
            self.slow_helpers.push((i, call, due));
            return;
        }
        self.reach_tandemd(i, call);
    }

    /// Slow fence-peer helpers whose process has started by now reach tandemd.
    pub(super) fn start_slow_helpers(&mut self) {
        let now = self.now;
        let (due, waiting): (Vec<_>, Vec<_>) = self
            .slow_helpers
            .drain(..)
            .partition(|(_, _, at)| *at <= now);
        self.slow_helpers = waiting;
        for (i, call, _) in due {
            let node = &self.nodes[i];
            let waited_for =
                [node.fence_wait, node.disconnect_call, node.probe_wait].contains(&Some(call));
            if node.alive && waited_for {
                self.log.push(format!(
                    "{}: the slow fence-peer helper reaches tandemd",
                    NAMES[i]
                ));
                self.reach_tandemd(i, call);
            }
        }
    }

    pub(super) fn reach_tandemd(&mut self, i: usize, call: u64) {
        self.helper_deadlines
            .push((i, call, self.now + HELPER_TIMEOUT_TICKS));
        self.input(i, Input::Helper(Helper::FencePeer { call }));
    }

    /// INVARIANT: a peer that this node's DRBD shows connected (as last reported to its
    /// core), or that was heard within the peer timeout, is alive: it is never power-fenced.
    pub(super) fn check_fence_is_justified(&self, i: usize) {
        let timeout = self.nodes[i].core.config().peer_timeout_ticks;
        let heard_recently = self.heard_at[i].is_some_and(|at| self.now - at < timeout);
        let drbd_connected = self.nodes[i]
            .last_view
            .as_ref()
            .is_some_and(|view| view.connected());
        assert!(
            !drbd_connected && !heard_recently,
            "INVARIANT: {} power-fenced a live peer at tick {} (its DRBD shows connected: \
             {drbd_connected}, heard at {:?})\n{}",
            NAMES[i],
            self.now,
            self.heard_at[i],
            self.log.join("\n")
        );
    }

    /// A tandemd that dies takes its peer-link connections with it: what was in flight to
    /// it is lost (a new tandemd never reads its predecessor's sessions). What it sent is in
    /// the network or the peer's socket buffer already, and arrives.
    pub(super) fn drop_sessions(&mut self, i: usize) {
        self.in_transit.retain(|(to, _, _)| *to != i);
        for path in &mut self.last_due {
            path[i] = 0;
        }
    }

    pub fn crash(&mut self, i: usize) {
        self.leave_ghost(i);
        let node = &mut self.nodes[i];
        node.alive = false;
        node.probe_at = None;
        node.probe_wait = None;
        node.role = Role::Secondary;
        node.pending = None;
        node.fence_wait = None;
        node.disconnect_call = None;
        node.frozen = false;
        node.last_view = None;
        // A fence command in flight dies with its node; its outcome reaches no one.
        self.fence_hang[i] = None;
        self.drop_sessions(i);
        self.dirty[i] = false;
        self.log.push(format!("{}: crashed", NAMES[i]));
    }

    /// kill -9 of tandemd, then a new tandemd: DRBD and the services keep running; the new
    /// core adopts them; a helper call in flight gets the shim's fallback answer (1); DRBD's
    /// state reaches the new core after `dump_ticks`.
    pub fn restart_daemon(&mut self, i: usize, dump_ticks: u64) {
        let services = self.nodes[i].core.status().services;
        let up = |name: &str| services.iter().any(|(n, u)| n == name && *u);
        // The config file survives too, with the cluster's edits.
        let mut core = Node::new(self.nodes[i].core.config().clone(), None);
        for (name, detail) in self.nodes[i].core.status().stale {
            core.restore_stale(&name, detail);
        }
        // The journal survives: the cluster pause comes back (daemon/setup.rs).
        core.restore_pause(self.nodes[i].core.cluster_pause().clone());
        core.adopt(up("Mount"), up("Mysqld"), up("Vip"));
        let node = &mut self.nodes[i];
        node.core = core;
        node.pending = None;
        node.last_view = None;
        node.drbd_dump_at = self.now + dump_ticks;
        // A fence command the old tandemd started reports to nobody.
        self.fence_hang[i] = None;
        self.last_reason[i].clear();
        self.log.push(format!("{}: tandemd restarted", NAMES[i]));
        for call in [node.fence_wait, node.disconnect_call, node.probe_wait]
            .into_iter()
            .flatten()
        {
            self.on_fence_answer(i, call, 1);
        }
        self.drop_sessions(i);
    }

    /// Boots a crashed node: a fresh core, nothing running, DRBD Secondary.
    pub fn boot(&mut self, i: usize) {
        let records = self.nodes[i].core.status().stale;
        let pause = self.nodes[i].core.cluster_pause().clone();
        let node = &mut self.nodes[i];
        node.core = Node::new(node.core.config().clone(), None);
        node.core.restore_pause(pause);
        // The journal survives: its stale records come back (daemon/setup.rs).
        for (name, detail) in records {
            node.core.restore_stale(&name, detail);
        }
        node.alive = true;
        if self.ghost.as_ref().is_some_and(|ghost| ghost.of == i) {
            self.ghost = None;
        }
        let node = &mut self.nodes[i];
        // DRBD 8.4 attaches a disk whose peer was not known outdated as Consistent, not
        // UpToDate (drbd_adm_attach): it may have missed the peer's writes.
        if node.disk == DiskState::UpToDate {
            node.disk = DiskState::Consistent;
        }
        node.standalone = false;
        self.nodes[1 - i].standalone = false;
        self.last_reason[i].clear();
        self.log.push(format!("{}: booted", NAMES[i]));
    }

    pub fn crash_mysqld(&mut self, i: usize) {
        self.log.push(format!("{}: mysqld killed", NAMES[i]));
        let health = Health::MysqldExited("was killed by signal 9".into());
        self.input(i, Input::Health(health));
    }
}
