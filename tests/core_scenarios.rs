//! Core scenarios as readable transcripts (tests/core/*.txt), in the style of etcd-raft's
//! datadriven tests. A line `> command` runs a command against a simulated two-node cluster
//! of real cores; the lines after it are what the cluster did: each node's decisions with
//! their one-sentence reasons, actions, replies and journal records. Run with
//! `TANDEM_REWRITE=1` to rewrite the expected output after a deliberate change, then read
//! the diff.

#[path = "common/sim.rs"]
mod sim;

use sim::{Cluster, NAMES};
use std::path::Path;
use tandem::core::{Health, Input, Request, Step};

/// `stabilize` stops once nothing happened for this many ticks.
const QUIET_TICKS: u64 = 12;
/// A scenario that is still changing after this many ticks is a bug (livelock).
const MAX_STABILIZE_TICKS: u64 = 1_000;

fn node(name: &str) -> usize {
    NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

fn run_command(cluster: &mut Cluster, line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["tick", n] => (0..n.parse::<u64>().unwrap()).for_each(|_| cluster.tick()),
        ["stabilize"] => stabilize(cluster),
        ["cut", "peer"] => cluster.peer_link = false,
        ["cut", "repl"] => cluster.repl_link = false,
        ["cut", "peer-to", n] => cluster.peer_to[node(n)] = false,
        ["cut", "all"] => (cluster.peer_link, cluster.repl_link) = (false, false),
        ["drbd-late", n, ticks] => {
            let i = node(n);
            cluster.nodes[i].drbd_dump_at = cluster.now + ticks.parse::<u64>().unwrap();
            cluster.log.push(format!(
                "{n}: DRBD's initial state arrives in {ticks} ticks"
            ));
        }
        ["sb-resolve"] => {
            // The operator discards one side (connect --discard-my-data): DRBD reconnects.
            cluster.split_brain = false;
            cluster
                .log
                .push("DRBD: split-brain resolved by the operator, reconnecting".into());
        }
        ["heal"] => {
            (cluster.peer_link, cluster.repl_link) = (true, true);
            cluster.peer_to = [true, true];
        }
        ["heal", "peer"] => {
            cluster.peer_link = true;
            cluster.peer_to = [true, true];
        }
        ["kill", n] => cluster.crash(node(n)),
        ["power-fence", "fails"] => cluster.power_fence_fails = true,
        ["power-status", "fails"] => cluster.power_status_fails = true,
        // A dead Primary stays Connected in its peer's DRBD view this long (a missed ping).
        ["drbd-lag", ticks] => cluster.drbd_lag_ticks = ticks.parse().unwrap(),
        ["slow-helper", ticks] => cluster.helper_delay_ticks = ticks.parse().unwrap(),
        ["power-fence", "works"] => {
            (cluster.power_fence_fails, cluster.power_fence_hangs) = (false, false)
        }
        ["power-fence", "hangs"] => cluster.power_fence_hangs = true,
        // Drive each core after every input, as the daemon's loop does (default: per tick).
        ["drive", "per-input"] => cluster.drive_after_input = true,
        ["delay", "peer", ticks] => cluster.peer_delay_max_ticks = ticks.parse().unwrap(),
        ["restart", n] => cluster.restart_daemon(node(n), 0),
        ["restart", n, "drbd-late", ticks] => {
            cluster.restart_daemon(node(n), ticks.parse::<u64>().unwrap())
        }
        ["boot", n] => cluster.boot(node(n)),
        ["fail", n, "mysqld"] => cluster.crash_mysqld(node(n)),
        ["fail-next", n, step, error @ ..] => {
            let step = match *step {
                "backup" => Step::Backup,
                "promote--force" => Step::Promote { force: true },
                other => panic!("fail-next: unknown step {other}"),
            };
            cluster.nodes[node(n)].fail_next = Some((step, error.join(" ")));
        }
        ["hang", n, "mysqld"] => {
            let i = node(n);
            cluster.log.push(format!("{n}: mysqld hangs"));
            let health = Health::MysqldUnhealthy("SELECT 1 timed out 3 times".into());
            cluster.nodes[i].core.step(Input::Health(health));
        }
        ["split-brain"] => cluster.split_brain(),
        ["cli", n, rest @ ..] => {
            let request = match rest {
                ["promote"] => Request::Promote { force: false },
                ["promote", "--force"] => Request::Promote { force: true },
                ["demote"] => Request::Demote,
                ["switchover", to] => Request::Switchover { to: to.to_string() },
                ["pause", reason @ ..] => Request::Pause {
                    reason: reason.join(" "),
                    at_unix_ms: cluster.now,
                },
                ["resume", reason @ ..] => Request::Resume {
                    reason: reason.join(" "),
                    at_unix_ms: cluster.now,
                },
                ["resolve", keep] => Request::ResolveSplitBrain {
                    keep: keep.to_string(),
                    backup: true,
                },
                other => panic!("unknown cli command {other:?}"),
            };
            let i = node(n);
            cluster.nodes[i].core.step(Input::Control(request));
            cluster.run_ready(i);
        }
        ["status"] => {
            for (i, name) in NAMES.iter().enumerate() {
                if !cluster.nodes[i].alive {
                    cluster.log.push(format!("{name}: down"));
                    continue;
                }
                let status = cluster.nodes[i].core.status();
                let up: Vec<String> = status
                    .services
                    .iter()
                    .filter(|(_, up)| *up)
                    .map(|(s, _)| s.clone())
                    .collect();
                cluster.log.push(format!(
                    "{name}: status: {:?} {} {}/{} up=[{}] reason: {}",
                    status.mode.expect("the core reports its mode"),
                    status.role,
                    status.disk,
                    status.peer_disk,
                    up.join(","),
                    status.reason
                ));
                if let Some(p) = status.pause {
                    let state = if p.paused { "paused" } else { "resumed" };
                    cluster.log.push(format!(
                        "{name}: pause: epoch {} {state} by {} at {} reason: {:?}",
                        p.epoch, p.by, p.at_unix_ms, p.reason
                    ));
                }
            }
            cluster
                .log
                .push(format!("serving: {:?}", cluster.serving()));
        }
        other => panic!("unknown command {other:?}"),
    }
}

