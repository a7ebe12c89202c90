//! A deterministic two-node cluster around two real cores: a model of DRBD (roles, disks,
//! replication, fence-peer calls), a peer link that can be cut or lose messages, services
//! that take ticks to start, nodes that crash or get power-fenced. It checks the safety
//! invariants after every tick. A fake, for the decision core only: the same features are
//! tested on real parts in the host and VM labs.
// Shared by two test crates; each uses a different part.
#![allow(dead_code)]

use std::collections::VecDeque;
use tandem::cli::ops::HELPER_TIMEOUT_MS;
use tandem::core::power::PeerPower;
use tandem::core::{Action, CoreConfig, DrbdView, Health, Helper, Input, Node, PeerMessage, Step};
use tandem::drbd::{ConnectionState, DiskState, Role};
use tandem::exec::fence::{FenceCommandError, FENCE_COMMAND_TIMEOUT_MS};

pub const NAMES: [&str; 2] = ["a", "b"];

/// One simulated tick of wall-clock time: the sim's peer timeout of 5 ticks is then 1.5 s,
/// as the example config's `peer_timeout_ms = 1500`. It turns the daemon's wall-clock
/// bounds into ticks.
pub const SIM_TICK_MS: u64 = 300;
/// exec::fence kills a power-fence command that has not finished by then and reports it
/// failed: a hung fence command answers after this many ticks, never sooner.
pub const FENCE_TIMEOUT_TICKS: u64 = FENCE_COMMAND_TIMEOUT_MS.div_ceil(SIM_TICK_MS);
/// The helper shim (`tandem helper fence-peer`) gives up on tandemd after this many ticks
/// and answers DRBD 1.
pub const HELPER_TIMEOUT_TICKS: u64 = HELPER_TIMEOUT_MS.div_ceil(SIM_TICK_MS);
/// The most peer-link paths the simulation models.
pub const MAX_PEER_PATHS: usize = 2;

/// A small deterministic PRNG (xorshift64*), so a seed replays a schedule exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

pub struct SimNode {
    pub core: Node,
    pub alive: bool,
    pub role: Role,
    pub disk: DiskState,
    /// Writes made while Primary; a node behind its peer is stale.
    pub generation: u64,
    /// `drbdadm disconnect` was run: no reconnect until the peer reboots.
    pub standalone: bool,
    /// The step in flight and the tick it completes.
    pub pending: Option<(Step, u64)>,
    /// A promote waiting for DRBD's fence-peer answer: the helper call id.
    pub fence_wait: Option<u64>,
    /// Until this tick the node's daemon has not read DRBD's initial state dump yet (a slow
    /// `drbdsetup events2` at start): its core gets no DRBD input.
    pub drbd_dump_at: u64,
    /// Ran its part of a split-brain resolution (`connect`, or `connect --discard-my-data`).
    pub sb_reconnect: bool,
    /// A Primary's fence-peer call after losing the connection (helper call id).
    pub disconnect_call: Option<u64>,
    /// `fencing resource-and-stonith`: I/O is suspended while fence-peer runs, and stays
    /// suspended when the helper fails, until the connection is back.
    pub frozen: bool,
    /// The next run of this step fails with this error (transcripts' `fail-next`).
    pub fail_next: Option<(Step, String)>,
    last_view: Option<DrbdView>,
}

