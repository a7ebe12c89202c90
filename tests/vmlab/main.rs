//! The VM lab: two qemu guests (virtme-ng, TCG) running Debian's kernel with its in-tree DRBD
//! 8.4 module, the host's drbd-utils and MariaDB, and the tandem binaries cargo just built. Every
//! DRBD claim tandem makes is shown here against a real kernel.
//!
//! This is its own test harness (`harness = false`): it boots ONE pair of guests, brings it to
//! a baseline before each scenario (see baseline.rs) and runs the scenarios in order on it, so
//! they stay independent without paying a boot each. Output follows libtest's shape:
//! `test NAME ... ok (12.3 s)`, then `test result: …`.
//!
//! - `cargo test --test vmlab` runs every scenario; `cargo test --test vmlab -- NAME` those
//!   whose name contains NAME; `-- --list` lists them; `-- --demo` runs the README demo.
//! - Needs `tests/vmlab/setup.sh` first (the README test command runs it); without it the run
//!   FAILS, it never passes by skipping.
//! - `TANDEM_SKIP_VMLAB=1` skips the VM lab, loudly: for quick local runs only.
//! - `TANDEM_BLESS=1` copies this run's captured DRBD outputs into tests/fixtures/vmlab/.
//! - Artifacts stay in `target/tmp/vmlab/run-PID/`: consoles, transcripts, captures, and on a
//!   failure `failures/SCENARIO/` with each guest's console and dmesg.

mod baseline;
mod bench;
mod bench_mysqld;
mod bench_mysqld_cold;
mod capture;
mod client;
mod demo;
mod engine;
mod env;
mod fence_service;
mod files;
mod guest;
mod lab;
mod observe;
mod qmp;
mod scenarios;
mod sweep;

use lab::{Lab, NODES};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// A scenario taking longer than this breaks the lab's time budget (it still passes, loudly).
const SCENARIO_BUDGET: Duration = Duration::from_secs(120);

struct Args {
    filters: Vec<String>,
    skips: Vec<String>,
    exact: bool,
    list: bool,
    demo: bool,
    /// `--bench-failover N`: N power losses in a row, figures only (tests/bench-vmlab.sh).
    bench_failovers: Option<usize>,
    /// `--bench-mysqld`: mariadbd's start after a crash, per option set (with
    /// `TANDEM_VMLAB_BENCH_MYSQLD=cold`, cold starts interleaved: bench_mysqld_cold.rs).
    bench_mysqld: bool,
}

/// libtest's options that matter here; the others (`--nocapture`, `--test-threads N`, …) are
/// accepted and ignored, so `cargo test -- OPTIONS` works across all test binaries.
fn parse_args() -> Args {
    let mut args = Args {
        filters: Vec::new(),
        skips: Vec::new(),
        exact: false,
        list: false,
        demo: false,
        bench_failovers: None,
        bench_mysqld: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--list" => args.list = true,
            "--exact" => args.exact = true,
            "--demo" => args.demo = true,
            "--bench-mysqld" => args.bench_mysqld = true,
            "--bench-failover" => {
                args.bench_failovers = it.next().and_then(|n| n.parse().ok()).or(Some(5));
            }
            "--skip" => args.skips.extend(it.next()),
            "--test-threads" | "--color" | "--format" | "-Z" | "--logfile" => {
                it.next();
            }
            flag if flag.starts_with('-') => {}
            filter => args.filters.push(filter.to_string()),
        }
    }
    args
}

