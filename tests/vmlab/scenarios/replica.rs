//! A replica follows a real DRBD failover. The lab has two guests and no third machine, so the
//! replica is a second MariaDB server inside vm-b, on its own port (3307) with its datadir in
//! vm-b's RAM, off DRBD: a separate server that only shares the guest. tandemd runs with
//! `[replication]` (binlog on the DRBD filesystem) and the replica as `[[replica]] r1`; vm-a,
//! active, points r1 at the VIP. A client on vm-b writes through the VIP, then vm-a loses
//! power. vm-b power-fences it, promotes DRBD, mounts, recovers mysqld (and its binlog) and
//! adds the VIP. r1's connection to the VIP died with vm-a (no FIN ever comes): after
//! `slave_net_timeout` its IO thread reconnects to the VIP, now on vm-b itself, and goes on
//! from its GTID position. Every write the client saw acknowledged is on r1, r1 is at vm-b's
//! GTID position with the same rows, gtid_strict_mode is on on both, no errant transaction is
//! flagged, and vm-b's `tandem status --json` shows r1 replicating from the VIP without
//! having had to act on it.

use crate::engine::{ClientReport, VIP};
use crate::files::{
    replica_config_path, REPLICATION_CREDENTIALS, REPLICA_CREDENTIALS, REPLICA_PORT,
};
use crate::lab::{Lab, Node, NODES};
use std::time::{Duration, Instant};
use tandem::drbd::Role;
use tandem::replica::ReplicaState;

/// A failover or a catch-up under TCG makes progress within this, or it is stuck.
const MOVE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the client writes before and after the power loss.
const WRITE_PAUSE: Duration = Duration::from_secs(3);
/// The replica server's start under TCG (the source's mysqld takes ~3 s).
const REPLICA_START_TIMEOUT: Duration = Duration::from_secs(120);
/// The replica's files, in vm-b's RAM (the overlaid /var/lib), not on DRBD.
const REPLICA_DIR: &str = "/var/lib/tandem-replica";
const REPLICA_RUN: &str = "/run/tandem-replica";
const REPLICA_SQL: &str = "mariadb --socket=/run/tandem-replica/replica.sock -N -B";
const SOURCE_SQL: &str = "mariadb --socket=/run/mysqld/mysqld.sock -N -B";
const TANDEM_PASSWORD: &str = "tandem-replica-pw";
const REPL_PASSWORD: &str = "repl-pw";

pub fn run(lab: &mut Lab) {
    install_credentials(lab);
    start_replica_server(lab);
    lab.start_engine_with(&replica_config_path(&lab.run_dir));
    lab.sh(
        Node::A,
        &format!(
            "{SOURCE_SQL} -e \"CREATE USER repl@'%' IDENTIFIED BY '{REPL_PASSWORD}'; \
             GRANT REPLICATION SLAVE ON *.* TO repl@'%'\""
        ),
    );
    lab.wait_engine("r1 to replicate from vm-a", MOVE_TIMEOUT, |lab| {
        followed(lab, Node::A)
    });
    let pointed = r1(lab, Node::A).last_action.unwrap_or_default();
    assert!(
        pointed.starts_with(&format!("pointed at {VIP}:3306")),
        "{pointed}"
    );

    let client = lab.start_client(Node::B, 0);
    std::thread::sleep(WRITE_PAUSE);
    lab.power_off_hard(Node::A);
    let took = lab.wait_engine("vm-b to serve", MOVE_TIMEOUT, |lab| lab.serving(Node::B));
    // While the client writes: r1 applies vm-b's writes (its position under vm-b's server_id).
    let serving_at = Instant::now();
    lab.wait_engine("r1 to apply vm-b's writes", MOVE_TIMEOUT, |lab| {
        let applied = lab.sh(
            Node::B,
            &format!("{REPLICA_SQL} -e 'SELECT @@gtid_slave_pos'"),
        );
        applied.contains("-2-")
    });
    let applying = serving_at.elapsed();
    std::thread::sleep(WRITE_PAUSE);
    let report = lab.stop_client(client);
    lab.assert_all_acked_present(Node::B, &report);
    lab.wait_engine("r1 to follow vm-b", MOVE_TIMEOUT, |lab| {
        followed(lab, Node::B)
    });
    assert_eq!(lab.state(Node::B).state.role, Role::Primary);
    let history = lab.tandem_ok(Node::B, "history");
    assert!(history.contains("FailoverStarted"), "{history}");
    let r = r1(lab, Node::B);
    assert_eq!(r.last_action, None, "vm-b needed no action: {r:?}");
    let (source_pos, rows) = assert_r1_holds_every_ack(lab, &report);
    println!(
        "    vm-a powered off: vm-b serves {:.1} s later; r1 (on vm-b, port {REPLICA_PORT}) \
         applies vm-b's writes {:.1} s after that (polled by guest commands), ends at vm-b's \
         position {source_pos} with {rows} rows, none missing; client: {}",
        took.as_secs_f64(),
        applying.as_secs_f64(),
        report.summary
    );
}