pub struct Cluster {
    pub nodes: [SimNode; 2],
    pub now: u64,
    pub peer_link: bool,
    /// One-way loss: messages to node i are dropped while `peer_to[i]` is false.
    pub peer_to: [bool; 2],
    pub repl_link: bool,
    /// Percent of peer messages lost (random simulation).
    pub loss_percent: u64,
    pub power_fence: bool,
    /// The power-fence command fails (a BMC that does not answer).
    pub power_fence_fails: bool,
    /// The power-fence command hangs: it neither succeeds nor fails until exec's timeout
    /// kills it and reports failure. The BMC may have acted anyway (its answer was lost).
    pub power_fence_hangs: bool,
    /// The power-status command gets no answer from the BMC (reads unknown).
    pub power_status_fails: bool,
    /// A hung power-fence command per node: the tick exec's timeout reports it failed.
    fence_hang: [Option<u64>; 2],
    /// Slow peer replies: each message takes 1 + up to this many more ticks (possibly past
    /// the peer timeout); 0 means one tick.
    pub peer_delay_max_ticks: u64,
    /// Peer-link paths (`peer_addresses`): the daemon sends every message on each live path
    /// and the receiver takes every copy, so with two paths messages arrive twice and the
    /// copies of different paths in any order.
    pub peer_paths: usize,
    /// Per path and direction, the tick the last message sent is due: TCP delivers one
    /// direction of one connection in order, so a later message never overtakes an earlier.
    last_due: [[u64; 2]; MAX_PEER_PATHS],
    /// A fence-peer helper's process takes this many ticks to reach tandemd (0: at once).
    pub helper_delay_ticks: u64,
    /// Helpers started but not yet at tandemd: (node, call, tick they reach it).
    slow_helpers: Vec<(usize, u64, u64)>,
    /// DRBD fence-peer calls waiting for tandemd's answer: (node, call, tick the shim gives up).
    helper_deadlines: Vec<(usize, u64, u64)>,
    /// The daemon drives its core (ready, advance, perform) after every input, not once a
    /// tick (daemon/mod.rs): the random simulation does so too; transcripts drive per tick.
    pub drive_after_input: bool,
    /// Nodes that took an input and have not been driven since.
    dirty: [bool; 2],
    /// Fault coverage, for the simulation's summary: power-fence commands that hung, and
    /// peer messages that arrived later than the peer timeout after they were sent.
    pub hung_fences: u64,
    pub late_messages: u64,
    in_transit: VecDeque<(usize, u64, PeerMessage)>,
    pub rng: Rng,
    /// Notable events, in order: what transcripts print.
    pub log: Vec<String>,
    next_call: u64,
    last_reason: [String; 2],
    pub split_brain: bool,
    was_connected: bool,
    /// The tick a peer message last reached each node: a node heard within the peer timeout
    /// must never be fenced.
    heard_at: [Option<u64>; 2],
}

pub fn core_config(index: usize, power_fence: bool) -> CoreConfig {
    CoreConfig {
        me: NAMES[index].into(),
        peer: NAMES[1 - index].into(),
        drbd: true,
        peer_timeout_ticks: 5,
        flap_guard_ticks: 100,
        restart_limit: 2,
        restart_window_ticks: 50,
        power_fence,
        automatic_failover: true,
        fence_delay_ticks: 4,
        power_status: false,
        preferred: index == 0,
    }
}

impl Cluster {
    pub fn new(seed: u64, power_fence: bool) -> Self {
        Self::with_config(seed, power_fence, |_| {})
    }

    /// As [`Cluster::new`], with both cores' config edited first (e.g. a longer timeout).
    pub fn with_config(seed: u64, power_fence: bool, edit: impl Fn(&mut CoreConfig)) -> Self {
        let config = |i| {
            let mut config = core_config(i, power_fence);
            edit(&mut config);
            config
        };
        let node = |i| SimNode {
            core: Node::new(config(i), None),
            alive: true,
            role: Role::Secondary,
            disk: DiskState::UpToDate,
            generation: 0,
            standalone: false,
            pending: None,
            fence_wait: None,
            drbd_dump_at: 0,
            sb_reconnect: false,
            disconnect_call: None,
            frozen: false,
            fail_next: None,
            last_view: None,
        };
        Self {
            nodes: [node(0), node(1)],
            now: 0,
            peer_link: true,
            peer_to: [true, true],
            repl_link: true,
            loss_percent: 0,
            power_fence,
            power_fence_fails: false,
            power_fence_hangs: false,
            power_status_fails: false,
            fence_hang: [None, None],
            peer_delay_max_ticks: 0,
            peer_paths: 1,
            last_due: [[0, 0]; MAX_PEER_PATHS],
            helper_deadlines: Vec::new(),
            helper_delay_ticks: 0,
            slow_helpers: Vec::new(),
            drive_after_input: false,
            dirty: [false, false],
            hung_fences: 0,
            late_messages: 0,
            in_transit: VecDeque::new(),
            rng: Rng::new(seed),
            log: Vec::new(),
            next_call: 1,
            last_reason: [String::new(), String::new()],
            split_brain: false,
            was_connected: true,
            heard_at: [None, None],
        }
    }

    pub fn connected(&self) -> bool {
        self.repl_link && self.nodes.iter().all(|n| n.alive && !n.standalone) && !self.split_brain
    }

