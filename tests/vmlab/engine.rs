//! tandemd inside the guests: the engine config, one daemon per guest, `tandem status --json`,
//! the lab's power-fence service (power-fence.sh asks, the harness powers the peer off) and
//! the client that writes through the VIP from a guest.

use crate::client::{self, APP_PASSWORD, APP_USER};
use crate::files::engine_config_path;
use crate::lab::{Lab, Node, MOUNTPOINT, NODES, RESOURCE};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tandem::cli::json::StatusJson;

/// The lab config's VIP (files.rs), on `lan0`.
pub const VIP: &str = "10.99.0.100";
/// The admin's way in: root over the server's socket (unix_socket authentication).
const ROOT_SQL: &str = "mariadb --socket=/run/mysqld/mysqld.sock -N -B";
/// How often the engine's state is polled while waiting.
const ENGINE_POLL_MS: u64 = 250;
/// A wait that keeps progressing still ends after this many stall limits.
const STALL_LIMITS_IN_ALL: u32 = 3;
/// The first start of the engine under TCG: promote, mount, mysqld ready, VIP.
const ENGINE_START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the client is given to write its ids and exit after the stop file appears.
const CLIENT_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A client writing through the VIP from a guest.
pub struct Client {
    node: Node,
    dir: PathBuf,
    log: PathBuf,
}

/// What the client saw acknowledged.
pub struct ClientReport {
    pub acked: Vec<u64>,
    pub summary: String,
}

impl Lab {
    /// Puts the MariaDB template onto a fresh DRBD filesystem (by hand, on vm-a), installs the
    /// engine config on both nodes (DRBD picks up `fencing resource-only` with `adjust`), starts
    /// tandemd on both and waits until vm-a, the preferred node, serves. Then creates the
    /// client's schema and user. Returns how long the engine took to bring vm-a up.
    pub fn start_engine(&mut self) -> Duration {
        self.start_engine_with(&engine_config_path(&self.run_dir))
    }

    /// [`Lab::start_engine`] with another config file for tandemd (e.g. with replicas).
    pub fn start_engine_with(&mut self, config: &Path) -> Duration {
        let template = self.env.mariadb_template.display().to_string();
        self.tandem_ok(Node::A, "drbd primary");
        self.sh(
            Node::A,
            &format!(
                "mkfs.ext4 -q -F /dev/drbd0 && mount /dev/drbd0 {MOUNTPOINT} && \
                 cp -a {template} {MOUNTPOINT}/mysql && chown -R mysql:mysql {MOUNTPOINT}/mysql && \
                 umount {MOUNTPOINT}"
            ),
        );
        self.tandem_ok(Node::A, "drbd secondary");
        for node in NODES {
            self.install_config(node, config);
            self.sh(node, &format!("drbdadm adjust {RESOURCE}"));
        }
        // vm-a first, then vm-b once vm-a serves: started together, a vm-b whose tandemd is
        // up a peer timeout before vm-a's (a slow start under TCG) rightly takes the service
        // itself (vm-a silent, DRBD shows it Secondary), and the scenarios expect vm-a active.
        self.start_tandemd(Node::A);
        let took = self.wait_engine("vm-a to serve", ENGINE_START_TIMEOUT, |lab| {
            lab.serving(Node::A)
        });
        self.start_tandemd(Node::B);
        self.wait_engine("vm-b to stand by", ENGINE_START_TIMEOUT, |lab| {
            lab.standing_by(Node::B)
                && lab
                    .reason(Node::B)
                    .is_some_and(|r| r.contains("vm-a is active"))
        });
        self.sh(
            Node::A,
            &format!(
                "{ROOT_SQL} -e \"CREATE DATABASE lab; \
                 CREATE TABLE lab.writes (id BIGINT PRIMARY KEY, at DOUBLE) ENGINE=InnoDB; \
                 CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}'; \
                 GRANT ALL ON lab.* TO '{APP_USER}'@'%'\""
            ),
        );
        println!(
            "    engine up: vm-a promoted, mounted, mysqld ready, VIP added in {:.1} s",
            took.as_secs_f64()
        );
        took
    }

