//! Replica benchmark, not a test: `bash tests/bench-replica.sh` runs it. It prints figures and
//! asserts no time:
//! - replica lag under a steady write load (the lab's client, a row every 10 ms through the
//!   VIP): `Seconds_Behind_Master` and the GTID distance to the source, sampled;
//! - how long each replica needs to follow a switchover and a power loss of the active node:
//!   from the new primary's first write (its `@@gtid_binlog_pos` first shows its own
//!   server_id) to that GTID being applied on the replica (`@@gtid_slave_pos`).
//!
//! The probes run in the client's namespace over TCP, on connections kept open, and poll every
//! [`POLL_MS`]; a figure is late by at most one poll and one round trip (~1 ms on the lab's
//! veths) at each end.

use crate::client::{self, APP_PASSWORD, APP_USER};
use crate::engine::{serving, tandem, wait_for};
use crate::fixture::{LabNode, VIP};
use crate::replica::TANDEM_PASSWORD;
use crate::replica_failover::ReplicaPair;
use mysql_async::prelude::Queryable;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tandem::replica::GtidPos;

/// Switchovers back and forth in one lab.
const SWITCHOVERS: usize = 5;
/// Power losses, each in a fresh lab (the powered-off node stays off).
const FAILOVERS: usize = 5;
/// The lag samples: every 250 ms for 10 s.
const LAG_SAMPLES: usize = 40;
const LAG_INTERVAL: Duration = Duration::from_millis(250);
/// How often the follow probes poll: fine enough for figures in tens of ms.
const POLL_MS: u64 = 2;
/// One probe's patience for a connect or a query; a server being stopped or started does not
/// answer, and the probe tries again on a fresh connection.
const PROBE_TIMEOUT: Duration = Duration::from_millis(250);
/// A follow that takes longer is reported as not followed (a figure, not a failure).
const FOLLOW_LIMIT: Duration = Duration::from_secs(60);
/// The replicas' addresses, as ReplicaPair makes them.
const REPLICAS: [(&str, &str); 2] = [("r1", "10.99.0.11"), ("r2", "10.99.0.12")];

/// One server, on a connection kept open between queries.
struct Probe {
    opts: mysql_async::Opts,
    conn: Option<mysql_async::Conn>,
}

impl Probe {
    fn new(host: &str, user: &str, password: &str) -> Probe {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(host.to_string())
            .tcp_port(3306)
            .user(Some(user))
            .pass(Some(password));
        Probe {
            opts: opts.into(),
            conn: None,
        }
    }

    fn replica(host: &str) -> Probe {
        Probe::new(host, "tandem", TANDEM_PASSWORD)
    }

    /// The first row of `sql`; `None`, and a fresh connection next time, on any failure.
    async fn row(&mut self, sql: &str) -> Option<mysql_async::Row> {
        if self.conn.is_none() {
            let connect = mysql_async::Conn::new(self.opts.clone());
            self.conn = tokio::time::timeout(PROBE_TIMEOUT, connect)
                .await
                .ok()?
                .ok();
        }
        let conn = self.conn.as_mut()?;
        match tokio::time::timeout(PROBE_TIMEOUT, conn.query_first(sql)).await {
            Ok(Ok(row)) => row,
            _ => {
                self.conn = None;
                None
            }
        }
    }

    async fn gtid(&mut self, variable: &str) -> Option<GtidPos> {
        let row = self.row(&format!("SELECT @@{variable}")).await?;
        row.get::<String, usize>(0)?.parse().ok()
    }

    async fn seconds_behind(&mut self) -> Option<u64> {
        self.row("SHOW SLAVE STATUS")
            .await?
            .get::<Option<u64>, &str>("Seconds_Behind_Master")?
    }
}

/// The GTID of domain 0 (the lab writes only there).
fn last(pos: &GtidPos) -> Option<tandem::replica::Gtid> {
    pos.0.get(&0).copied()
}

/// What one fault showed: when the new primary wrote first, and each replica's time after
/// that write to apply it, in ms (`None`: not within FOLLOW_LIMIT).
struct Followed {
    written_at: Option<Instant>,
    applied_ms: Vec<Option<f64>>,
}

