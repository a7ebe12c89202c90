//! Replicas on real MariaDB 10.11: the two-node pair (shared-disk) as a GTID source, two
//! replica servers in their own namespaces on the lab network, started from the same initial
//! datadir as the source (the template, before the source wrote anything), a client writing
//! through the VIP and a switchover. Every acknowledged write must be on both replicas, and
//! both must end at the source's GTID position with the same rows. A replica that cannot be
//! reached and one whose credentials are wrong each get a sentence and no action.

use crate::client;
use crate::engine::{engine_config, log_of, serving, start_daemon, status, tandem, wait_for};
use crate::fixture::{mariadb_template, Lab, LabNode, SUBNET, VIP};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A replica server starts in well under a second; this is the stall limit.
const REPLICA_START_TIMEOUT: Duration = Duration::from_secs(30);
/// Replicas catch up within a few checks (2 s each) after the writes stop.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// After a switchover a replica notices its dead connection within slave_net_timeout (4 s,
/// set by tandem; MariaDB's default of 60 s would fail this), reconnects within 1 s and is
/// checked within 2 s.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(20);
pub(crate) const TANDEM_PASSWORD: &str = "tandem-pw";
/// The metrics address on every node: each node's own loopback (its network namespace).
const METRICS: &str = "127.0.0.1:9942";

