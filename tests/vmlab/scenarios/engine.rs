//! The engine on real DRBD: tandemd on both guests, MariaDB on the DRBD filesystem, the VIP on
//! `lan0`, DRBD `fencing resource-only` with tandem's fence-peer handler, and a client on
//! vm-b writing a row every 10 ms through the VIP. After every fault, every write the client
//! saw acknowledged must be on the node that serves.
//!
//! The client runs on vm-b, so while vm-b serves it reaches the VIP locally; there is no third
//! guest (two TCG guests already fill the host's two cores).

use crate::lab::{Lab, Link, Node, RESOURCE};
use crate::observe::in_sync;
use std::time::{Duration, Instant};
use tandem::drbd::{ConnectionState, DiskState, Role};

/// A switchover under TCG: mysqld stop, umount, demote, promote, mount, mysqld start, VIP.
const MOVE_TIMEOUT: Duration = Duration::from_secs(120);
/// Where the lab installs `tandem-drbd-helper` (lab.rs), the config's default.
const DIRECT_HELPER: &str = tandem::config::DEFAULT_USERMODE_HELPER;
/// How long the client writes before and after a fault.
const WRITE_PAUSE: Duration = Duration::from_secs(3);

/// `tandem switchover --to vm-b` run on the active node, then `--to vm-a` run on the standby.
pub fn switchover_both_ways(lab: &mut Lab) {
    lab.start_engine();
    let client = lab.start_client(Node::B, 0);
    std::thread::sleep(WRITE_PAUSE);

    let started = Instant::now();
    lab.tandem_ok(Node::A, "switchover --to vm-b --force --wait");
    let a_to_b = started.elapsed();
    assert!(lab.serving(Node::B) && lab.standing_by(Node::A));
    std::thread::sleep(WRITE_PAUSE);

    let started = Instant::now();
    lab.tandem_ok(Node::A, "switchover --to vm-a --force --wait");
    let b_to_a = started.elapsed();
    assert!(lab.serving(Node::A) && lab.standing_by(Node::B));
    std::thread::sleep(WRITE_PAUSE);

    let report = lab.stop_client(client);
    lab.assert_all_acked_present(Node::A, &report);
    let drbd = lab.state(Node::A);
    assert!(in_sync(&drbd), "{drbd:?}");
    assert_eq!(
        (drbd.state.role, drbd.state.peer_role),
        (Role::Primary, Role::Secondary)
    );
    let history = lab.tandem_ok(Node::A, "history");
    assert!(history.contains("SwitchoverStarted"), "{history}");
    let metrics = drbd_metrics_on_real_drbd(lab);
    let restart = restart_tandemd_on_the_active_node(lab);
    println!(
        "    switchover vm-a → vm-b {:.1} s (run on the active node), vm-b → vm-a {:.1} s (run \
         on the standby); client: {}; {metrics}; {restart}",
        a_to_b.as_secs_f64(),
        b_to_a.as_secs_f64(),
        report.summary
    );
}

/// tandemd's Prometheus endpoint on the active node (`[metrics] listen` in the lab's engine
/// config) shows the real resource: roles, disk and connection states, nothing out of sync,
/// and the traffic counters that events2 `--statistics` reported for the client's writes.
fn drbd_metrics_on_real_drbd(lab: &mut Lab) -> String {
    let text = lab.sh(Node::A, "curl -sf http://127.0.0.1:9942/metrics");
    for line in [
        "tandem_drbd_role{resource=\"r0\",role=\"Primary\"} 1",
        "tandem_drbd_peer_role{resource=\"r0\",role=\"Secondary\"} 1",
        "tandem_drbd_disk_state{resource=\"r0\",state=\"UpToDate\"} 1",
        "tandem_drbd_peer_disk_state{resource=\"r0\",state=\"UpToDate\"} 1",
        "tandem_drbd_connection_state{resource=\"r0\",state=\"Connected\"} 1",
        "tandem_drbd_replication_state{resource=\"r0\",state=\"Established\"} 1",
        "tandem_drbd_out_of_sync_bytes{resource=\"r0\"} 0",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "no {line} in:\n{text}"
        );
    }
    let counter = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    let written = counter("tandem_drbd_written_bytes_total{resource=\"r0\"}");
    let sent = counter("tandem_drbd_sent_bytes_total{resource=\"r0\"}");
    assert!(written > 0.0 && sent > 0.0, "{text}");
    format!("metrics on vm-a: DRBD written {written} B, sent {sent} B")
}