    /// The engine config as /etc/tandem/tandem.toml and the DRBD file rendered from it.
    pub fn install_engine_config(&mut self, node: Node) {
        let config = engine_config_path(&self.run_dir);
        self.install_config(node, &config);
    }

    /// `config` as /etc/tandem/tandem.toml and the DRBD file rendered from it.
    pub fn install_config(&mut self, node: Node, config: &Path) {
        self.sh(
            node,
            &format!(
                "cp {} /etc/tandem/tandem.toml && tandem drbd render > /etc/drbd.d/{RESOURCE}.res",
                config.display()
            ),
        );
    }

    pub fn start_tandemd(&mut self, node: Node) {
        self.spawn(node, "tandemd", "tandemd --config /etc/tandem/tandem.toml");
    }

    /// The newest tandemd log of `node` (the daemon's stderr, in its shared directory).
    pub fn tandemd_log(&mut self, node: Node) -> String {
        let share = self.guest(node).spec.share.clone();
        let newest = std::fs::read_dir(&share)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        let number = name.strip_prefix("tandemd-")?.strip_suffix(".log")?;
                        Some((number.parse::<u32>().ok()?, e.path()))
                    })
                    .max()
            })
            .ok()
            .flatten();
        newest
            .and_then(|(_, path)| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    }

    /// The guest's clock as seconds since midnight UTC, to compare with its tandemd log.
    pub fn guest_clock(&mut self, node: Node) -> f64 {
        let text = self.sh(node, "date -u +%H:%M:%S.%N");
        seconds_of_day(text.trim()).expect("date -u prints H:M:S.N")
    }

    /// `tandem status --json` on `node`, if its tandemd answers.
    pub fn cluster_status(&mut self, node: Node) -> Option<StatusJson> {
        let output = self.tandem(node, "status --json");
        (output.code == 0)
            .then(|| serde_json::from_str(&output.stdout).ok())
            .flatten()
    }

    /// Every layer (DRBD Primary, mount, mysqld, VIP) is up on `node`.
    pub fn serving(&mut self, node: Node) -> bool {
        self.cluster_status(node).is_some_and(|s| {
            !s.local.services.is_empty() && s.local.services.iter().all(|service| service.up)
        })
    }

    /// Nothing is up on `node`.
    pub fn standing_by(&mut self, node: Node) -> bool {
        self.cluster_status(node)
            .is_some_and(|s| s.local.services.iter().all(|service| !service.up))
    }

    /// Polls `done` until it holds, answering the guests' power-fence requests meanwhile.
    /// The limit follows progress, not wall time alone: it fails after `stall` without any
    /// change in either node's decision (on a loaded machine TCG guests are slow, not stuck),
    /// or after [`STALL_LIMITS_IN_ALL`] × `stall` in all; the message says which and why.
    pub fn wait_engine(
        &mut self,
        what: &str,
        stall: Duration,
        mut done: impl FnMut(&mut Lab) -> bool,
    ) -> Duration {
        let started = Instant::now();
        let mut progress_at = Instant::now();
        let mut seen = (None, None);
        loop {
            self.serve_fence_requests();
            if done(self) {
                return started.elapsed();
            }
            let now_seen = (self.reason(Node::A), self.reason(Node::B));
            if now_seen != seen {
                seen = now_seen;
                progress_at = Instant::now();
            }
            let stalled = progress_at.elapsed() >= stall;
            let too_long = started.elapsed() >= stall * STALL_LIMITS_IN_ALL;
            assert!(
                !stalled && !too_long,
                "not {what}: {} after {:.1} s in all, the last decision change {:.1} s ago; \
                 vm-a: {:?}; vm-b: {:?}",
                if stalled {
                    "no progress"
                } else {
                    "still changing"
                },
                started.elapsed().as_secs_f64(),
                progress_at.elapsed().as_secs_f64(),
                seen.0,
                seen.1
            );
            std::thread::sleep(Duration::from_millis(ENGINE_POLL_MS));
        }
    }

    /// Keeps serving power-fence requests for `duration` (time for a wrong decision to show).
    pub fn watch_engine(&mut self, duration: Duration) {
        let started = Instant::now();
        while started.elapsed() < duration {
            self.serve_fence_requests();
            std::thread::sleep(Duration::from_millis(ENGINE_POLL_MS));
        }
    }

    /// The sentence behind `node`'s current decision, for failure messages.
    pub fn reason(&mut self, node: Node) -> Option<String> {
        if !self.is_running(node) {
            return Some("powered off".into());
        }
        self.cluster_status(node).map(|s| s.local.reason)
    }

    /// Reaps guests the fence service (fence_service.rs, its own thread) powered off.
    pub fn serve_fence_requests(&mut self) {
        for node in NODES {
            let _ = self.is_running(node);
        }
    }

    /// Starts the client on `node`, writing ids after `previous_id` through the VIP.
    pub fn start_client(&mut self, node: Node, previous_id: u64) -> Client {
        let dir = self.guest(node).spec.share.clone();
        let _ = std::fs::remove_file(client::stop_file(&dir));
        let _ = std::fs::remove_file(client::acked_file(&dir));
        let binary = self.run_dir.join("bin/vmlab-client");
        let log = self.spawn(
            node,
            "client",
            &format!(
                "{} --client {VIP} {previous_id} {}",
                binary.display(),
                dir.display()
            ),
        );
        Client { node, dir, log }
    }

    /// Stops the client and returns every id the server acknowledged to it.
    pub fn stop_client(&mut self, client: Client) -> ClientReport {
        std::fs::write(client::stop_file(&client.dir), "").unwrap();
        let started = Instant::now();
        let acked_file = client::acked_file(&client.dir);
        while !acked_file.exists() {
            assert!(
                started.elapsed() < CLIENT_STOP_TIMEOUT,
                "the client on {} did not stop: {}",
                client.node.name(),
                std::fs::read_to_string(&client.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(200)); // its summary line follows the file
        let acked = std::fs::read_to_string(&acked_file)
            .unwrap()
            .lines()
            .map(|line| line.parse().unwrap())
            .collect();
        let summary = std::fs::read_to_string(&client.log)
            .unwrap_or_default()
            .trim()
            .to_string();
        ClientReport { acked, summary }
    }

    /// Every id the server on `node` holds (as root, over its socket).
    pub fn stored_ids(&mut self, node: Node) -> Vec<u64> {
        self.sh(
            node,
            &format!("{ROOT_SQL} -e 'SELECT id FROM lab.writes ORDER BY id'"),
        )
        .lines()
        .map(|line| line.trim().parse().unwrap())
        .collect()
    }

    /// Asserts that every acknowledged write is on `node`'s server.
    pub fn assert_all_acked_present(&mut self, node: Node, report: &ClientReport) {
        assert!(
            !report.acked.is_empty(),
            "the client got no write acknowledged: {}",
            report.summary
        );
        let stored = self.stored_ids(node);
        let lost: Vec<u64> = report
            .acked
            .iter()
            .filter(|id| stored.binary_search(id).is_err())
            .copied()
            .collect();
        assert!(
            lost.is_empty(),
            "acknowledged writes lost on {}: {lost:?}",
            node.name()
        );
    }
}

/// `HH:MM:SS.fraction` as seconds since midnight.
fn seconds_of_day(clock: &str) -> Option<f64> {
    let mut parts = clock.splitn(3, ':');
    let hours: f64 = parts.next()?.parse().ok()?;
    let minutes: f64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    Some(hours * 3600.0 + minutes * 60.0 + seconds)
}

/// The time (seconds since midnight) of the first line of a tandemd log at or after `after`
/// that contains `needle`. The log's lines start with an RFC 3339 UTC timestamp.
pub fn log_time(log: &str, needle: &str, after: f64) -> Option<f64> {
    log.lines()
        .filter(|line| line.contains(needle))
        .filter_map(|line| {
            let stamp = line.split_whitespace().next()?;
            let clock = stamp.split('T').nth(1)?.trim_end_matches('Z');
            seconds_of_day(clock)
        })
        .find(|at| *at >= after)
}
