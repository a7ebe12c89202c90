//! The unplanned-failover figures: each phase of a failover after a power loss, read from the
//! survivor's tandemd log, and `--bench-failover N` (tests/bench-vmlab.sh), which powers the
//! active node off N times in a row and prints the median and max of every phase. Figures,
//! not pass/fail: TCG guests measure the emulator too, so compare runs on the same machine.

use crate::engine::log_time;
use crate::env::LabEnv;
use crate::lab::{Lab, Node, NODES};
use crate::observe::in_sync;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::Duration;

/// A failover or a rejoin under TCG; the wait fails only without progress this long.
const MOVE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the client writes before and after each power loss.
const WRITE_PAUSE: Duration = Duration::from_secs(3);

/// The phases and the log line that ends each (the start chain's order: DRBD Primary, mount,
/// VIP, then mysqld, whose readiness ends the failover).
const MARKS: [(&str, &str); 6] = [
    ("detection", "power-fencing the peer"),
    ("power fence", "how: \"power fence\""),
    ("promote", "running step=mount"),
    ("mount", "running step=add VIP"),
    ("VIP", "running step=start mysqld"),
    ("mysqld ready", "mysqld ready"),
];

/// Each phase's length in seconds (`None` if its mark is missing), from `off_at`, the
/// survivor's clock just after the other guest's qemu was killed, plus "fence-peer helper":
/// DRBD's call of the handler during the promote, until DRBD had its answer.
pub fn failover_phases(log: &str, off_at: f64) -> Vec<(&'static str, Option<f64>)> {
    let at = |needle: &str| log_time(log, needle, off_at - 0.5);
    let mut phases = Vec::new();
    let mut previous = Some(off_at);
    for (phase, needle) in MARKS {
        let mark = at(needle);
        phases.push((phase, mark.zip(previous).map(|(end, start)| end - start)));
        previous = mark;
    }
    let total = previous.map(|end| end - off_at);
    let called = at("DRBD helper fence-peer called");
    let returned = at("DRBD helper fence-peer returned");
    phases.push((
        "(fence-peer helper)",
        called.zip(returned).map(|(a, b)| b - a),
    ));
    phases.push(("total", total));
    phases
}