/// kill -9 of tandemd on the active node, then a new tandemd: it decides nothing before
/// DRBD's initial state is known, adopts the mount, mysqld (same pid) and the VIP, and takes
/// no step: no failover, no fence, nothing restarted; the peer stays standby.
fn restart_tandemd_on_the_active_node(lab: &mut Lab) -> String {
    let mysqld = "pidof mariadbd";
    let pid_before = lab.sh(Node::A, mysqld);
    let entries_before = lab
        .tandem_ok(Node::A, "history --limit 100000")
        .lines()
        .count();
    lab.kill_9(Node::A, "tandemd");
    lab.start_tandemd(Node::A);
    let took = lab.wait_engine("vm-a's new tandemd to adopt", MOVE_TIMEOUT, |lab| {
        lab.serving(Node::A)
    });
    // A peer timeout and a fence delay: time for a wrong decision to show.
    lab.watch_engine(Duration::from_secs(6));
    assert!(lab.serving(Node::A), "{:?}", lab.reason(Node::A));
    assert!(lab.standing_by(Node::B), "{:?}", lab.reason(Node::B));
    assert_eq!(lab.sh(Node::A, mysqld), pid_before, "mysqld was restarted");
    let history = lab.tandem_ok(Node::A, "history --limit 100000");
    let new: Vec<&str> = history.lines().skip(entries_before).collect();
    assert!(new.is_empty(), "the restarted tandemd acted: {new:?}");
    let log = lab.tandemd_log(Node::A);
    for needle in ["running step=", "power-fencing", "panicked"] {
        assert!(
            !log.contains(needle),
            "{needle:?} in vm-a's new tandemd log:\n{log}"
        );
    }
    format!(
        "tandemd kill -9 + restart on vm-a: adopted in {:.1} s, mysqld pid unchanged, no action",
        took.as_secs_f64()
    )
}

/// The replication link is cut, the peer link stays up: DRBD on the Primary calls
/// fence-peer, tandem outdates vm-b over the peer link, vm-a keeps serving (no failover, no
/// split-brain), and after the heal vm-b resyncs.
pub fn replication_cut_outdates_the_peer(lab: &mut Lab) {
    lab.start_engine();
    let client = lab.start_client(Node::B, 0);
    std::thread::sleep(WRITE_PAUSE);

    lab.cut(Link::Replication);
    let outdated = lab.wait_engine("vm-b outdated", MOVE_TIMEOUT, |lab| {
        lab.state(Node::B).state.disk == DiskState::Outdated
    });
    // Longer than the peer timeout: nobody moves, because the peer link says vm-a is active.
    std::thread::sleep(WRITE_PAUSE);
    assert!(lab.serving(Node::A), "{:?}", lab.reason(Node::A));
    assert!(lab.standing_by(Node::B), "{:?}", lab.reason(Node::B));
    let a = lab.state(Node::A);
    assert_eq!(a.state.role, Role::Primary);
    assert_ne!(a.state.connection, ConnectionState::Connected);
    assert!(
        !a.state.suspended,
        "I/O stays frozen after the fence: {a:?}"
    );
    let history = lab.tandem_ok(Node::A, "history");
    assert!(
        history.contains("how: \"fence-peer\", result: \"PeerOutdated (4)"),
        "{history}"
    );
    assert!(
        !history.contains("(5)"),
        "fence-peer must never answer 5:\n{history}"
    );

    let healed = Instant::now();
    lab.heal(Link::Replication);
    lab.wait_in_sync(MOVE_TIMEOUT);
    let resynced = healed.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let report = lab.stop_client(client);
    lab.assert_all_acked_present(Node::A, &report);
    for node in [Node::A, Node::B] {
        let status = lab.cluster_status(node).expect("tandemd answers");
        assert_eq!(status.local.split_brain, None, "{node:?}");
    }
    assert!(lab.serving(Node::A));
    // The kernel ran tandem-drbd-helper for vm-a's fence-peer (answered straight from
    // tandemd), and handed vm-b's after-resync-target on through drbdadm and the shim.
    assert_direct_fence_peer(lab, Node::A, 4);
    let log = lab.tandemd_log(Node::B);
    assert!(
        log.contains("DRBD helper called helper=\"after-resync-target\""),
        "vm-b's after-resync-target did not reach tandemd through drbdadm:\n{log}"
    );
    println!(
        "    replication cut: vm-b outdated through fence-peer {:.1} s after the cut; \
         resynced {:.1} s after the heal; vm-a served throughout; client: {}",
        outdated.as_secs_f64(),
        resynced.as_secs_f64(),
        report.summary
    );
}