fn stabilize(cluster: &mut Cluster) {
    let mut quiet = 0;
    for _ in 0..MAX_STABILIZE_TICKS {
        let before = cluster.log.len();
        cluster.tick();
        quiet = if cluster.log.len() == before {
            quiet + 1
        } else {
            0
        };
        if quiet >= QUIET_TICKS {
            return;
        }
    }
    panic!(
        "no stable state after {MAX_STABILIZE_TICKS} ticks:\n{}",
        cluster.log.join("\n")
    );
}

/// Runs one transcript; returns the file as it should read.
fn replay(text: &str) -> String {
    let mut cluster = Cluster::new(1, false);
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(command) = line.strip_prefix("> ") {
            out.push_str(line);
            out.push('\n');
            if let Some(flag) = command.strip_prefix("config ") {
                match flag.split_whitespace().collect::<Vec<_>>()[..] {
                    ["power-fence"] => cluster = Cluster::new(1, true),
                    ["power-fence", "power-status"] => {
                        cluster = Cluster::with_config(1, true, |c| c.power_status = true);
                    }
                    ["peer-timeout", ticks] => {
                        let ticks: u64 = ticks.parse().expect("peer-timeout TICKS");
                        cluster = Cluster::with_config(1, false, |c| c.peer_timeout_ticks = ticks);
                    }
                    _ => panic!("unknown config line: {flag}"),
                }
            } else {
                let start = cluster.log.len();
                run_command(&mut cluster, command);
                for entry in &cluster.log[start..] {
                    out.push_str(entry);
                    out.push('\n');
                }
            }
            while lines
                .peek()
                .is_some_and(|l| !l.starts_with("> ") && !l.starts_with('#'))
            {
                lines.next();
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/core");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no transcripts in {}", dir.display());
    let rewrite = std::env::var_os("TANDEM_REWRITE").is_some();
    let mut failures = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let actual = replay(&text);
        if rewrite {
            std::fs::write(&file, &actual).unwrap();
        } else if actual != text {
            failures.push(format!(
                "{} differs; run TANDEM_REWRITE=1 cargo test --test core_scenarios and read \
                 the diff. Actual:\n{actual}",
                file.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
