//! Seeded random-fault simulation of two real cores (TigerBeetle VOPR style). Each schedule
//! injects random faults — peer-link and replication-link cuts (both ways or one way),
//! message loss, slow peer replies (delayed past the peer timeout, in order per direction as
//! TCP delivers them), two peer-link paths (every message twice, reordered across paths), crashes and reboots, tandemd restarts (with DRBD's state arriving
//! late), power fences that work, fail, or hang until exec's timeout reports failure (the
//! BMC having acted or not), mysqld crashes, operator switchovers and pauses — while
//! the cluster model (DRBD's fence-peer exit codes as the kernel reads them, I/O frozen with
//! resource-and-stonith, Consistent disks after a reboot, resync on connect) asserts the
//! safety invariants after every step: never two Primaries, never a promote of a disk that
//! is not UpToDate or that lacks the peer's writes, never a power fence of a peer that was
//! heard within the peer timeout or that DRBD shows connected. Then everything heals and exactly one node must
//! serve (liveness).
//!
//! The cores are driven after every input, as the daemon's loop drives them.
//!
//! It prints its seed. Replay one schedule: `TANDEM_SIM_SEED=<seed> cargo test --test core_sim`.
//! More schedules: `TANDEM_SIM_SCHEDULES=100000` (split over the tests below, which libtest
//! runs in parallel).

#[path = "common/sim.rs"]
mod sim;

use sim::{Cluster, Rng, NAMES};
use tandem::core::{Input, Request};

/// Enough schedules to cover the fault combinations, few enough to keep CI fast.
const DEFAULT_SCHEDULES: u64 = 10_000;
/// The schedules are split into this many tests, so that libtest runs them in parallel.
const SHARDS: u64 = 4;
/// A slow peer link delays a message by up to this many ticks beyond the first: past the
/// peer timeout (5 ticks), so that a slow peer looks silent and is heard again.
const MAX_PEER_DELAY_TICKS: u64 = 8;
const FAULT_TICKS: u64 = 200;
/// A slow fence-peer helper reaches tandemd up to this many ticks late: past the standby's
/// peer timeout plus fence delay (5 + 4 ticks), as the VM lab saw under load.
const MAX_HELPER_DELAY_TICKS: u64 = 12;
/// After healing, a healthy pair must settle within this many ticks.
const HEAL_TICKS: u64 = 400;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn inject_fault(cluster: &mut Cluster, rng: &mut Rng) {
    let i = rng.below(2) as usize;
    match rng.below(100) {
        0..=2 => cluster.peer_link = !cluster.peer_link,
        3..=5 => cluster.repl_link = !cluster.repl_link,
        14 => cluster.peer_to[i] = !cluster.peer_to[i],
        15 => cluster.power_fence_fails = !cluster.power_fence_fails,
        21 => cluster.power_status_fails = !cluster.power_status_fails,
        22 | 23 => {
            // A fence-peer helper process that takes long to start (a loaded host).
            cluster.helper_delay_ticks = match cluster.helper_delay_ticks {
                0 => 1 + rng.below(MAX_HELPER_DELAY_TICKS),
                _ => 0,
            }
        }
        16 | 19 | 20 => cluster.power_fence_hangs = !cluster.power_fence_hangs,
        17 | 18 => {
            cluster.peer_delay_max_ticks = match cluster.peer_delay_max_ticks {
                0 => 1 + rng.below(MAX_PEER_DELAY_TICKS),
                _ => 0,
            }
        }
        6 if cluster.nodes.iter().all(|n| n.alive) => cluster.crash(i),
        13 if cluster.nodes[i].alive => {
            let dump_ticks = rng.below(4);
            cluster.restart_daemon(i, dump_ticks)
        }
        7..=9 if !cluster.nodes[i].alive => cluster.boot(i),
        10 if cluster.nodes[i].alive => cluster.crash_mysqld(i),
        11 if cluster.nodes[i].alive => {
            let to = NAMES[rng.below(2) as usize].to_string();
            cluster.nodes[i]
                .core
                .step(Input::Control(Request::Switchover { to }));
            cluster.run_ready(i);
        }
        12 if cluster.nodes[i].alive => {
            let (reason, at_unix_ms) = (String::new(), cluster.now);
            let request = if rng.chance(50) {
                Request::Pause { reason, at_unix_ms }
            } else {
                Request::Resume { reason, at_unix_ms }
            };
            cluster.nodes[i].core.step(Input::Control(request));
            cluster.run_ready(i);
        }
        _ => {}
    }
}

fn heal(cluster: &mut Cluster) {
    cluster.peer_link = true;
    cluster.peer_to = [true, true];
    cluster.power_fence_fails = false;
    cluster.power_fence_hangs = false;
    cluster.power_status_fails = false;
    cluster.helper_delay_ticks = 0;
    cluster.peer_delay_max_ticks = 0;
    cluster.repl_link = true;
    cluster.loss_percent = 0;
    for i in 0..2 {
        if !cluster.nodes[i].alive {
            cluster.boot(i);
        }
        let (reason, at_unix_ms) = ("heal".to_string(), cluster.now);
        let resume = Request::Resume { reason, at_unix_ms };
        cluster.nodes[i].core.step(Input::Control(resume));
        cluster.run_ready(i);
    }
}