/// vm-a loses power while it serves. vm-b hears nothing on the peer link, has the lab
/// power-fence vm-a (power-fence.sh → the harness), then promotes (DRBD's fence-peer is
/// answered 7, fenced), mounts (journal replay), starts mysqld (crash recovery) and adds the
/// VIP. Every acknowledged write is there. vm-a boots again, rejoins as standby and resyncs;
/// vm-b keeps serving (no failback).
pub fn primary_power_loss_fails_over(lab: &mut Lab) {
    lab.start_engine();
    let client = lab.start_client(Node::B, 0);
    std::thread::sleep(WRITE_PAUSE);
    probe_is_refused_by_a_live_primary(lab);

    let logged_before = lab.tandemd_log(Node::B).len();
    lab.power_off_hard(Node::A);
    let off_at = lab.guest_clock(Node::B);
    let took = lab.wait_engine("vm-b to serve", MOVE_TIMEOUT, |lab| lab.serving(Node::B));
    print_failover_phases(&lab.tandemd_log(Node::B), off_at);
    std::thread::sleep(WRITE_PAUSE);
    let report = lab.stop_client(client);
    lab.assert_all_acked_present(Node::B, &report);
    let history = lab.tandem_ok(Node::B, "history");
    for needle in [
        "FailoverStarted",
        "how: \"power fence\", result: \"peer powered off\"",
    ] {
        assert!(history.contains(needle), "no {needle} in:\n{history}");
    }
    let log = lab.tandemd_log(Node::B);
    assert!(
        log.contains("its power reads off: power-fencing it now"),
        "vm-b did not skip the fence delay on reading vm-a's power off:\n{log}"
    );
    assert!(
        log.contains("promoting without drbdadm command=/lib/drbd/drbdsetup-84 primary 0"),
        "vm-b did not promote through drbdsetup-84 alone:\n{log}"
    );
    // One probe per silence (core/probe.rs): the power loss's, whose ping made DRBD find
    // vm-a dead within its ping timeout. (Before it, the peer-link cut's was refused, and a
    // silence of over half the peer timeout on a loaded host may have added another.)
    let since_off = log.get(logged_before..).unwrap_or_default();
    let probes = since_off.matches("probing DRBD's peer").count();
    assert_eq!(
        probes, 1,
        "vm-b's probes since the power loss:\n{since_off}"
    );
    let b = lab.state(Node::B);
    assert_eq!(b.state.role, Role::Primary);
    assert_direct_fence_peer(lab, Node::B, 7);
    println!(
        "    vm-a powered off: vm-b serves {:.1} s later (peer timeout 1 s, power status off so no \
         fence delay, power fence, promote, mount, VIP, mysqld recovery); client: {}",
        took.as_secs_f64(),
        report.summary
    );

    let boot = lab.boot_again(Node::A);
    lab.install_engine_config(Node::A);
    // DRBD is down after the reboot: tandemd brings it up itself (drbdadm adjust).
    lab.start_tandemd(Node::A);
    let rejoined = lab.wait_engine("vm-a resynced as standby", MOVE_TIMEOUT, |lab| {
        in_sync(&lab.state(Node::A)) && lab.standing_by(Node::A)
    });
    // Longer than the peer timeout and the fence delay: the rejoined node must not shoot
    // vm-b, which DRBD shows Connected and Primary (the lab serves any fence request).
    lab.watch_engine(Duration::from_secs(8));
    assert!(lab.serving(Node::B), "{:?}", lab.reason(Node::B));
    assert!(lab.standing_by(Node::A), "{:?}", lab.reason(Node::A));
    let log = lab.tandemd_log(Node::A);
    assert!(
        !log.contains("power-fencing"),
        "the rejoined vm-a tried to fence:\n{log}"
    );
    println!(
        "    vm-a booted again in {:.1} s, rejoined as standby and resynced {:.1} s later; \
         vm-b still serves",
        boot.as_secs_f64(),
        rejoined.as_secs_f64()
    );
}

/// Only the peer link fails while vm-a serves: vm-b hears nothing, reads vm-a's power on and
/// runs the DRBD probe (a promote), which DRBD refuses: vm-a is Primary and answers the ping
/// the probe makes DRBD send. Nothing changes: DRBD stays Connected, misses no ping, vm-a
/// serves and vm-b fences nobody.
fn probe_is_refused_by_a_live_primary(lab: &mut Lab) {
    let missed = "dmesg | grep -c 'PingAck did not arrive' || true";
    let missed_before = lab.sh(Node::B, missed);
    lab.cut(Link::Management);
    let refused = lab.wait_engine("vm-b's probe refused by DRBD", MOVE_TIMEOUT, |lab| {
        lab.tandemd_log(Node::B)
            .contains("DRBD refused the probe's promote")
    });
    lab.heal(Link::Management);
    lab.wait_engine("vm-b to hear vm-a again", MOVE_TIMEOUT, |lab| {
        lab.reason(Node::B)
            .is_some_and(|r| r.contains("vm-a is active"))
    });
    assert!(lab.serving(Node::A), "{:?}", lab.reason(Node::A));
    let b = lab.state(Node::B);
    assert_eq!(b.state.role, Role::Secondary, "{b:?}");
    assert_eq!(b.state.connection, ConnectionState::Connected, "{b:?}");
    assert_eq!(lab.sh(Node::B, missed), missed_before, "DRBD lost a ping");
    let log = lab.tandemd_log(Node::B);
    assert!(
        !log.contains("power-fencing"),
        "vm-b tried to fence:\n{log}"
    );
    let refusal = log
        .lines()
        .find(|line| line.contains("DRBD refused the probe's promote"))
        .unwrap_or_default();
    println!(
        "    peer link cut: vm-b's DRBD probe refused {:.1} s after the cut, DRBD still \
         Connected: {refusal}",
        refused.as_secs_f64()
    );
}

