//! A deterministic two-node cluster around two real cores: a model of DRBD (roles, disks,
//! replication, fence-peer calls), a peer link that can be cut or lose messages, services
//! that take ticks to start, nodes that crash or get power-fenced. It checks the safety
//! invariants after every tick. A fake, for the decision core only: the same features are
//! tested on real parts in the host and VM labs.
// Shared by two test crates; each uses a different part.
#![allow(dead_code)]

#[path = "sim/drbd.rs"]
mod drbd;
#[path = "sim/faults.rs"]
mod faults;
#[path = "sim/probe.rs"]
mod probe;

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
    /// A DRBD probe's promote is decided at this tick (sim/probe.rs).
    pub probe_at: Option<u64>,
    /// A DRBD probe's promote waits for this fence-peer call.
    pub probe_wait: Option<u64>,
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
    /// A dead Primary stays Connected in the survivor's DRBD view this many ticks (its
    /// missed ping; 0: at once). See sim/probe.rs.
    pub drbd_lag_ticks: u64,
    pub ghost: Option<probe::Ghost>,
    /// Coverage: DRBD probes the cores asked for, and those DRBD accepted.
    pub probes: u64,
    pub probes_promoted: u64,
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
            probe_at: None,
            probe_wait: None,
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
            drbd_lag_ticks: 0,
            ghost: None,
            probes: 0,
            probes_promoted: 0,
        }
    }

    pub fn connected(&self) -> bool {
        self.repl_link && self.nodes.iter().all(|n| n.alive && !n.standalone) && !self.split_brain
    }

    fn view(&self, i: usize) -> DrbdView {
        let (me, peer) = (&self.nodes[i], &self.nodes[1 - i]);
        let connected = self.drbd_connected(i);
        let (peer_role, peer_disk) = match &self.ghost {
            Some(ghost) if self.ghost_connected(i) => (Role::Primary, ghost.disk.clone()),
            _ => (peer.role.clone(), peer.disk.clone()),
        };
        DrbdView {
            role: me.role.clone(),
            disk: me.disk.clone(),
            peer_role: if connected { peer_role } else { Role::Unknown },
            peer_disk: if connected {
                peer_disk
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
        self.complete_probes();
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
            Action::ProbeDrbdPeer => self.start_probe(i),
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
