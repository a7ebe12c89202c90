//! Replicas through an unplanned failover on real MariaDB 10.11: the pair (shared-disk) feeds
//! two replicas in their own namespaces through the VIP, a client writes through the VIP, and
//! the active node loses power (the lab's power fence: every process in its namespace killed
//! with SIGKILL, its filesystem gone, its link down; no clean stop of anything). The survivor
//! power-fences it, mounts, recovers mysqld and takes the VIP. The replicas' IO threads sit on
//! a dead connection until `slave_net_timeout`, reconnect to the VIP, now the survivor, and go
//! on from their GTID position: every acknowledged write is on both, at the survivor's GTID
//! position, gtid_strict_mode on everywhere, no errant transaction flagged, and
//! `tandem status --json` on the survivor shows both replicating from the VIP, with no action
//! taken on them.
//!
//! [`ReplicaPair`] is the set-up, shared with the replica benchmark (bench_replica.rs).

use crate::client;
use crate::engine::{fence_script, serving, start_daemon, status, tandem, wait_for};
use crate::fixture::{Lab, LabNode, VIP};
use crate::replica::{replica_entry, replica_sql, source_sql, start_replica};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Replicas catch up within a few checks (2 s each) once they replicate.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// The first start of the pair: mount, mysqld ready, VIP.
const SERVE_TIMEOUT: Duration = Duration::from_secs(30);
/// A failover: peer timeout (600 ms), power fence, mount, crash recovery, VIP; then the
/// replicas' dead connections time out (slave_net_timeout, 4 s), they reconnect (1 s retry)
/// and the next check (2 s) sees them. Generous for a loaded 2-core machine: it ends as soon as
/// it is done.
const FOLLOW_TIMEOUT: Duration = Duration::from_secs(60);

/// The pair with two replicas r1 (10.99.0.11) and r2 (10.99.0.12) replicating from a through
/// the VIP, the client's schema created, both caught up.
pub(crate) struct ReplicaPair {
    pub replicas: [LabNode; 2],
    pub config: PathBuf,
    /// The lab's power fence (engine.rs): also how a test makes a node lose power.
    pub fence: PathBuf,
    children: Vec<Child>,
    /// Last: its Drop tears the namespaces down after the children are reaped.
    pub lab: Lab,
}

impl ReplicaPair {
    pub(crate) fn start() -> ReplicaPair {
        let lab = Lab::new();
        lab.mount_shared(&lab.a);
        lab.umount(&lab.a);
        let replicas = [lab.extra_node("r1", 11), lab.extra_node("r2", 12)];
        let mut children = vec![
            start_replica(&lab, &replicas[0], 11, ""),
            start_replica(&lab, &replicas[1], 12, ""),
        ];
        let fence = fence_script(&lab);
        let config = pair_config(&lab, &fence);
        children.push(start_daemon(&lab, &lab.a, &config));
        children.push(start_daemon(&lab, &lab.b, &config));
        wait_for(&lab, "a to serve", SERVE_TIMEOUT, || {
            serving(&lab.a, &config)
        });
        source_sql(
            &lab,
            &lab.a,
            "CREATE USER repl@'%' IDENTIFIED BY 'repl-pw'; \
             GRANT REPLICATION SLAVE ON *.* TO repl@'%'",
        );
        let cfg = lab.config();
        lab.a.run(|| client::setup_schema(&cfg.settings.mysqld));
        let pair = ReplicaPair {
            replicas,
            config,
            fence,
            children,
            lab,
        };
        wait_for(&pair.lab, "replicas to follow a", CATCH_UP_TIMEOUT, || {
            pair.followed_by_replicas(&pair.lab.a)
        });
        pair
    }

    /// `active`'s `tandem status --json` shows both replicas replicating from the VIP, caught
    /// up with its GTID position, with nothing wrong (no errant transaction, no thread error).
    pub(crate) fn followed_by_replicas(&self, active: &LabNode) -> bool {
        let out = tandem(active, &self.config, "status --json");
        let Ok(s) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
            return false;
        };
        ["r1", "r2"].iter().all(|name| {
            let r = replica_entry(&s, name);
            r["state"] == "replicating"
                && r["gtid_behind"] == 0
                && r["error"].is_null()
                && r["source"] == format!("{VIP}:3306")
        })
    }

    /// `victim` loses power: run the lab's power fence from the other node's namespace.
    pub(crate) fn power_off(&self, victim: &LabNode) {
        let survivor = self.other(victim);
        crate::fixture::host(&format!(
            "ip netns exec {} sh {}",
            survivor.netns,
            self.fence.display()
        ));
    }

    pub(crate) fn other(&self, node: &LabNode) -> &LabNode {
        if node.role == self.lab.a.role {
            &self.lab.b
        } else {
            &self.lab.a
        }
    }
}