/// r1 has vm-b's rows (every acknowledged one among them) at vm-b's GTID position, which goes
/// on under vm-b's server_id, and gtid_strict_mode is on on both. Returns the position and the
/// number of rows.
fn assert_r1_holds_every_ack(lab: &mut Lab, report: &ClientReport) -> (String, usize) {
    let source_pos = lab.sh(
        Node::B,
        &format!("{SOURCE_SQL} -e 'SELECT @@gtid_binlog_pos'"),
    );
    assert!(
        source_pos.contains("-2-"),
        "vm-b wrote under its own server_id: {source_pos}"
    );
    let rows = "-e 'SELECT id FROM lab.writes ORDER BY id'";
    let replica_rows = lab.sh(Node::B, &format!("{REPLICA_SQL} {rows}"));
    assert_eq!(
        replica_rows,
        lab.sh(Node::B, &format!("{SOURCE_SQL} {rows}")),
        "r1 diverged"
    );
    let ids: Vec<u64> = replica_rows
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    let lost: Vec<u64> = report
        .acked
        .iter()
        .copied()
        .filter(|id| ids.binary_search(id).is_err())
        .collect();
    assert!(lost.is_empty(), "acknowledged but not on r1: {lost:?}");
    let replica_pos = lab.sh(
        Node::B,
        &format!("{REPLICA_SQL} -e 'SELECT @@gtid_current_pos'"),
    );
    assert_eq!(replica_pos, source_pos, "r1 is not at vm-b's position");
    for sql in [SOURCE_SQL, REPLICA_SQL] {
        let strict = lab.sh(Node::B, &format!("{sql} -e 'SELECT @@gtid_strict_mode'"));
        assert_eq!(strict.trim(), "1", "{sql}");
    }
    (source_pos.trim().to_string(), ids.len())
}

/// The replication account's and tandem's replica account's files, 0600, on both guests.
fn install_credentials(lab: &mut Lab) {
    let dir = lab.run_dir.join("config");
    let files = [
        ("repl", "repl", REPL_PASSWORD, REPLICATION_CREDENTIALS),
        ("replica-r1", "tandem", TANDEM_PASSWORD, REPLICA_CREDENTIALS),
    ];
    for (name, user, password, installed) in files {
        let source = dir.join(format!("{name}.cred"));
        std::fs::write(&source, format!("user = {user}\npassword = {password}\n")).unwrap();
        for node in NODES {
            lab.sh(
                node,
                &format!("install -m 0600 {} {installed}", source.display()),
            );
        }
    }
}

/// A fresh replica server on vm-b, from the same template as the source's datadir, with
/// tandem's account (outside any binlog: it has none).
fn start_replica_server(lab: &mut Lab) {
    let template = lab.env.mariadb_template.display().to_string();
    let redo = lab.env.mariadb_log_file_size.clone();
    lab.sh(
        Node::B,
        &format!(
            "rm -rf {REPLICA_DIR} {REPLICA_RUN} && mkdir -p {REPLICA_DIR} {REPLICA_RUN} && \
             cp -a {template} {REPLICA_DIR}/data && chown -R mysql:mysql {REPLICA_DIR} {REPLICA_RUN}"
        ),
    );
    lab.spawn(
        Node::B,
        "replica",
        &format!(
            "mariadbd --no-defaults --user=mysql --datadir={REPLICA_DIR}/data \
             --socket={REPLICA_RUN}/replica.sock --pid-file={REPLICA_RUN}/replica.pid \
             --port={REPLICA_PORT} --bind-address=0.0.0.0 --skip-name-resolve \
             --innodb-buffer-pool-size=32M --innodb-log-file-size={redo} \
             --innodb-temp-data-file-path=ibtmp1:1M:autoextend --server-id=11 \
             --gtid-strict-mode=ON"
        ),
    );
    let started = Instant::now();
    while lab
        .exec(Node::B, &format!("{REPLICA_SQL} -e 'SELECT 1'"))
        .code
        != 0
    {
        assert!(
            started.elapsed() < REPLICA_START_TIMEOUT,
            "the replica server on vm-b did not start"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    lab.sh(
        Node::B,
        &format!(
            "{REPLICA_SQL} -e \"CREATE USER tandem@'%' IDENTIFIED BY '{TANDEM_PASSWORD}'; \
             GRANT REPLICATION SLAVE ADMIN, REPLICA MONITOR ON *.* TO tandem@'%'\""
        ),
    );
}

/// r1 as `node`'s tandemd reports it (an empty entry if it does not).
fn r1(lab: &mut Lab, node: Node) -> tandem::replica::ReplicaStatus {
    lab.cluster_status(node)
        .and_then(|s| s.replicas.into_iter().find(|r| r.name == "r1"))
        .unwrap_or_else(|| {
            tandem::replica::ReplicaStatus::empty("r1", "", ReplicaState::Unreachable, None, 0)
        })
}

/// `node`'s tandemd shows r1 replicating from the VIP, at its GTID position, nothing wrong (a
/// flagged errant transaction or a thread error would be in `error`).
fn followed(lab: &mut Lab, node: Node) -> bool {
    let r = r1(lab, node);
    r.state == ReplicaState::Replicating
        && r.gtid_behind == Some(0)
        && r.error.is_none()
        && r.source.as_deref() == Some(&format!("{VIP}:3306"))
}