/// What one schedule exercised, summed over a shard and printed.
#[derive(Default)]
struct Coverage {
    hung_fences: u64,
    late_messages: u64,
    schedules_with_hung_fence: u64,
    schedules_with_late_messages: u64,
    probes: u64,
    probes_promoted: u64,
}

fn run_schedule(seed: u64) -> Coverage {
    let mut rng = Rng::new(seed);
    let power_fence = rng.chance(50);
    // With a power fence, half the schedules also read the peer's power status.
    let power_status = power_fence && rng.chance(50);
    let mut cluster = Cluster::with_config(seed, power_fence, |c| c.power_status = power_status);
    cluster.drive_after_input = true;
    // One peer-link path, or two: then every message arrives twice, in any order across the
    // paths (the daemon sends on every live path and does not deduplicate).
    cluster.peer_paths = 1 + rng.below(2) as usize;
    cluster.loss_percent = rng.below(20);
    // A dead Primary stays Connected in the survivor's DRBD view up to 8 ticks (2.4 s: DRBD's
    // ping interval and timeout, longer than the peer timeout), or 0: the probe's case.
    cluster.drbd_lag_ticks = rng.below(9);
    let fault_percent = 5 + rng.below(20);
    for _ in 0..FAULT_TICKS {
        if rng.chance(fault_percent) {
            inject_fault(&mut cluster, &mut rng);
        }
        cluster.tick();
    }
    heal(&mut cluster);
    for _ in 0..HEAL_TICKS {
        cluster.tick();
    }
    let serving = cluster.serving();
    assert!(
        serving.len() == 1,
        "LIVENESS: seed {seed}: after healing, serving = {serving:?}\nreasons: a: {} | b: {}\n\
         last events:\n{}",
        cluster.nodes[0].core.status().reason,
        cluster.nodes[1].core.status().reason,
        cluster.log[cluster.log.len().saturating_sub(60)..].join("\n")
    );
    Coverage {
        hung_fences: cluster.hung_fences,
        late_messages: cluster.late_messages,
        schedules_with_hung_fence: u64::from(cluster.hung_fences > 0),
        schedules_with_late_messages: u64::from(cluster.late_messages > 0),
        probes: cluster.probes,
        probes_promoted: cluster.probes_promoted,
    }
}

/// Runs shard `shard` of the schedules: seeds base+shard, base+shard+SHARDS, …
fn run_shard(shard: u64) {
    if let Some(seed) = env_u64("TANDEM_SIM_SEED") {
        if shard == 0 {
            println!("SEED={seed} (replay of one schedule)");
            run_schedule(seed);
        }
        return;
    }
    // One base for every shard, however their start times fall.
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| {
        env_u64("TANDEM_SIM_BASE_SEED").unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(1)
        })
    });
    let schedules = env_u64("TANDEM_SIM_SCHEDULES").unwrap_or(DEFAULT_SCHEDULES);
    println!(
        "SEED base={base}, shard {shard} of {SHARDS}, {schedules} schedules in all; replay one \
         with TANDEM_SIM_SEED=<base+n>"
    );
    let mut total = Coverage::default();
    for n in (shard..schedules).step_by(SHARDS as usize) {
        let seed = base.wrapping_add(n);
        match std::panic::catch_unwind(|| run_schedule(seed)) {
            Ok(coverage) => {
                total.hung_fences += coverage.hung_fences;
                total.late_messages += coverage.late_messages;
                total.schedules_with_hung_fence += coverage.schedules_with_hung_fence;
                total.schedules_with_late_messages += coverage.schedules_with_late_messages;
                total.probes += coverage.probes;
                total.probes_promoted += coverage.probes_promoted;
            }
            Err(panic) => {
                eprintln!("FAILED SEED={seed}: replay with TANDEM_SIM_SEED={seed}");
                std::panic::resume_unwind(panic);
            }
        }
    }
    println!(
        "shard {shard}: {} hung power fences in {} schedules; {} peer messages later than the \
         peer timeout in {} schedules; {} DRBD probes, {} accepted by DRBD",
        total.hung_fences,
        total.schedules_with_hung_fence,
        total.late_messages,
        total.schedules_with_late_messages,
        total.probes,
        total.probes_promoted
    );
}

#[test]
fn random_faults_keep_the_invariants_0() {
    run_shard(0);
}

#[test]
fn random_faults_keep_the_invariants_1() {
    run_shard(1);
}

#[test]
fn random_faults_keep_the_invariants_2() {
    run_shard(2);
}

#[test]
fn random_faults_keep_the_invariants_3() {
    run_shard(3);
}
