//! Seeing the cluster through tandem's own DRBD layer: `tandem drbd state --json` (one
//! events2 dump folded into `ResourceState`, plus /proc/drbd's protocol), `tandem drbd watch
//! --json` (the supervised events2 child of `exec/events2.rs`, changes old → new), and
//! background processes in the guests.

use crate::lab::{Lab, Node};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tandem::cli::drbd_state::StateReport;
use tandem::cli::drbd_watch::WatchRecord;
use tandem::drbd::{ConnectionState, DiskState, ReplicationState, Role};

/// How often a waiting scenario reads the state again; one read takes ~0.5 s under TCG.
const STATE_POLL_MS: u64 = 100;

/// A shell function: is the process alive (not gone, not a zombie)? The guests' init
/// (virtme-ng-init) does not reap orphans, so `kill -0` alone would see dead processes live on.
const ALIVE: &str = "alive() { { read -r s </proc/$1/stat; } 2>/dev/null || return 1; \
                     case \"${s##*) }\" in Z*) return 1 ;; esac; }\n";

/// A `tandem drbd watch --json` running in a guest, writing into the shared directory (which
/// the host reads directly).
pub struct Watch {
    pub node: Node,
    pub log: PathBuf,
    pub name: String,
}

impl Watch {
    /// The records so far; a line that is not a record fails the test.
    pub fn records(&self) -> Vec<WatchRecord> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| {
                    panic!("{}: not a watch record ({e}): {line}", self.log.display())
                })
            })
            .collect()
    }

    /// The changes (not the state lines), as tandem prints them.
    pub fn change_texts(&self) -> Vec<String> {
        change_texts(&self.records())
    }
}

impl Lab {
    /// `tandem drbd state --json` in the guest, deserialized into tandem's own type.
    pub fn state(&mut self, node: Node) -> StateReport {
        let json = self.tandem_ok(node, "drbd state --json");
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("state JSON ({e}): {json}"))
    }

    /// Reads the state until `ok` holds. The limit follows progress: it panics, with the last
    /// state, after `stall` without any change of the state, or after three stalls in all.
    pub fn wait_state(
        &mut self,
        node: Node,
        what: &str,
        stall: Duration,
        ok: impl Fn(&StateReport) -> bool,
    ) -> (StateReport, Duration) {
        let started = Instant::now();
        let mut progress_at = Instant::now();
        let mut seen = String::new();
        loop {
            let report = self.state(node);
            if ok(&report) {
                return (report, started.elapsed());
            }
            let now_seen = format!("{:?}", report.state);
            if now_seen != seen {
                seen = now_seen;
                progress_at = Instant::now();
            }
            assert!(
                progress_at.elapsed() < stall && started.elapsed() < stall * 3,
                "[{}] not {what}: {:.1} s in all, the last state change {:.1} s ago; state: \
                 {report:#?}",
                node.name(),
                started.elapsed().as_secs_f64(),
                progress_at.elapsed().as_secs_f64()
            );
            std::thread::sleep(Duration::from_millis(STATE_POLL_MS));
        }
    }

    /// Waits until both nodes are Connected, in sync, both disks UpToDate.
    pub fn wait_in_sync(&mut self, timeout: Duration) -> Duration {
        let started = Instant::now();
        for node in crate::lab::NODES {
            self.wait_state(node, "connected and UpToDate/UpToDate", timeout, in_sync);
        }
        started.elapsed()
    }

    /// Starts a process in the guest, detached, with a pidfile in /run/tandem/lab; its output
    /// goes to the shared directory. Returns that log's host path.
    pub fn spawn(&mut self, node: Node, name: &str, command: &str) -> PathBuf {
        self.next_spawn += 1;
        let file = format!("{name}-{}.log", self.next_spawn);
        let log = self.guest(node).spec.share.join(&file);
        self.sh(
            node,
            &format!(
                "setsid sh -c 'exec {command}' >{log} 2>&1 </dev/null &\n\
                 echo $! >/run/tandem/lab/{name}.pid",
                log = log.display()
            ),
        );
        log
    }

    /// SIGTERM to a spawned process, then waits for it to go.
    pub fn stop(&mut self, node: Node, name: &str) {
        self.sh(
            node,
            &format!(
                "{ALIVE}f=/run/tandem/lab/{name}.pid; p=$(cat $f); kill $p 2>/dev/null || true\n\
                 i=0; while alive $p && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done\n\
                 kill -9 $p 2>/dev/null || true; rm -f $f"
            ),
        );
    }

    /// SIGKILL to a spawned process (a crash); returns its pid.
    pub fn kill_9(&mut self, node: Node, name: &str) -> String {
        let pid = self.sh(node, &format!("cat /run/tandem/lab/{name}.pid"));
        self.sh(
            node,
            &format!(
                "{ALIVE}kill -9 {pid}; i=0; while alive {pid} && [ $i -lt 50 ]; do \
                 sleep 0.1; i=$((i+1)); done; ! alive {pid}",
                pid = pid.trim()
            ),
        );
        pid.trim().to_string()
    }

    /// Starts `tandem drbd watch --json` and waits for its initial state line.
    pub fn start_watch(&mut self, node: Node, name: &str) -> Watch {
        let log = self.spawn(node, name, "tandem drbd watch --json");
        let watch = Watch {
            node,
            log,
            name: name.to_string(),
        };
        self.wait_watch(
            &watch,
            "its initial state",
            Duration::from_secs(20),
            |records| {
                records
                    .iter()
                    .any(|r| matches!(r, WatchRecord::State { .. }))
            },
        );
        watch
    }

    /// Waits until the watch's records satisfy `ok`.
    pub fn wait_watch(
        &mut self,
        watch: &Watch,
        what: &str,
        timeout: Duration,
        ok: impl Fn(&[WatchRecord]) -> bool,
    ) -> Duration {
        let started = Instant::now();
        loop {
            let records = watch.records();
            if ok(&records) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < timeout,
                "[{}] watch did not show {what} within {timeout:?}; changes: {:#?}",
                watch.node.name(),
                watch.change_texts()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The changes among `records`, as tandem prints them (`connection Connected → Connecting`).
pub fn change_texts(records: &[WatchRecord]) -> Vec<String> {
    records
        .iter()
        .filter_map(|record| match record {
            WatchRecord::Change { change, .. } => Some(change.to_string()),
            _ => None,
        })
        .collect()
}

/// Connected, replication Established, both disks UpToDate.
pub fn in_sync(report: &StateReport) -> bool {
    let s = &report.state;
    s.connection == ConnectionState::Connected
        && s.replication == ReplicationState::Established
        && s.disk == DiskState::UpToDate
        && s.peer_disk == DiskState::UpToDate
}

/// The local and peer roles.
pub fn roles(report: &StateReport) -> (Role, Role) {
    (report.state.role.clone(), report.state.peer_role.clone())
}

/// Whether change texts contain `first`, and later `then`.
pub fn in_order(texts: &[String], first: &str, then: &str) -> bool {
    texts
        .iter()
        .position(|t| t == first)
        .is_some_and(|at| texts[at + 1..].iter().any(|t| t == then))
}

/// `text` indented for the harness's report, one line per line.
pub fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}\n")).collect()
}