    fn view(&self, i: usize) -> DrbdView {
        let (me, peer) = (&self.nodes[i], &self.nodes[1 - i]);
        let connected = self.connected();
        DrbdView {
            role: me.role.clone(),
            disk: me.disk.clone(),
            peer_role: if connected {
                peer.role.clone()
            } else {
                Role::Unknown
            },
            peer_disk: if connected {
                peer.disk.clone()
            } else {
                DiskState::DUnknown
            },
            connection: if connected {
                ConnectionState::Connected
            } else if me.standalone || self.split_brain {
                ConnectionState::StandAlone
            } else {
                ConnectionState::Connecting
            },
        }
    }

    /// One tick: deliver messages, complete steps, feed DRBD views, let cores decide.
    pub fn tick(&mut self) {
        self.now += 1;
        // DRBD suspends I/O (resource-and-stonith) as it loses the connection, before any
        // further write completes: fencing first, then this tick's writes.
        self.fence_on_disconnect();
        self.start_slow_helpers();
        self.drive_dirty();
        self.replicate();
        self.deliver();
        self.complete_steps();
        self.drive_dirty();
        self.expire_waits();
        for i in 0..2 {
            if !self.nodes[i].alive {
                continue;
            }
            let view = self.view(i);
            let dumped = self.now >= self.nodes[i].drbd_dump_at;
            if dumped && self.nodes[i].last_view.as_ref() != Some(&view) {
                self.nodes[i].last_view = Some(view.clone());
                self.input(i, Input::Drbd(view));
                self.drive_dirty();
            }
            let heartbeat = PeerMessage::Heartbeat(self.nodes[i].core.view());
            self.send(1 - i, heartbeat);
            self.nodes[i].core.tick();
            self.run_ready(i);
        }
        self.check_invariants();
    }

    /// One input to node `i`'s core; with `drive_after_input`, the node is driven before the
    /// next input, as the daemon's loop does.
    fn input(&mut self, i: usize, input: Input) {
        self.nodes[i].core.step(input);
        self.dirty[i] = self.drive_after_input;
    }

    fn drive_dirty(&mut self) {
        while let Some(i) = (0..2).find(|i| self.dirty[*i]) {
            self.dirty[i] = false;
            if self.nodes[i].alive {
                self.run_ready(i);
            }
        }
    }

