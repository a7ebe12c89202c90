//! The runbook's last step (docs/runbooks/replica-promotion.md, "4. The old pair rejoins as a
//! replica of the promoted server"), end to end after a real promotion, by its commands with
//! the lab's paths: the old primary comes back (its link up, its VIP gone as after a reboot,
//! tandemd kept stopped), its filesystem is mounted by hand, its server started without
//! networking and without replication; its position is compared with the new primary's
//! (nothing extra here), it is made a replica in place and restarted with networking. It then
//! receives what the new primary wrote since the promotion, and a new write too.

use crate::engine::{tandem, wait_for};
use crate::fixture::{Lab, LabNode, VIP};
use crate::replica::{replica_sql, source_sql, sql_on};
use crate::replica_promote::{pair_gone, promote_lab, PromoteLab};
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};
use tandem::replica::{Gtid, GtidPos};

/// The old server's start after a kill -9 (crash recovery) and the catch-up.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The old primary's server, started as the runbook says: with its `[replication]` options
/// (its server_id, the binlog on the shared filesystem). Without the binlog, crash recovery
/// refuses: "Found 1 prepared transactions! … start server with --tc-heuristic-recover"
/// (seen here after the pair's kill -9). `networking`: the second start.
fn start_old_server(lab: &Lab, node: &LabNode, networking: bool) -> Child {
    let mnt = lab.mountpoint();
    let run = lab.run_dir();
    let how = if networking {
        // read_only in its options: the SET GLOBAL before the restart does not survive it.
        "--port=3306 --bind-address=0.0.0.0 --skip-name-resolve --read-only=ON"
    } else {
        "--skip-networking --skip-slave-start"
    };
    let child = node.spawn(
        "sh",
        &[
            "-c",
            &format!(
                "exec mariadbd --no-defaults --user=mysql --datadir={m}/data \
                 --server-id=1 --log-bin={m}/binlog/binlog --log-bin-index={m}/binlog/binlog.index \
                 --gtid-strict-mode=ON \
                 --socket={r}/rejoin.sock --pid-file={r}/rejoin.pid --log-error={e} \
                 --innodb-buffer-pool-size=32M {how}",
                m = mnt.display(),
                r = run.display(),
                e = lab.dir.join("rejoin.err").display()
            ),
        ],
    );
    let started = Instant::now();
    while node.sh(&sql_on(&socket(lab), "SELECT 1")).status.code() != Some(0) {
        assert!(
            started.elapsed() < TIMEOUT,
            "the old primary's server did not start: {}",
            std::fs::read_to_string(lab.dir.join("rejoin.err")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn socket(lab: &Lab) -> PathBuf {
    lab.run_dir().join("rejoin.sock")
}

fn old_sql(lab: &Lab, node: &LabNode, sql: &str) -> String {
    node.sh_ok(&sql_on(&socket(lab), sql))
}

/// `old`, the pair's last primary, is down with everything it had (killed, link down);
/// `new_primary` is the promoted replica; `pair_pos` the pair's last GTID position.
pub(crate) fn old_primary_rejoins(lab: &Lab, old: &LabNode, new_primary: &LabNode, pair_pos: &str) {
    let mut server = bring_back(lab, old);
    let old_pos = old_sql(lab, old, "SELECT @@gtid_binlog_pos");
    eprintln!("{}# SELECT @@gtid_binlog_pos\n{old_pos}", old.role);
    assert_eq!(old_pos, pair_pos, "the old primary's own position");
    let new_state = replica_sql(lab, new_primary, "SELECT @@gtid_binlog_state");
    eprintln!("new primary# SELECT @@gtid_binlog_state\n{new_state}");
    let extra = extra(&old_pos, &new_state);
    assert!(
        extra.is_empty(),
        "extra transactions on the old primary: {extra:?}"
    );

    // Nothing extra: a replica in place, then a restart with networking.
    old_sql(
        lab,
        old,
        &format!(
            "SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos; SET GLOBAL read_only = ON; \
             CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT=3306, MASTER_USER='repl', \
             MASTER_PASSWORD='repl-pw', MASTER_USE_GTID=slave_pos; START SLAVE",
            new_primary.ip
        ),
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = server.wait();
    let mut server = start_old_server(lab, old, true);

    // It follows the new primary: what it wrote since the promotion, and a new write.
    replica_sql(lab, new_primary, "INSERT INTO lab.writes VALUES (7, 2)");
    let new_pos = replica_sql(lab, new_primary, "SELECT @@gtid_binlog_pos");
    wait_for(lab, "the old primary to follow", TIMEOUT, || {
        old_sql(lab, old, "SELECT @@gtid_slave_pos") == new_pos
    });
    let rows = "SELECT id FROM lab.writes ORDER BY id";
    assert_eq!(old_sql(lab, old, rows), replica_sql(lab, new_primary, rows));
    let status = old.sh_ok(&format!(
        "mariadb -S {} -e 'SHOW SLAVE STATUS\\G'",
        socket(lab).display()
    ));
    for needle in [
        format!("Master_Host: {}", new_primary.ip),
        "Slave_IO_Running: Yes".into(),
        "Slave_SQL_Running: Yes".into(),
        "Using_Gtid: Slave_Pos".into(),
    ] {
        assert!(status.contains(&needle), "{needle} not in:\n{status}");
    }
    assert_eq!(old_sql(lab, old, "SELECT @@read_only"), "1");
    let _ = server.kill();
    let _ = server.wait();
}

/// The old primary comes back as after a reboot (no VIP, nothing mounted, link up), its
/// filesystem mounted by hand, its server started without networking or replication.
fn bring_back(lab: &Lab, old: &LabNode) -> Child {
    let mnt = lab.mountpoint();
    old.sh_ok(&format!(
        "ip addr del {VIP}/24 dev lan0 2>/dev/null; umount {} 2>/dev/null; \
         ip link set lan0 up",
        mnt.display()
    ));
    lab.mount_shared(old);
    start_old_server(lab, old, false)
}

fn gtids(list: &str) -> Vec<Gtid> {
    list.split(',')
        .filter(|g| !g.trim().is_empty())
        .map(|g| {
            let pos: GtidPos = g.parse().unwrap();
            pos.0.into_values().next().unwrap()
        })
        .collect()
}

/// The runbook's rule: a GTID of the old primary's `@@gtid_binlog_pos` is extra unless the
/// new primary's `@@gtid_binlog_state` (the last GTID of every domain and server_id it logged;
/// its `_pos` shows only its own) has the same domain and server_id with a seq_no as high.
fn extra(old_pos: &str, new_state: &str) -> Vec<Gtid> {
    let new = gtids(new_state);
    gtids(old_pos)
        .into_iter()
        .filter(|last| {
            !new.iter()
                .any(|g| g.domain == last.domain && g.server == last.server && g.seq >= last.seq)
        })
        .collect()
}

/// The runbook's other branch, as far as finding the lost writes: the old primary committed
/// a transaction that no replica received; after the promotion the comparison finds it, and
/// the runbook's `mariadb-binlog` command, from the new primary's last GTID of that server,
/// shows its row and nothing before it.
#[test]
fn an_old_primary_with_a_write_the_promoted_server_lacks_is_found_and_the_write_saved() {
    let PromoteLab {
        r1,
        r2,
        config,
        daemons,
        children,
        lab,
    } = promote_lab();
    for replica in [&r1, &r2] {
        replica_sql(&lab, replica, "STOP SLAVE");
    }
    source_sql(&lab, &lab.a, "INSERT INTO lab.writes VALUES (3, 0)");
    let pair_pos = source_sql(&lab, &lab.a, "SELECT @@gtid_binlog_pos");
    pair_gone(&lab, daemons);
    let out = tandem(&lab.client, &config, "replica promote r1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut server = bring_back(&lab, &lab.a);
    let old_pos = old_sql(&lab, &lab.a, "SELECT @@gtid_binlog_pos");
    assert_eq!(old_pos, pair_pos);
    let new_state = replica_sql(&lab, &r1, "SELECT @@gtid_binlog_state");
    let extra = extra(&old_pos, &new_state);
    assert_eq!(extra, gtids(&old_pos), "{old_pos} vs {new_state}");
    // Save them, from the new primary's last GTID of the old primary's server.
    let from = gtids(&new_state)
        .into_iter()
        .find(|g| g.domain == extra[0].domain && g.server == extra[0].server)
        .expect("the new primary has the old primary's earlier GTIDs");
    let saved = lab.a.sh_ok(&format!(
        "mariadb-binlog --verbose --start-position={from} {}/binlog/binlog.0*",
        lab.mountpoint().display()
    ));
    eprintln!("old {old_pos}, new state {new_state}; saved from {from}");
    let inserts: Vec<&str> = saved
        .lines()
        .filter(|l| l.starts_with("### INSERT INTO `lab`.`writes`"))
        .collect();
    assert_eq!(inserts.len(), 1, "{saved}");
    assert!(saved.contains("###   @1=3"), "{saved}");
    let _ = server.kill();
    let _ = server.wait();
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}