pub(crate) fn credentials(lab: &Lab, name: &str, user: &str, password: &str) -> PathBuf {
    let path = lab.dir.join(format!("{name}.cred"));
    std::fs::write(
        &path,
        format!("# {name}\nuser = {user}\npassword = {password}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// A replica server on `node`: a copy of the source's initial datadir, its own server_id.
pub(crate) fn start_replica(
    lab: &Lab,
    node: &LabNode,
    server_id: u32,
    extra: &str,
) -> std::process::Child {
    let data = lab.dir.join(format!("{}-data", node.role));
    let socket = lab.run_dir().join("replica.sock");
    node.sh_ok(&format!(
        "cp -a --sparse=always {t} {d} && chown -R mysql:mysql {d}",
        t = mariadb_template().display(),
        d = data.display()
    ));
    let log = lab.dir.join(format!("{}.err", node.role));
    let child = node.spawn(
        "sh",
        &[
            "-c",
            &format!(
                "exec mariadbd --no-defaults --user=mysql --datadir={d} --socket={s} \
                 --pid-file={r}/replica.pid --port=3306 --bind-address=0.0.0.0 \
                 --skip-name-resolve --innodb-buffer-pool-size=32M --server-id={server_id} \
                 --gtid-strict-mode=ON --rpl-semi-sync-slave-enabled=ON --log-error={l} {extra}",
                d = data.display(),
                s = socket.display(),
                r = lab.run_dir().display(),
                l = log.display()
            ),
        ],
    );
    let started = Instant::now();
    while node.sh(&sql_on(&socket, "SELECT 1")).status.code() != Some(0) {
        assert!(
            started.elapsed() < REPLICA_START_TIMEOUT,
            "replica {} did not start: {}",
            node.role,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // tandem's account on the replica, outside its binlog (if it has one): nothing errant.
    node.sh_ok(&sql_on(
        &socket,
        &format!(
            "SET sql_log_bin = 0; CREATE USER tandem@'%' IDENTIFIED BY '{TANDEM_PASSWORD}'; \
             GRANT REPLICATION SLAVE ADMIN, REPLICA MONITOR ON *.* TO tandem@'%'"
        ),
    ));
    child
}

pub(crate) fn sql_on(socket: &Path, sql: &str) -> String {
    format!("mariadb -N -B -S {} -e \"{sql}\"", socket.display())
}

pub(crate) fn replica_sql(lab: &Lab, node: &LabNode, sql: &str) -> String {
    node.sh_ok(&sql_on(&lab.run_dir().join("replica.sock"), sql))
}

pub(crate) fn source_sql(lab: &Lab, node: &LabNode, sql: &str) -> String {
    node.sh_ok(&sql_on(&lab.run_dir().join("mysqld.sock"), sql))
}

/// The lab's engine config with [replication] and four [[replica]]: r1 and r2 real, r3 an
/// address nobody answers on, r4 r2's server with a wrong password.
fn replica_config(lab: &Lab) -> PathBuf {
    let base = engine_config(lab);
    let good = credentials(lab, "tandem", "tandem", TANDEM_PASSWORD);
    let bad = credentials(lab, "wrong", "tandem", "not-the-password");
    let repl = credentials(lab, "repl", "repl", "repl-pw");
    let replica = |name: &str, host: u8, creds: &Path| {
        format!(
            "[[replica]]\nname = \"{name}\"\nhost = \"{SUBNET}.{host}\"\n\
             credentials_file = \"{}\"\n",
            creds.display()
        )
    };
    let text = format!(
        "{}[metrics]\nlisten = \"{METRICS}\"\n[replication]\nbinlog_dir = \"{}/binlog\"\nserver_ids = {{ a = 1, b = 2 }}\n\
         credentials_file = \"{}\"\nsemi_sync = true\nsemi_sync_timeout_ms = 2000\n{}{}{}{}",
        std::fs::read_to_string(&base).unwrap(),
        lab.mountpoint().display(),
        repl.display(),
        replica("r1", 11, &good),
        replica("r2", 12, &good),
        replica("r3", 13, &good),
        replica("r4", 12, &bad),
    );
    let path = lab.dir.join("replica.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn replica_entry(status: &serde_json::Value, name: &str) -> serde_json::Value {
    status["replicas"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["name"] == name).cloned())
        .unwrap_or_default()
}

/// r1 and r2 replicate and are caught up with the source's position; r3 and r4 are reported.
fn caught_up(node: &LabNode, config: &Path) -> bool {
    let s = status(node, config);
    ["r1", "r2"].iter().all(|name| {
        let r = replica_entry(&s, name);
        r["state"] == "replicating" && r["gtid_behind"] == 0
    }) && replica_entry(&s, "r3")["state"] == "unreachable"
        && replica_entry(&s, "r4")["state"] == "error"
}

#[test]
fn replicas_follow_the_vip_through_a_switchover_and_bad_ones_are_only_reported() {
    let lab = Lab::new();
    lab.mount_shared(&lab.a);
    lab.umount(&lab.a);
    let r1 = lab.extra_node("r1", 11);
    let r2 = lab.extra_node("r2", 12);
    let replicas = [
        start_replica(&lab, &r1, 11, ""),
        start_replica(&lab, &r2, 12, ""),
    ];
    let config = replica_config(&lab);
    let daemon_a = start_daemon(&lab, &lab.a, &config);
    let daemon_b = start_daemon(&lab, &lab.b, &config);
    wait_for(&lab, "a to serve", Duration::from_secs(30), || {
        serving(&lab.a, &config)
    });
    source_sql(
        &lab,
        &lab.a,
        "CREATE USER repl@'%' IDENTIFIED BY 'repl-pw'; GRANT REPLICATION SLAVE ON *.* TO repl@'%'",
    );
    let cfg = lab.config();
    lab.a.run(|| client::setup_schema(&cfg.settings.mysqld));
    wait_for(
        &lab,
        "replicas to replicate from a",
        CATCH_UP_TIMEOUT,
        || caught_up(&lab.a, &config),
    );
    let on_a = status(&lab.a, &config);
    for name in ["r1", "r2"] {
        let r = replica_entry(&on_a, name);
        assert_eq!(r["source"], format!("{VIP}:3306"), "{r}");
        assert!(
            r["last_action"]
                .as_str()
                .is_some_and(|a| a.starts_with(&format!("pointed at {VIP}:3306"))),
            "{r}"
        );
    }
    let r3 = replica_entry(&on_a, "r3");
    assert!(
        r3["error"].as_str().unwrap().contains("10.99.0.13:3306"),
        "{r3}"
    );
    let r4 = replica_entry(&on_a, "r4");
    assert!(
        r4["error"]
            .as_str()
            .unwrap()
            .contains("refused tandem's login as tandem"),
        "{r4}"
    );
    for r in [&r3, &r4] {
        assert!(
            r["last_action"].is_null(),
            "no action on a bad replica: {r}"
        );
    }
    assert!(source_sql(&lab, &lab.a, "SELECT @@server_id").ends_with('1'));

    // A client writes through the VIP while the service moves to b.
    let stop = AtomicBool::new(false);
    let log = std::thread::scope(|scope| {
        let writer = scope.spawn(|| lab.client.run(|| client::write_until(&stop, VIP, 0)));
        std::thread::sleep(Duration::from_millis(500));
        let out = tandem(&lab.a, &config, "switchover --to b --force --wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::SeqCst);
        writer.join().unwrap()
    });
    assert!(!log.acked.is_empty());
    let switched = Instant::now();
    wait_for(
        &lab,
        "replicas to catch up with b",
        RECONNECT_TIMEOUT,
        || caught_up(&lab.b, &config),
    );
    eprintln!(
        "replicas caught up with b {:?} after the switchover",
        switched.elapsed()
    );
    assert!(source_sql(&lab, &lab.b, "SELECT @@server_id").ends_with('2'));
    // Semi-synchronous: b's commits were acknowledged by a replica.
    let semi_sync = source_sql(
        &lab,
        &lab.b,
        "SHOW GLOBAL STATUS WHERE Variable_name IN \
         ('Rpl_semi_sync_master_status', 'Rpl_semi_sync_master_yes_tx')",
    );
    eprintln!("semi-sync on b: {semi_sync:?}");
    assert!(
        semi_sync.contains("Rpl_semi_sync_master_status\tON"),
        "{semi_sync}"
    );
    let yes_tx: u64 = semi_sync
        .lines()
        .find_map(|l| l.strip_prefix("Rpl_semi_sync_master_yes_tx\t"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        yes_tx > 0,
        "no commit on b was acknowledged by a replica: {semi_sync}"
    );
    let on_b = status(&lab.b, &config);
    for name in ["r1", "r2", "r3", "r4"] {
        let r = replica_entry(&on_b, name);
        assert!(r["last_action"].is_null(), "b needed no action: {r}");
    }
    assert!(status(&lab.a, &config)["replicas"]
        .as_array()
        .is_some_and(|r| r.is_empty()));

    // Every acknowledged write is on both replicas; they hold the source's rows, at its GTID.
    let source_rows = source_sql(&lab, &lab.b, "SELECT id FROM lab.writes ORDER BY id");
    let source_pos = source_sql(&lab, &lab.b, "SELECT @@gtid_binlog_pos");
    assert!(
        source_pos.contains("-2-"),
        "b wrote under its own server_id: {source_pos}"
    );
    for node in [&r1, &r2] {
        let rows = replica_sql(&lab, node, "SELECT id FROM lab.writes ORDER BY id");
        let ids: Vec<u64> = rows.lines().map(|l| l.parse().unwrap()).collect();
        for id in &log.acked {
            assert!(
                ids.contains(id),
                "{}: acknowledged write {id} is missing",
                node.role
            );
        }
        assert_eq!(rows, source_rows, "{} diverged", node.role);
        let pos = replica_sql(&lab, node, "SELECT @@gtid_current_pos");
        assert_eq!(
            pos, source_pos,
            "{} is not at the source's position",
            node.role
        );
    }
    let metrics = lab.b.sh_ok(&format!(
        "curl -sf --max-time 2 http://{METRICS}/metrics | grep '^tandem_replica_'"
    ));
    for expected in [
        "tandem_replica_up{node=\"b\",replica=\"r1\"} 1",
        "tandem_replica_up{node=\"b\",replica=\"r3\"} 0",
        "tandem_replica_gtid_behind{node=\"b\",replica=\"r2\"} 0",
        "tandem_replica_lag_seconds{node=\"b\",replica=\"r1\"} 0",
    ] {
        assert!(metrics.contains(expected), "{expected} not in:\n{metrics}");
    }
    let sample = format!(
        "$ tandem status\n{}\n$ tandem replica status\n{}\n$ curl -s http://{METRICS}/metrics | grep ^tandem_replica_\n{metrics}\n",
        String::from_utf8_lossy(&tandem(&lab.b, &config, "status").stdout),
        String::from_utf8_lossy(&tandem(&lab.b, &config, "replica status").stdout)
    );
    eprintln!("{sample}");
    let _ = std::fs::write("/tmp/tandem-replica-sample.txt", sample);
    for mut child in [daemon_a, daemon_b].into_iter().chain(replicas) {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = log_of(&lab, &lab.a);
}

/// A replica with its own binlog that takes a write of its own has an errant transaction:
/// tandem says so in its status, and does nothing to it.
#[test]
fn an_errant_transaction_on_a_replica_is_reported_and_left_alone() {
    let lab = Lab::new();
    lab.mount_shared(&lab.a);
    lab.umount(&lab.a);
    let r1 = lab.extra_node("r1", 11);
    let r1_data = lab.dir.join("r1-binlog");
    std::fs::create_dir_all(&r1_data).unwrap();
    crate::fixture::host(&format!("chown mysql:mysql {}", r1_data.display()));
    let replica = start_replica(
        &lab,
        &r1,
        11,
        &format!("--log-bin={}/binlog", r1_data.display()),
    );
    let config = replica_config(&lab);
    let daemon_a = start_daemon(&lab, &lab.a, &config);
    let daemon_b = start_daemon(&lab, &lab.b, &config);
    wait_for(&lab, "a to serve", Duration::from_secs(30), || {
        serving(&lab.a, &config)
    });
    source_sql(
        &lab,
        &lab.a,
        "CREATE USER repl@'%' IDENTIFIED BY 'repl-pw'; GRANT REPLICATION SLAVE ON *.* TO repl@'%'",
    );
    let replicating = || {
        let r = replica_entry(&status(&lab.a, &config), "r1");
        r["state"] == "replicating" && r["gtid_behind"] == 0
    };
    wait_for(&lab, "r1 to replicate", CATCH_UP_TIMEOUT, replicating);
    replica_sql(&lab, &r1, "CREATE DATABASE local_only");
    let errant = || {
        let r = replica_entry(&status(&lab.a, &config), "r1");
        r["state"] == "error"
            && r["error"]
                .as_str()
                .is_some_and(|e| e.contains("errant transactions: 0-11-"))
    };
    wait_for(&lab, "r1 to be flagged errant", CATCH_UP_TIMEOUT, errant);
    let r = replica_entry(&status(&lab.a, &config), "r1");
    eprintln!("{}", r["error"]);
    let action = r["last_action"].as_str().unwrap_or_default().to_string();
    assert!(action.starts_with("pointed at"), "{r}");
    // Two more checks later, tandem has still done nothing else to it.
    std::thread::sleep(Duration::from_millis(
        2 * tandem::daemon::replicas::REPLICA_CHECK_INTERVAL_MS,
    ));
    let r = replica_entry(&status(&lab.a, &config), "r1");
    assert_eq!(r["last_action"], action, "{r}");
    assert_eq!(r["state"], "error", "{r}");
    for mut child in [daemon_a, daemon_b, replica] {
        let _ = child.kill();
        let _ = child.wait();
    }
}