/// One line: `detection 2.10 s; power fence 0.30 s; …`.
pub fn phases_line(phases: &[(&str, Option<f64>)]) -> String {
    phases
        .iter()
        .map(|(phase, took)| match took {
            Some(took) => format!("{phase} {took:.2} s"),
            None => format!("{phase} ?"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `--bench-failover N`: N power losses of the active node, alternating nodes.
pub fn run(env: &LabEnv, runs: usize) -> ExitCode {
    let mut lab = match Lab::start(env) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("bench: FAILED: the guests did not come up: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| failovers(&mut lab, runs)));
    lab.shutdown();
    match outcome {
        Ok(rows) => {
            print_summary(&rows);
            ExitCode::SUCCESS
        }
        Err(_) => {
            eprintln!("bench: FAILED (see the message above)");
            ExitCode::FAILURE
        }
    }
}

/// `TANDEM_VMLAB_PING_TIMEOUT_MS=N` runs the benchmark with DRBD's `ping_timeout_ms` at N
/// instead of the lab's 500: DRBD's own loss detection is most of the detection phase.
const PING_TIMEOUT_ENV: &str = "TANDEM_VMLAB_PING_TIMEOUT_MS";

/// The engine config with [`PING_TIMEOUT_ENV`]'s DRBD ping timeout, if it is set.
fn set_ping_timeout(lab: &Lab) {
    let Ok(ms) = std::env::var(PING_TIMEOUT_ENV) else {
        return;
    };
    let to = format!("ping_timeout_ms = {ms}\n");
    edit_engine_config(lab, "ping_timeout_ms = 500\n", &to);
    println!("bench: DRBD ping_timeout_ms = {ms} ({PING_TIMEOUT_ENV})");
}

/// Replaces `from` (which must be there) with `to` in the lab's engine config.
fn edit_engine_config(lab: &Lab, from: &str, to: &str) {
    let path = crate::files::engine_config_path(&lab.run_dir);
    let text = std::fs::read_to_string(&path).expect("the engine config");
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    let text = text.replacen(from, to, 1);
    std::fs::write(&path, text).expect("write the engine config");
}

/// `TANDEM_VMLAB_FLUSH_METHOD=M` runs the benchmark with mysqld's `innodb_flush_method` at M
/// instead of the lab's `fsync` (e.g. `O_DIRECT`, MariaDB's default), to compare the
/// failover's mysqld phase with both.
const FLUSH_METHOD_ENV: &str = "TANDEM_VMLAB_FLUSH_METHOD";

/// The engine config with [`FLUSH_METHOD_ENV`]'s flush method, if it is set.
fn set_flush_method(lab: &Lab) {
    let Ok(method) = std::env::var(FLUSH_METHOD_ENV) else {
        return;
    };
    let to = format!("\"--innodb-flush-method={method}\"");
    edit_engine_config(lab, "\"--innodb-flush-method=fsync\"", &to);
    println!("bench: innodb_flush_method = {method} ({FLUSH_METHOD_ENV})");
}

/// Each run's phases, the client's longest wait for an acknowledged write included.
fn failovers(lab: &mut Lab, runs: usize) -> Vec<Vec<(&'static str, Option<f64>)>> {
    set_ping_timeout(lab);
    set_flush_method(lab);
    lab.baseline();
    lab.start_engine();
    let mut rows = Vec::new();
    let mut last_id = 0;
    for run in 1..=runs {
        let active = NODES
            .into_iter()
            .find(|node| lab.serving(*node))
            .expect("one node serves before each power loss");
        let survivor = active.peer();
        let client = lab.start_client(survivor, last_id);
        std::thread::sleep(WRITE_PAUSE);
        lab.power_off_hard(active);
        let off_at = lab.guest_clock(survivor);
        lab.wait_engine("the survivor to serve", MOVE_TIMEOUT, |lab| {
            lab.serving(survivor)
        });
        let mut phases = failover_phases(&lab.tandemd_log(survivor), off_at);
        std::thread::sleep(WRITE_PAUSE);
        let report = lab.stop_client(client);
        lab.assert_all_acked_present(survivor, &report);
        last_id = report.acked.iter().copied().max().unwrap_or(last_id);
        phases.push(("client's longest wait", client_gap(&report.summary)));
        println!(
            "    run {run}: {} lost power; {}",
            active.name(),
            phases_line(&phases)
        );
        rows.push(phases);
        rejoin(lab, active);
    }
    print_gaps(lab);
    rows
}

/// Boots the powered-off node again and waits until it stands by, resynced.
fn rejoin(lab: &mut Lab, node: Node) {
    lab.boot_again(node);
    lab.install_engine_config(node);
    lab.start_tandemd(node);
    lab.wait_engine("the rebooted node to resync", MOVE_TIMEOUT, |lab| {
        in_sync(&lab.state(node)) && lab.standing_by(node)
    });
}

/// `longest_gap_ms N` in the client's summary, in seconds.
fn client_gap(summary: &str) -> Option<f64> {
    let mut words = summary.split_whitespace();
    words.find(|word| *word == "longest_gap_ms")?;
    words.next()?.parse::<f64>().ok().map(|ms| ms / 1000.0)
}

/// How close the peer link ran to its timeout on each node, from `tandem status`.
fn print_gaps(lab: &mut Lab) {
    for node in NODES {
        let status = lab.tandem_ok(node, "status");
        if let Some(line) = status.lines().find(|line| line.contains("longest silence")) {
            println!("    {}: {}", node.name(), line.trim());
        }
    }
}

fn print_summary(rows: &[Vec<(&'static str, Option<f64>)>]) {
    let Some(first) = rows.first() else { return };
    println!(
        "\nfailover after a power loss, {} runs (seconds):",
        rows.len()
    );
    println!("  {:<24} {:>8} {:>8}", "phase", "median", "max");
    for (index, (phase, _)) in first.iter().enumerate() {
        let mut values: Vec<f64> = rows.iter().filter_map(|row| row[index].1).collect();
        if values.is_empty() {
            println!("  {phase:<24} {:>8} {:>8}", "?", "?");
            continue;
        }
        values.sort_by(f64::total_cmp);
        let median = if values.len() % 2 == 1 {
            values[values.len() / 2]
        } else {
            (values[values.len() / 2 - 1] + values[values.len() / 2]) / 2.0
        };
        let max = values[values.len() - 1];
        println!("  {phase:<24} {median:>8.2} {max:>8.2}");
    }
}