fn selected(args: &Args) -> Vec<&'static scenarios::Scenario> {
    let matches = |name: &str, pattern: &str| {
        if args.exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    };
    scenarios::ALL
        .iter()
        .filter(|s| args.filters.is_empty() || args.filters.iter().any(|f| matches(s.name, f)))
        .filter(|s| !args.skips.iter().any(|f| s.name.contains(f.as_str())))
        .collect()
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().collect();
    if raw.get(1).is_some_and(|a| a == "--client") {
        return client::run(&raw[2..]);
    }
    let args = parse_args();
    if args.list {
        for scenario in scenarios::ALL {
            println!("{}: test", scenario.name);
        }
        return ExitCode::SUCCESS;
    }
    if std::env::var("TANDEM_SKIP_VMLAB").is_ok_and(|v| v == "1") {
        eprintln!("\n!!!!! VM LAB SKIPPED (TANDEM_SKIP_VMLAB=1): no DRBD claim was checked against a real kernel.");
        eprintln!("!!!!! For quick local runs only; CI and the README test command run it.\n");
        return ExitCode::SUCCESS;
    }
    let chosen = selected(&args);
    if chosen.is_empty() && !args.demo && args.bench_failovers.is_none() && !args.bench_mysqld {
        println!("\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; {} filtered out\n", scenarios::ALL.len());
        return ExitCode::SUCCESS;
    }
    let env = match env::LabEnv::load() {
        Ok(env) => env,
        Err(e) => {
            eprintln!("vmlab: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.demo {
        return demo::run(&env);
    }
    if args.bench_mysqld {
        return bench_mysqld::run(&env);
    }
    if let Some(runs) = args.bench_failovers {
        return bench::run(&env, runs);
    }
    run(&env, &chosen, scenarios::ALL.len() - chosen.len())
}

fn run(env: &env::LabEnv, chosen: &[&scenarios::Scenario], filtered: usize) -> ExitCode {
    let started = Instant::now();
    println!(
        "\nvmlab: kernel {} (DRBD {}), {}, TCG; booting vm-a and vm-b",
        env.kernel_version, env.drbd_version, env.qemu_version
    );
    let mut lab = match Lab::start(env) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("vmlab: FAILED: the guests did not come up: {e}");
            return ExitCode::FAILURE;
        }
    };
    for (what, took) in &lab.timings {
        println!("vmlab: {what}: {:.1} s", took.as_secs_f64());
    }
    println!("\nrunning {} tests", chosen.len());
    let mut failed = Vec::new();
    let mut rows = Vec::new();
    let mut guests_suspect = false;
    for scenario in chosen {
        if guests_suspect {
            restart_pair(&mut lab);
            guests_suspect = false;
        }
        let began = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| scenario.run_on(&mut lab)));
        let took = began.elapsed();
        let budget = if took > SCENARIO_BUDGET {
            " OVER THE 120 s BUDGET"
        } else {
            ""
        };
        match outcome {
            Ok(()) => println!(
                "test {} ... ok ({:.1} s){budget}",
                scenario.name,
                took.as_secs_f64()
            ),
            Err(_) => {
                println!(
                    "test {} ... FAILED ({:.1} s)",
                    scenario.name,
                    took.as_secs_f64()
                );
                report_failure(&mut lab, scenario.name);
                failed.push(scenario.name);
                guests_suspect = true;
            }
        }
        rows.push((scenario.name, took));
    }
    let shutdown = lab.shutdown();
    summary(&lab, &rows, shutdown, started.elapsed());
    if failed.is_empty() && std::env::var("TANDEM_BLESS").is_ok_and(|v| v == "1") {
        match lab.bless_captures() {
            Ok(count) => println!(
                "vmlab: blessed {count} captures into {}",
                capture::fixtures_dir().display()
            ),
            Err(e) => eprintln!("vmlab: cannot bless the captures: {e}"),
        }
    }
    let passed = chosen.len() - failed.len();
    let result = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {result}. {passed} passed; {} failed; 0 ignored; 0 measured; {filtered} filtered out; finished in {:.2}s\n",
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("vmlab: failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}

/// After a failure nothing about the guests can be trusted: boot both again.
fn restart_pair(lab: &mut Lab) {
    for node in NODES {
        lab.power_off_hard(node);
    }
    for node in NODES {
        let took = lab.boot_again(node);
        println!(
            "vmlab: rebooted {} after a failure in {:.1} s",
            node.name(),
            took.as_secs_f64()
        );
    }
}

fn report_failure(lab: &mut Lab, name: &str) {
    let dir = lab.collect_failure(name);
    for node in NODES {
        eprintln!(
            "---- {} console (last 25 lines) ----\n{}",
            node.name(),
            lab.console_tail(node, 25)
        );
    }
    eprintln!(
        "vmlab: {name}: consoles, dmesg and transcripts are in {}",
        dir.display()
    );
}

fn summary(lab: &Lab, rows: &[(&str, Duration)], shutdown: Duration, total: Duration) {
    let mut text = String::from("\nvmlab timings:\n");
    for (what, took) in &lab.timings {
        text.push_str(&format!("  {what:<48} {:>6.1} s\n", took.as_secs_f64()));
    }
    for (name, took) in rows {
        text.push_str(&format!(
            "  scenario {name:<39} {:>6.1} s\n",
            took.as_secs_f64()
        ));
    }
    text.push_str(&format!(
        "  {:<48} {:>6.1} s\n",
        "shutdown",
        shutdown.as_secs_f64()
    ));
    text.push_str(&format!(
        "  {:<48} {:>6.1} s\n",
        "total VM lab",
        total.as_secs_f64()
    ));
    print!("{text}");
    let _ = std::fs::write(lab.run_dir.join("timings.txt"), text);
}