/// Waits for `primary`'s first write under `server_id`, then for each replica to apply it.
async fn follow(primary: &str, server_id: u32) -> Followed {
    let mut replicas: Vec<Probe> = REPLICAS.iter().map(|(_, ip)| Probe::replica(ip)).collect();
    for probe in &mut replicas {
        probe.gtid("gtid_slave_pos").await;
    }
    let mut source = Probe::new(primary, APP_USER, APP_PASSWORD);
    let started = Instant::now();
    let (written_at, seq) = loop {
        if started.elapsed() > FOLLOW_LIMIT {
            return Followed {
                written_at: None,
                applied_ms: vec![None; REPLICAS.len()],
            };
        }
        let pos = source.gtid("gtid_binlog_pos").await;
        if let Some(g) = pos
            .as_ref()
            .and_then(last)
            .filter(|g| g.server == server_id)
        {
            break (Instant::now(), g.seq);
        }
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    };
    let mut applied: Vec<Option<f64>> = vec![None; REPLICAS.len()];
    while applied.iter().any(Option::is_none) && written_at.elapsed() < FOLLOW_LIMIT {
        for (probe, done) in replicas.iter_mut().zip(applied.iter_mut()) {
            if done.is_some() {
                continue;
            }
            let pos = probe.gtid("gtid_slave_pos").await;
            if pos.as_ref().and_then(last).is_some_and(|g| g.seq >= seq) {
                *done = Some(written_at.elapsed().as_secs_f64() * 1000.0);
            }
        }
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
    Followed {
        written_at: Some(written_at),
        applied_ms: applied,
    }
}

/// Lag samples of every replica against the source at `primary`: (seconds behind, GTID
/// distance) per replica per sample.
async fn sample_lag(primary: &str) -> Vec<Vec<(Option<u64>, Option<u64>)>> {
    let mut source = Probe::new(primary, APP_USER, APP_PASSWORD);
    let mut replicas: Vec<Probe> = REPLICAS.iter().map(|(_, ip)| Probe::replica(ip)).collect();
    let mut samples = vec![Vec::new(); REPLICAS.len()];
    for _ in 0..LAG_SAMPLES {
        tokio::time::sleep(LAG_INTERVAL).await;
        // The replicas first: the source read after them can only be further on, so the
        // distance is never understated.
        let mut read = Vec::new();
        for probe in &mut replicas {
            read.push((
                probe.gtid("gtid_slave_pos").await,
                probe.seconds_behind().await,
            ));
        }
        let source_pos = source.gtid("gtid_binlog_pos").await;
        for ((pos, behind), out) in read.into_iter().zip(samples.iter_mut()) {
            let distance = match (&source_pos, pos) {
                (Some(s), Some(p)) => Some(GtidPos::behind(s, &p)),
                _ => None,
            };
            out.push((behind, distance));
        }
    }
    samples
}

fn median_max(mut values: Vec<f64>) -> String {
    if values.is_empty() {
        return "no sample".into();
    }
    values.sort_by(f64::total_cmp);
    format!(
        "median {:>6.1}   max {:>6.1}   (n={})",
        values[values.len() / 2],
        values[values.len() - 1],
        values.len()
    )
}

/// Runs `fault` while the client writes through the VIP and the probes wait for `to`'s first
/// write to reach the replicas; when the fault began, and what the probes saw.
fn timed_follow(
    pair: &ReplicaPair,
    to: &LabNode,
    server_id: u32,
    fault: impl FnOnce(),
) -> (Instant, Followed) {
    let lab = &pair.lab;
    let stop = AtomicBool::new(false);
    let first_id = next_id(pair);
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| lab.client.run(|| client::write_until(&stop, VIP, first_id)));
        let probes = scope.spawn(|| lab.client.run(|| follow(&to.ip, server_id)));
        std::thread::sleep(Duration::from_millis(300));
        let fault_at = Instant::now();
        // The writer must stop even if the fault fails, or the scope never ends.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(fault));
        let followed = probes.join();
        stop.store(true, Ordering::SeqCst);
        let _ = writer.join();
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
        let followed = followed.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (fault_at, followed)
    })
}

/// The figures of several faults of one kind.
struct Runs {
    /// From the fault to the new primary's first write.
    first_write_ms: Vec<f64>,
    /// Per replica: from that write to its being applied there.
    applied_ms: Vec<Vec<f64>>,
    not_followed: usize,
}