/// `node`'s kernel ran DRBD's fence-peer through `tandem-drbd-helper` (tandemd made it the
/// usermode helper at its start), and took `code` from it.
fn assert_direct_fence_peer(lab: &mut Lab, node: Node, code: u8) {
    // "is now tandem's" on the first start in a boot, "is tandem's" after that.
    let log = lab.tandemd_log(node);
    assert!(
        log.contains("DRBD's usermode helper is now tandem's")
            || log.contains("DRBD's usermode helper is tandem's"),
        "{node:?}'s tandemd did not install tandem-drbd-helper:\n{log}"
    );
    let kernel = lab.sh(node, "dmesg | grep 'helper command' | tail -20");
    let call = format!("helper command: {DIRECT_HELPER} fence-peer {RESOURCE} exit code {code} ");
    assert!(
        kernel.contains(&call),
        "{node:?}'s kernel did not run {DIRECT_HELPER} for fence-peer (answer {code}):\n{kernel}"
    );
}

/// The survivor's log, split into phases (the unplanned-failover figures; see bench.rs).
/// `off_at` is vm-b's clock just after vm-a's qemu was killed (one guest command later).
fn print_failover_phases(log: &str, off_at: f64) {
    let phases = crate::bench::failover_phases(log, off_at);
    println!(
        "    failover phases on vm-b: {}",
        crate::bench::phases_line(&phases)
    );
}

/// Both links fail while vm-a serves (a switch failure), and both guests run: each sees the
/// other silent. vm-a, the active node, power-fences vm-b as soon as DRBD asks (fence-peer);
/// vm-b reads vm-a's power on and waits out its fence delay, so it never shoots the active
/// node. vm-a serves throughout; vm-b boots again after the heal, resyncs and stands by.
pub fn full_partition_the_active_node_shoots_first(lab: &mut Lab) {
    lab.start_engine();
    let client = lab.start_client(Node::A, 0);
    std::thread::sleep(WRITE_PAUSE);

    lab.cut(Link::Management);
    lab.cut(Link::Replication);
    let fenced = lab.wait_engine("vm-a to power-fence vm-b", MOVE_TIMEOUT, |lab| {
        !lab.is_running(Node::B)
    });
    // vm-b may not even have asked vm-a's power before it was shot: it holds while its DRBD
    // still shows vm-a Connected, and vm-a fences as soon as its own DRBD lost vm-b.
    let b_log = lab.tandemd_log(Node::B);
    let b_asked = if b_log.contains("power=On") {
        "read vm-a's power on and waited"
    } else {
        "was shot before it read vm-a's power"
    };
    assert!(
        !b_log.contains("power-fencing the peer") && !b_log.contains("its power reads off"),
        "vm-b, the standby, went for the running active node:\n{b_log}"
    );
    let history = lab.tandem_ok(Node::A, "history");
    assert!(
        history.contains("how: \"power fence\", result: \"peer powered off\""),
        "{history}"
    );
    std::thread::sleep(WRITE_PAUSE);
    assert!(lab.serving(Node::A), "{:?}", lab.reason(Node::A));
    let report = lab.stop_client(client);
    lab.assert_all_acked_present(Node::A, &report);

    // The fenced guest's qemu is gone: boot it, then plug both cables back at both ends.
    lab.boot_again(Node::B);
    lab.heal(Link::Management);
    lab.heal(Link::Replication);
    lab.install_engine_config(Node::B);
    lab.start_tandemd(Node::B);
    let rejoined = lab.wait_engine("vm-b resynced as standby", MOVE_TIMEOUT, |lab| {
        in_sync(&lab.state(Node::B)) && lab.standing_by(Node::B)
    });
    assert!(lab.serving(Node::A), "{:?}", lab.reason(Node::A));
    println!(
        "    both links cut: vm-a power-fenced vm-b {:.1} s later (vm-b {b_asked}); vm-a \
         served throughout; vm-b rejoined {:.1} s after its boot; client: {}",
        fenced.as_secs_f64(),
        rejoined.as_secs_f64(),
        report.summary
    );
}
