//! The README's demo (`bash tests/lab/demo.sh`, which runs `cargo test --test vmlab -- --demo`):
//! the two-node lab comes up and, step by step, shows what the cluster does — each node's
//! `tandem drbd state`, and the changes each node's `tandem drbd watch` saw since the last step.
//! First the DRBD layer (connect, sync, role changes, refusals, a cut link), then the engine:
//! tandemd on both nodes with MariaDB and the VIP, `tandem status`, switchovers with a client
//! writing through the VIP, and a real failover after a power loss.

use crate::env::LabEnv;
use crate::lab::{Lab, Link, Node, NODES, RESOURCE};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tandem::drbd::{ConnectionState, ReplicationState};

/// Each node's watch log and how much of it was already shown.
struct Watches {
    logs: Vec<(Node, PathBuf, usize)>,
}

pub fn run(env: &LabEnv) -> ExitCode {
    let started = Instant::now();
    println!(
        "\n== 1. boot vm-a and vm-b: qemu (TCG), Debian kernel {} with DRBD {}",
        env.kernel_version, env.drbd_version
    );
    let mut lab = match Lab::start(env) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("demo: FAILED: the guests did not come up: {e}");
            return ExitCode::FAILURE;
        }
    };
    for (what, took) in &lab.timings {
        println!("   {what}: {:.1} s", took.as_secs_f64());
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| steps(&mut lab)));
    lab.shutdown();
    match outcome {
        Ok(()) => {
            println!(
                "\n== done in {:.0} s; the guests are powered off. Transcripts: {}",
                started.elapsed().as_secs_f64(),
                lab.run_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(_) => {
            eprintln!(
                "demo: FAILED; transcripts and consoles are in {}",
                lab.run_dir.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn steps(lab: &mut Lab) {
    step("2. `tandem check` on vm-a (a real node: the DRBD module is loaded)");
    print_indented(&lab.tandem(Node::A, "check").stdout);
    step("3. the DRBD resource tandem rendered from /etc/tandem/tandem.toml");
    print_indented(&lab.sh(Node::A, &format!("grep -v '^#' /etc/drbd.d/{RESOURCE}.res")));

    step("4. `tandem drbd create-md --force` and `tandem drbd up` on both nodes");
    lab.both(|_, guest| guest.sh("tandem drbd create-md --force >/dev/null && tandem drbd up"));
    let mut watches = Watches::start(lab);
    lab.wait_state(Node::A, "Connected", Duration::from_secs(60), |r| {
        r.state.connection == ConnectionState::Connected
    });
    show(lab, &mut watches);

    step("5. fresh empty disks: `tandem drbd skip-initial-sync` on vm-a (no full sync)");
    lab.tandem_ok(Node::A, "drbd skip-initial-sync");
    lab.wait_in_sync(Duration::from_secs(60));
    show(lab, &mut watches);

    step("6. `tandem drbd primary` on vm-a, then vm-b tries too");
    lab.tandem_ok(Node::A, "drbd primary");
    let refused = lab.tandem(Node::B, "drbd primary");
    println!("   vm-b$ tandem drbd primary   → exit {}", refused.code);
    print_indented(&refused.stderr);
    show(lab, &mut watches);

    step("7. vm-b disconnects, vm-a writes 24 MiB, vm-b reconnects: resync at 8 MiB/s");
    lab.tandem_ok(Node::B, "drbd disconnect");
    lab.sh(
        Node::A,
        "dd if=/dev/urandom of=/dev/drbd0 bs=1M count=24 oflag=direct 2>/dev/null",
    );
    lab.tandem_ok(Node::B, "drbd connect");
    follow_resync(lab);
    show(lab, &mut watches);

    step("8. the replication link is cut at the hypervisor (the management link stays up)");
    lab.cut(Link::Replication);
    let (_, took) = lab.wait_state(Node::A, "disconnected", Duration::from_secs(60), |r| {
        r.state.connection != ConnectionState::Connected
    });
    println!(
        "   vm-a's model saw it after {:.1} s (ping-int 1 s, ping-timeout 0.5 s)",
        took.as_secs_f64()
    );
    lab.wait_state(Node::A, "Connecting", Duration::from_secs(60), |r| {
        r.state.connection == ConnectionState::Connecting
    });
    show(lab, &mut watches);
    step("9. the link heals: DRBD reconnects by itself");
    lab.heal(Link::Replication);
    lab.wait_in_sync(Duration::from_secs(60));
    show(lab, &mut watches);

    step("10. the engine: tandemd on both nodes, MariaDB on DRBD, the VIP 10.99.0.100 on lan0");
    lab.tandem_ok(Node::A, "drbd secondary");
    lab.start_engine();
    show_status(lab);

    step("11. a client on vm-b writes a row every 10 ms through the VIP; `tandem switchover --to vm-b`");
    let client = lab.start_client(Node::B, 0);
    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();
    print_indented(&lab.tandem_ok(Node::A, "switchover --to vm-b --force --wait"));
    println!(
        "   switchover took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    show_status(lab);

    step("12. and back: `tandem switchover --to vm-a`, run on the standby vm-a");
    lab.tandem_ok(Node::A, "switchover --to vm-a --force --wait");
    show_status(lab);

    step("13. vm-a loses power (its qemu is killed): vm-b must fence it before it takes over");
    std::thread::sleep(Duration::from_secs(2));
    let killed = Instant::now();
    lab.power_off_hard(Node::A);
    lab.wait_engine("vm-b to serve", Duration::from_secs(120), |lab| {
        lab.serving(Node::B)
    });
    println!(
        "   vm-b serves {:.1} s after the power loss",
        killed.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(2));
    let report = lab.stop_client(client);
    lab.assert_all_acked_present(Node::B, &report);
    println!(
        "   the client: {}; every acknowledged row is on vm-b",
        report.summary
    );
    show_status(lab);
    println!("   vm-b$ tandem history");
    print_indented(&lab.tandem_ok(Node::B, "history"));
}

/// `tandem status` on each running node.
fn show_status(lab: &mut Lab) {
    for node in NODES {
        if !lab.is_running(node) {
            println!("   {}: powered off", node.name());
            continue;
        }
        println!("   {}$ tandem status", node.name());
        print_indented(&lab.tandem(node, "status").stdout);
    }
}

impl Watches {
    fn start(lab: &mut Lab) -> Watches {
        let logs = NODES
            .iter()
            .map(|node| {
                (
                    *node,
                    lab.spawn(*node, "demo-watch", "tandem drbd watch"),
                    0,
                )
            })
            .collect();
        Watches { logs }
    }

    /// The lines each watch printed since the last call.
    fn new_lines(&mut self) -> Vec<(Node, String)> {
        let mut lines = Vec::new();
        for (node, log, shown) in &mut self.logs {
            let text = std::fs::read_to_string(log.as_path()).unwrap_or_default();
            lines.extend(text.lines().skip(*shown).map(|l| (*node, l.to_string())));
            *shown = text.lines().count();
        }
        lines
    }
}

/// Each node's `tandem drbd state`, then what the watches saw since the last step.
fn show(lab: &mut Lab, watches: &mut Watches) {
    std::thread::sleep(Duration::from_millis(500));
    for node in NODES {
        println!("   {}$ tandem drbd state", node.name());
        print_indented(&lab.tandem_ok(node, "drbd state"));
    }
    let lines = watches.new_lines();
    if !lines.is_empty() {
        println!("   what `tandem drbd watch` saw:");
        for (node, line) in lines {
            println!("     [{}] {line}", node.name());
        }
    }
}

fn follow_resync(lab: &mut Lab) {
    let started = Instant::now();
    loop {
        let report = lab.state(Node::B);
        if let Some(done) = report.state.sync_done_percent {
            println!(
                "   vm-b: {} {done:.1}% done, {} KiB out of sync",
                report.state.replication,
                report.state.out_of_sync_kib.unwrap_or(0)
            );
        }
        if report.state.replication == ReplicationState::Established
            && report.state.sync_done_percent.is_none()
            && started.elapsed() > Duration::from_secs(1)
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no resync");
        std::thread::sleep(Duration::from_millis(300));
    }
    lab.wait_in_sync(Duration::from_secs(60));
    println!("   resync done in {:.1} s", started.elapsed().as_secs_f64());
}

fn step(title: &str) {
    println!("\n== {title}");
}

fn print_indented(text: &str) {
    for line in text.lines() {
        println!("     {line}");
    }
}