impl Runs {
    fn new() -> Runs {
        Runs {
            first_write_ms: Vec::new(),
            applied_ms: vec![Vec::new(); REPLICAS.len()],
            not_followed: 0,
        }
    }

    fn add(&mut self, (fault_at, followed): (Instant, Followed)) {
        if let Some(at) = followed.written_at {
            self.first_write_ms
                .push(at.duration_since(fault_at).as_secs_f64() * 1000.0);
        }
        for (samples, time) in self.applied_ms.iter_mut().zip(followed.applied_ms) {
            match time {
                Some(ms) => samples.push(ms),
                None => self.not_followed += 1,
            }
        }
    }

    fn print(self, fault: &str) {
        println!(
            "a replica follows {fault} (the new primary's first write → applied on the replica):"
        );
        for ((name, _), ms) in REPLICAS.iter().zip(self.applied_ms) {
            println!("  {name}: {} ms", median_max(ms));
        }
        println!(
            "  (the fault → the new primary's first write: {} ms; not followed within {} s: {})",
            median_max(self.first_write_ms),
            FOLLOW_LIMIT.as_secs(),
            self.not_followed
        );
    }
}

/// An id after every row written so far (the client's ids are primary keys).
fn next_id(pair: &ReplicaPair) -> u64 {
    let active = if serving(&pair.lab.a, &pair.config) {
        &pair.lab.a
    } else {
        &pair.lab.b
    };
    crate::replica::source_sql(
        &pair.lab,
        active,
        "SELECT COALESCE(MAX(id), 0) FROM lab.writes",
    )
    .parse()
    .unwrap_or(0)
}

#[test]
#[ignore = "benchmark: run with tests/bench-replica.sh"]
fn bench_replicas() {
    let pair = ReplicaPair::start();
    let lab = &pair.lab;

    // Lag under a steady write load.
    let stop = AtomicBool::new(false);
    let (log, samples) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| lab.client.run(|| client::write_until(&stop, VIP, 0)));
        let samples = lab.client.run(|| sample_lag(&lab.a.ip));
        stop.store(true, Ordering::SeqCst);
        (writer.join().unwrap(), samples)
    });
    let seconds = LAG_SAMPLES as f64 * LAG_INTERVAL.as_secs_f64();
    println!(
        "replica lag under a steady write load ({:.0} acknowledged writes/s through the VIP, \
         sampled every {} ms for {seconds:.0} s):",
        log.acked.len() as f64 / seconds,
        LAG_INTERVAL.as_millis()
    );
    for ((name, _), replica) in REPLICAS.iter().zip(samples) {
        let behind = replica
            .iter()
            .filter_map(|s| s.0)
            .map(|v| v as f64)
            .collect();
        let distance = replica
            .iter()
            .filter_map(|s| s.1)
            .map(|v| v as f64)
            .collect();
        println!("  {name}: Seconds_Behind_Master {}", median_max(behind));
        println!(
            "  {name}: GTID distance (transactions) {}",
            median_max(distance)
        );
    }

    // Switchovers back and forth.
    let mut runs = Runs::new();
    for run in 0..SWITCHOVERS {
        let (from, to) = if run % 2 == 0 {
            (&lab.a, &lab.b)
        } else {
            (&lab.b, &lab.a)
        };
        let server_id = if to.role == "a" { 1 } else { 2 };
        runs.add(timed_follow(&pair, to, server_id, || {
            let switchover = format!("switchover --to {} --force --wait", to.role);
            let out = tandem(from, &pair.config, &switchover);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }));
    }
    runs.print("a switchover");
    drop(pair);

    // Power losses of the active node, each in a fresh lab.
    let mut runs = Runs::new();
    for _ in 0..FAILOVERS {
        let pair = ReplicaPair::start();
        runs.add(timed_follow(&pair, &pair.lab.b, 2, || {
            pair.power_off(&pair.lab.a);
            wait_for(&pair.lab, "b to serve", FOLLOW_LIMIT, || {
                serving(&pair.lab.b, &pair.config)
            });
        }));
    }
    runs.print("a power loss of the active node");
}