    /// The daemon's wall-clock bounds: a hung power-fence command is killed and reported
    /// failed; a fence-peer helper shim stops waiting for tandemd and answers DRBD 1.
    fn expire_waits(&mut self) {
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
            if node.fence_wait == Some(call) || node.disconnect_call == Some(call) {
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
    fn call_fence_peer(&mut self, i: usize, call: u64) {
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
    fn start_slow_helpers(&mut self) {
        let now = self.now;
        let (due, waiting): (Vec<_>, Vec<_>) = self
            .slow_helpers
            .drain(..)
            .partition(|(_, _, at)| *at <= now);
        self.slow_helpers = waiting;
        for (i, call, _) in due {
            let node = &self.nodes[i];
            let waited_for = node.fence_wait == Some(call) || node.disconnect_call == Some(call);
            if node.alive && waited_for {
                self.log.push(format!(
                    "{}: the slow fence-peer helper reaches tandemd",
                    NAMES[i]
                ));
                self.reach_tandemd(i, call);
            }
        }
    }

    fn reach_tandemd(&mut self, i: usize, call: u64) {
        self.helper_deadlines
            .push((i, call, self.now + HELPER_TIMEOUT_TICKS));
        self.input(i, Input::Helper(Helper::FencePeer { call }));
    }

    pub fn run_ready(&mut self, i: usize) {
        let ready = self.nodes[i].core.ready();
        if ready.reason != self.last_reason[i] {
            self.last_reason[i] = ready.reason.clone();
            self.log
                .push(format!("{}: why: {}", NAMES[i], ready.reason));
        }
        self.nodes[i].core.advance(&ready);
        for action in ready.actions {
            self.perform(i, action);
        }
    }

    fn perform(&mut self, i: usize, action: Action) {
        let name = NAMES[i];
        match action {
            Action::Run(step) => {
                if step == (Step::Promote { force: false }) {
                    assert_eq!(
                        self.nodes[i].disk,
                        DiskState::UpToDate,
                        "INVARIANT: {name} asked to promote a disk that is not UpToDate at tick \
                         {}\n{}",
                        self.now,
                        self.log.join("\n")
                    );
                }
                self.log.push(format!("{name}: run {step}"));
                let latency = 1 + self.rng.below(2);
                self.nodes[i].pending = Some((step, self.now + latency));
            }
            Action::PowerFencePeer => {
                self.check_fence_is_justified(i);
                if self.power_fence_hangs {
                    // The BMC may have powered the peer off and lost its answer, or not.
                    let acted = self.rng.chance(50);
                    self.log.push(format!(
                        "{name}: power-fence {} HANGS (the BMC acted: {acted})",
                        NAMES[1 - i]
                    ));
                    if acted && self.nodes[1 - i].alive {
                        self.crash(1 - i);
                    }
                    self.fence_hang[i] = Some(self.now + FENCE_TIMEOUT_TICKS);
                    self.hung_fences += 1;
                    return;
                }
                if self.power_fence_fails {
                    self.log
                        .push(format!("{name}: power-fence {} FAILS", NAMES[1 - i]));
                    let error = "fence_ipmilan: connection timed out".to_string();
                    self.input(i, Input::PowerFenced(Err(error)));
                    return;
                }
                self.log
                    .push(format!("{name}: power-fence {}", NAMES[1 - i]));
                self.crash(1 - i);
                self.input(i, Input::PowerFenced(Ok(())));
            }
            Action::QueryPeerPower => {
                // The truth, or no answer at all (a BMC that does not reply): a reading
                // never claims off for a running peer.
                let power = if self.power_status_fails {
                    PeerPower::Unknown("fence_ipmilan: connection timed out".into())
                } else if self.nodes[1 - i].alive {
                    PeerPower::On
                } else {
                    PeerPower::Off
                };
                self.log.push(format!(
                    "{name}: power status of {}: {power:?}",
                    NAMES[1 - i]
                ));
                self.input(i, Input::PeerPower(power));
            }
            Action::Send(message) => {
                if !matches!(message, PeerMessage::Heartbeat(_)) {
                    self.log.push(format!("{name}: send {message:?}"));
                }
                self.send(1 - i, message);
            }
            Action::AnswerHelper { call, code } => {
                self.log.push(format!("{name}: fence-peer answer {code}"));
                self.on_fence_answer(i, call, code);
            }
            Action::Journal(event) => self.log.push(format!("{name}: journal {event:?}")),
            Action::Reply(reply) => self.log.push(format!("{name}: reply {reply:?}")),
        }
    }

    fn send(&mut self, to: usize, message: PeerMessage) {
        for path in 0..self.peer_paths.clamp(1, MAX_PEER_PATHS) {
            self.send_on(path, to, message.clone());
        }
    }

    fn send_on(&mut self, path: usize, to: usize, message: PeerMessage) {
        let lost = self.loss_percent > 0 && self.rng.chance(self.loss_percent);
        if self.peer_link && self.peer_to[to] && self.nodes[to].alive && !lost {
            let extra = match self.peer_delay_max_ticks {
                0 => 0,
                max => self.rng.below(max + 1),
            };
            let due = (self.now + 1 + extra).max(self.last_due[path][to]);
            self.last_due[path][to] = due;
            let timeout = self.nodes[to].core.config().peer_timeout_ticks;
            self.late_messages += u64::from(due - self.now > timeout);
            self.in_transit.push_back((to, due, message));
        }
    }

    fn deliver(&mut self) {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.in_transit.drain(..).partition(|m| m.1 <= now);
        self.in_transit = later.into();
        for (to, _, message) in due {
            if self.peer_link && self.peer_to[to] && self.nodes[to].alive {
                self.heard_at[to] = Some(now);
                self.input(to, Input::Peer(message));
                self.drive_dirty();
            }
        }
    }

    fn complete_steps(&mut self) {
        for i in 0..2 {
            let Some((step, at)) = self.nodes[i].pending else {
                continue;
            };
            if at > self.now || !self.nodes[i].alive || self.nodes[i].fence_wait.is_some() {
                continue;
            }
            // events2 reports every change in order: a change of this tick that came before
            // the step's role change (a lost connection while still Primary) is seen first.
            self.report_drbd_before_role_change(i, step);
            if let Some(result) = self.apply(i, step) {
                self.finish(i, step, result);
            }
        }
    }

    fn report_drbd_before_role_change(&mut self, i: usize, step: Step) {
        let changes_role = matches!(step, Step::Demote | Step::ForceDemote);
        let view = self.view(i);
        let node = &self.nodes[i];
        if changes_role && self.now >= node.drbd_dump_at && node.last_view.as_ref() != Some(&view) {
            self.nodes[i].last_view = Some(view.clone());
            self.input(i, Input::Drbd(view));
            self.drive_dirty();
        }
    }

    fn finish(&mut self, i: usize, step: Step, result: Result<(), String>) {
        self.nodes[i].pending = None;
        if let Err(e) = &result {
            self.log.push(format!("{}: {step} failed: {e}", NAMES[i]));
        }
        self.input(i, Input::Done { step, result });
    }

    /// The DRBD model's verdict on a step; `None` while it waits for fence-peer.
    fn apply(&mut self, i: usize, step: Step) -> Option<Result<(), String>> {
        let connected = self.connected();
        let peer_primary = self.nodes[1 - i].role == Role::Primary;
        let node = &mut self.nodes[i];
        if let Some((_, error)) = node.fail_next.take_if(|(failing, _)| *failing == step) {
            return Some(Err(error));
        }
        Some(match step {
            Step::Promote { force } => {
                if !force && node.disk != DiskState::UpToDate {
                    Err("NoUpToDateDisk".into())
                } else if connected && peer_primary {
                    Err("PeerIsPrimary".into())
                } else if !connected && !force {
                    let call = self.next_call;
                    self.next_call += 1;
                    self.nodes[i].fence_wait = Some(call);
                    self.call_fence_peer(i, call);
                    return None;
                } else {
                    node.role = Role::Primary;
                    if !force {
                        self.check_not_stale(i);
                    }
                    Ok(())
                }
            }
            Step::Demote | Step::ForceDemote => {
                node.role = Role::Secondary;
                Ok(())
            }
            Step::OutdateLocal if connected => {
                Err("Refusing to be Outdated while Connected".into())
            }
            Step::OutdateLocal => {
                node.disk = DiskState::Outdated;
                Ok(())
            }
            Step::Disconnect => {
                node.standalone = true;
                Ok(())
            }
            Step::Connect | Step::ConnectDiscardMyData => {
                if step == Step::ConnectDiscardMyData {
                    node.disk = DiskState::Outdated; // resynced from the peer once connected
                }
                node.sb_reconnect = true;
                if self.nodes.iter().all(|n| n.sb_reconnect) {
                    self.split_brain = false;
                    self.nodes.iter_mut().for_each(|n| n.sb_reconnect = false);
                    self.log
                        .push("DRBD: both reconnected, the victim resyncs".into());
                }
                Ok(())
            }
            _ => Ok(()),
        })
    }

    /// DRBD 8.4's `conn_try_outdate_peer` (docs/decisions.md has the table measured in the VM
    /// lab): 3, 4 and 7 mark the peer outdated and go on; 5 does too when the local disk is
    /// UpToDate ("peer dead"); 6 outdates the local disk; anything else is a broken helper:
    /// a promote is refused and a frozen Primary stays frozen.
    fn on_fence_answer(&mut self, i: usize, call: u64, code: u8) {
        let up_to_date = self.nodes[i].disk == DiskState::UpToDate;
        let goes_on = matches!(code, 3 | 4 | 7) || (code == 5 && up_to_date);
        if code == 6 {
            self.nodes[i].disk = DiskState::Outdated;
        }
        if self.nodes[i].disconnect_call == Some(call) {
            self.nodes[i].disconnect_call = None;
            if goes_on {
                self.nodes[i].frozen = false;
            }
            return;
        }
        if self.nodes[i].fence_wait != Some(call) {
            return;
        }
        self.nodes[i].fence_wait = None;
        let result = if goes_on && self.nodes[i].disk == DiskState::UpToDate {
            self.nodes[i].role = Role::Primary;
            self.check_not_stale(i);
            Ok(())
        } else {
            Err(format!("PeerNotOutdated (fence-peer answered {code})"))
        };
        if let Some((step, _)) = self.nodes[i].pending {
            self.finish(i, step, result);
        }
    }

    /// INVARIANT: a promoted disk holds every write the peer ever made (no stale promote).
    fn check_not_stale(&self, i: usize) {
        let (me, peer) = (&self.nodes[i], &self.nodes[1 - i]);
        assert!(
            me.generation >= peer.generation,
            "INVARIANT: {} promoted a stale disk at tick {} (generation {} < {}'s {})\n{}",
            NAMES[i],
            self.now,
            me.generation,
            NAMES[1 - i],
            peer.generation,
            self.log.join("\n")
        );
    }

    /// INVARIANT: a peer that this node's DRBD shows connected (as last reported to its
    /// core), or that was heard within the peer timeout, is alive: it is never power-fenced.
    fn check_fence_is_justified(&self, i: usize) {
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

    /// Writes and resyncs: a Primary writes every tick; a connected peer follows, a
    /// disconnected one falls behind; reconnecting after both wrote is a split-brain.
    fn replicate(&mut self) {
        let connected = self.connected();
        for i in 0..2 {
            let writes = self.nodes[i].alive && !self.nodes[i].frozen;
            if writes && self.nodes[i].role == Role::Primary {
                self.nodes[i].generation += 1;
                if connected {
                    self.nodes[1 - i].generation = self.nodes[i].generation;
                }
            }
        }
        if connected {
            let newest = self.nodes.iter().map(|n| n.generation).max().unwrap_or(0);
            for i in 0..2 {
                self.nodes[i].frozen = false;
                match self.nodes[i].disk {
                    DiskState::Outdated => {
                        self.nodes[i].disk = DiskState::UpToDate;
                        self.nodes[i].generation = self.nodes[1 - i].generation;
                    }
                    // DRBD compares generations on connect and resyncs the older disk (a
                    // rebooted Consistent one, or one that missed writes) from the newer.
                    _ if self.nodes[i].role != Role::Primary => {
                        self.nodes[i].disk = DiskState::UpToDate;
                        self.nodes[i].generation = newest;
                    }
                    _ => {}
                }
            }
        }
    }

    /// A Primary that loses its peer calls fence-peer; with a power fence the lab renders
    /// `fencing resource-and-stonith`, which suspends I/O until the helper succeeds.
    fn fence_on_disconnect(&mut self) {
        let connected = self.connected();
        let stonith = self.power_fence;
        if self.was_connected && !connected {
            for i in 0..2 {
                if self.nodes[i].alive && self.nodes[i].role == Role::Primary {
                    let call = self.next_call;
                    self.next_call += 1;
                    self.nodes[i].disconnect_call = Some(call);
                    self.nodes[i].frozen = stonith;
                    self.call_fence_peer(i, call);
                }
            }
        }
        self.was_connected = connected;
    }

    /// DRBD found both sides changed after a partition: both drop to StandAlone.
    pub fn split_brain(&mut self) {
        self.split_brain = true;
        self.log
            .push("DRBD: split-brain detected, both StandAlone".into());
        for i in 0..2 {
            if self.nodes[i].alive {
                let call = self.next_call;
                self.next_call += 1;
                self.input(i, Input::Helper(Helper::SplitBrain { call }));
            }
        }
    }

    /// A tandemd that dies takes its peer-link connections with it: what was in flight to
    /// it is lost (a new tandemd never reads its predecessor's sessions). What it sent is in
    /// the network or the peer's socket buffer already, and arrives.
    fn drop_sessions(&mut self, i: usize) {
        self.in_transit.retain(|(to, _, _)| *to != i);
        for path in &mut self.last_due {
            path[i] = 0;
        }
    }

    pub fn crash(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.alive = false;
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
        for call in [node.fence_wait, node.disconnect_call]
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

    fn check_invariants(&self) {
        let primaries: Vec<&str> = (0..2)
            .filter(|i| self.nodes[*i].alive && self.nodes[*i].role == Role::Primary)
            .map(|i| NAMES[i])
            .collect();
        assert!(
            primaries.len() < 2,
            "INVARIANT: two Primaries at tick {}: {primaries:?}\n{}",
            self.now,
            self.log.join("\n")
        );
    }

    /// Exactly one node serves: all its services up, and it is the only Primary.
    pub fn serving(&self) -> Vec<&'static str> {
        (0..2)
            .filter(|i| self.nodes[*i].alive && self.nodes[*i].core.view().active)
            .map(|i| NAMES[i])
            .collect()
    }
}