impl Drop for ReplicaPair {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The lab's engine config, the power fence, [replication] without semi-sync (so that what a
/// replica has not received when the source dies comes from the survivor's binlog, the path
/// under test) and the two replicas.
fn pair_config(lab: &Lab, fence: &std::path::Path) -> PathBuf {
    let fence_line = format!(
        "power_fence_command = [\"/bin/sh\", \"{}\"]\n",
        fence.display()
    );
    crate::replica_promote::replicas_config(lab, &fence_line, "replica-pair.toml")
}

/// a loses power while the client writes through the VIP; b serves and takes writes.
fn power_loss_under_writes(pair: &ReplicaPair) -> client::WriteLog {
    let (lab, config) = (&pair.lab, &pair.config);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| lab.client.run(|| client::write_until(&stop, VIP, 0)));
        std::thread::sleep(Duration::from_millis(500));
        // The writer must stop even if the failover does not happen, or the scope never ends.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pair.power_off(&lab.a);
            wait_for(lab, "b to serve", FOLLOW_TIMEOUT, || {
                serving(&lab.b, config)
            });
            // The client's writes reach b: its binlog goes on under b's server_id.
            wait_for(lab, "a write on b", FOLLOW_TIMEOUT, || {
                source_sql(lab, &lab.b, "SELECT @@gtid_binlog_pos").contains("-2-")
            });
            std::thread::sleep(Duration::from_millis(500));
        }));
        stop.store(true, Ordering::SeqCst);
        let log = writer.join().unwrap();
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
        log
    })
}

#[test]
fn replicas_follow_the_vip_through_a_power_loss_of_the_active_node() {
    let pair = ReplicaPair::start();
    let (lab, config) = (&pair.lab, &pair.config);
    let log = power_loss_under_writes(&pair);
    let failed_over = Instant::now();
    wait_for(lab, "the replicas to follow b", FOLLOW_TIMEOUT, || {
        pair.followed_by_replicas(&lab.b)
    });
    eprintln!(
        "power loss of a: {} writes acknowledged, {} failed or timed out, longest gap {} ms; \
         replicas caught up with b {:?} after the client stopped",
        log.acked.len(),
        log.failed,
        log.longest_gap.as_millis(),
        failed_over.elapsed()
    );
    let history = String::from_utf8_lossy(&tandem(&lab.b, config, "history").stdout).to_string();
    for needle in ["FailoverStarted", "result: \"peer powered off\""] {
        assert!(history.contains(needle), "no {needle} in:\n{history}");
    }

    // The replicas found b through the VIP themselves: b took no action on them.
    let on_b = status(&lab.b, config);
    let source_pos = source_sql(lab, &lab.b, "SELECT @@gtid_binlog_pos");
    for name in ["r1", "r2"] {
        let r = replica_entry(&on_b, name);
        assert!(r["last_action"].is_null(), "b needed no action: {r}");
        assert_eq!(r["source_pos"], source_pos.as_str(), "{r}");
    }
    assert!(
        source_pos.contains("-2-"),
        "b wrote under its own server_id: {source_pos}"
    );
    assert_eq!(source_sql(lab, &lab.b, "SELECT @@gtid_strict_mode"), "1");

    // Every acknowledged write is on b and on both replicas; the same rows, the same GTIDs.
    let source_rows = source_sql(lab, &lab.b, "SELECT id FROM lab.writes ORDER BY id");
    assert_every_ack_on(&pair, &log, &source_rows);
    for node in &pair.replicas {
        let rows = replica_sql(lab, node, "SELECT id FROM lab.writes ORDER BY id");
        assert_eq!(rows, source_rows, "{} diverged", node.role);
        let pos = replica_sql(lab, node, "SELECT @@gtid_current_pos");
        assert_eq!(
            pos, source_pos,
            "{} is not at the source's position",
            node.role
        );
        assert_eq!(
            replica_sql(lab, node, "SELECT @@gtid_strict_mode"),
            "1",
            "{}",
            node.role
        );
    }
}

/// Every id the client saw acknowledged is on b (whose rows are `source_rows`) and on both
/// replicas.
fn assert_every_ack_on(pair: &ReplicaPair, log: &client::WriteLog, source_rows: &str) {
    let lab = &pair.lab;
    assert!(!log.acked.is_empty(), "{log:?}");
    for node in std::iter::once(&lab.b).chain(&pair.replicas) {
        let rows = if node.role == "b" {
            source_rows.to_string()
        } else {
            replica_sql(lab, node, "SELECT id FROM lab.writes ORDER BY id")
        };
        let ids: Vec<u64> = rows.lines().map(|l| l.parse().unwrap()).collect();
        let lost: Vec<u64> = log
            .acked
            .iter()
            .copied()
            .filter(|id| ids.binary_search(id).is_err())
            .collect();
        assert!(
            lost.is_empty(),
            "{}: acknowledged but missing: {lost:?}",
            node.role
        );
    }
}
