//! Disaster promotion on real MariaDB 10.11: the pair (shared-disk) feeds two replicas with
//! binlogs (`log_slave_updates`); a promotion while the pair serves is refused; r2 is
//! stopped so that r1 is ahead; then both pair nodes
//! go down (tandemd and mysqld killed, their links down). `tandem replica promote r2` is
//! refused (r2 is behind r1, by how much); `tandem replica promote r1` makes r1 the primary,
//! r2 follows it and receives what it missed, and a write on r1 reaches r2. Then the old
//! primary rejoins as a replica of r1 by the runbook's commands (replica_rejoin.rs).

use crate::engine::{serving, start_daemon, status, tandem, wait_for};
use crate::fixture::LabNode;
use crate::fixture::{Lab, SUBNET};
use crate::replica::{
    credentials, replica_entry, replica_sql, source_sql, start_replica, TANDEM_PASSWORD,
};
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);

fn promote_config(lab: &Lab) -> PathBuf {
    replicas_config(lab, "", "promote.toml")
}

/// The lab's engine config with `engine_lines` appended to its [engine] table, [replication]
/// (binlog on the shared disk, GTID) and the replicas r1 and r2, as `lab.dir/FILE`.
pub(crate) fn replicas_config(lab: &Lab, engine_lines: &str, file: &str) -> PathBuf {
    let base = crate::engine::engine_config(lab);
    let tandem_creds = credentials(lab, "tandem", "tandem", TANDEM_PASSWORD);
    let repl = credentials(lab, "repl", "repl", "repl-pw");
    let replica = |name: &str, host: u8| {
        format!(
            "[[replica]]\nname = \"{name}\"\nhost = \"{SUBNET}.{host}\"\n\
             credentials_file = \"{}\"\n",
            tandem_creds.display()
        )
    };
    let text = format!(
        "{}{engine_lines}[replication]\nbinlog_dir = \"{}/binlog\"\nserver_ids = {{ a = 1, b = 2 }}\n\
         credentials_file = \"{}\"\n{}{}",
        std::fs::read_to_string(&base).unwrap(),
        lab.mountpoint().display(),
        repl.display(),
        replica("r1", 11),
        replica("r2", 12),
    );
    let path = lab.dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// The pair (a serving) feeding r1 and r2, both with binlogs and `log_slave_updates` and
/// tandem's promotion grants, both caught up with a's first rows (ids 1 and 2).
pub(crate) struct PromoteLab {
    pub r1: LabNode,
    pub r2: LabNode,
    pub config: PathBuf,
    pub daemons: Vec<Child>,
    pub children: Vec<Child>,
    pub lab: Lab,
}

pub(crate) fn promote_lab() -> PromoteLab {
    let lab = Lab::new();
    lab.mount_shared(&lab.a);
    lab.umount(&lab.a);
    let r1 = lab.extra_node("r1", 11);
    let r2 = lab.extra_node("r2", 12);
    let mut children = Vec::new();
    for (node, id) in [(&r1, 11), (&r2, 12)] {
        let binlog = lab.dir.join(format!("{}-binlog", node.role));
        std::fs::create_dir_all(&binlog).unwrap();
        crate::fixture::host(&format!("chown mysql:mysql {}", binlog.display()));
        let extra = format!(
            "--log-bin={}/binlog --log-slave-updates=ON",
            binlog.display()
        );
        children.push(start_replica(&lab, node, id, &extra));
        replica_sql(
            &lab,
            node,
            "SET sql_log_bin = 0; GRANT READ_ONLY ADMIN, RELOAD ON *.* TO tandem@'%'",
        );
    }
    let config = promote_config(&lab);
    let daemons = vec![
        start_daemon(&lab, &lab.a, &config),
        start_daemon(&lab, &lab.b, &config),
    ];
    wait_for(&lab, "a to serve", Duration::from_secs(30), || {
        serving(&lab.a, &config)
    });
    source_sql(
        &lab,
        &lab.a,
        "CREATE USER repl@'%' IDENTIFIED BY 'repl-pw'; GRANT REPLICATION SLAVE ON *.* TO \
         repl@'%'; CREATE DATABASE lab; CREATE TABLE lab.writes (id BIGINT PRIMARY KEY, at \
         DOUBLE) ENGINE=InnoDB; INSERT INTO lab.writes VALUES (1, 0), (2, 0)",
    );
    let caught_up = |name: &str| {
        let r = replica_entry(&status(&lab.a, &config), name);
        r["state"] == "replicating" && r["gtid_behind"] == 0
    };
    wait_for(&lab, "both replicas to catch up", CATCH_UP_TIMEOUT, || {
        caught_up("r1") && caught_up("r2")
    });
    PromoteLab {
        r1,
        r2,
        config,
        daemons,
        children,
        lab,
    }
}

/// The pair is gone: both daemons and the server killed, both nodes off the network.
pub(crate) fn pair_gone(lab: &Lab, daemons: Vec<Child>) {
    for mut d in daemons {
        let _ = d.kill();
        let _ = d.wait();
    }
    // Only the processes in a's and b's network namespaces (never by name: the host's PID
    // namespace is shared with other labs).
    for node in [&lab.a, &lab.b] {
        crate::fixture::host(&format!("ip netns pids {} | xargs -r kill -9", node.netns));
    }
    for node in [&lab.a, &lab.b] {
        node.sh_ok("ip link set lan0 down");
    }
}

#[test]
fn replica_promote_refuses_a_replica_behind_and_promotes_the_most_advanced() {
    let PromoteLab {
        r1,
        r2,
        config,
        daemons,
        children,
        lab,
    } = promote_lab();
    let caught_up = |name: &str| {
        let r = replica_entry(&status(&lab.a, &config), name);
        r["state"] == "replicating" && r["gtid_behind"] == 0
    };
    // r2 stops; three more transactions reach r1 only.
    replica_sql(&lab, &r2, "STOP SLAVE");
    for id in 3..=5 {
        source_sql(
            &lab,
            &lab.a,
            &format!("INSERT INTO lab.writes VALUES ({id}, 0)"),
        );
    }
    wait_for(&lab, "r1 to catch up", CATCH_UP_TIMEOUT, || caught_up("r1"));
    let pair_pos = source_sql(&lab, &lab.a, "SELECT @@gtid_binlog_pos");

    // While the pair serves, a promotion is refused.
    let alive = tandem(&lab.client, &config, "replica promote r1");
    let stderr = String::from_utf8_lossy(&alive.stderr);
    eprintln!("$ tandem replica promote r1   # the pair serves\n{stderr}");
    assert!(
        stderr.contains("the DRBD pair may still be serving: node a answers on its peer link")
            && stderr.contains("a server answers on the VIP"),
        "{stderr}"
    );
    assert!(replica_sql(&lab, &r1, "SHOW SLAVE STATUS").contains("10.99.0.100"));

    pair_gone(&lab, daemons);

    let behind = tandem(&lab.client, &config, "replica promote r2");
    let stderr = String::from_utf8_lossy(&behind.stderr);
    eprintln!("$ tandem replica promote r2\n{stderr}");
    assert!(!behind.status.success());
    assert!(
        stderr.contains("r2 is behind r1 by 3 transaction(s)")
            && stderr.contains("promote r1, or add --force"),
        "{stderr}"
    );
    assert_eq!(
        replica_sql(&lab, &r2, "SELECT COUNT(*) FROM lab.writes"),
        "2"
    );

    let out = tandem(&lab.client, &config, "replica promote r1");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("$ tandem replica promote r1\n{stderr}{stdout}");
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("new primary: r1 at {pair_pos}")),
        "{stdout}"
    );
    assert!(stdout.contains("r2: follows 10.99.0.11:3306"), "{stdout}");
    assert!(
        stdout.contains("may be lost: unknown: the pair is unreachable"),
        "{stdout}"
    );
    assert_eq!(replica_sql(&lab, &r1, "SHOW SLAVE STATUS"), "");
    assert_eq!(replica_sql(&lab, &r1, "SELECT @@read_only"), "0");
    assert_eq!(
        replica_sql(&lab, &r2, "SELECT COUNT(*) FROM lab.writes"),
        "5"
    );

    // A write on the new primary reaches the other replica.
    replica_sql(&lab, &r1, "INSERT INTO lab.writes VALUES (6, 1)");
    let new_pos = replica_sql(&lab, &r1, "SELECT @@gtid_binlog_pos");
    assert!(
        new_pos.contains("0-11-"),
        "r1 writes under its own server_id: {new_pos}"
    );
    wait_for(&lab, "r2 to receive r1's write", CATCH_UP_TIMEOUT, || {
        replica_sql(&lab, &r2, "SELECT @@gtid_slave_pos") == new_pos
    });
    assert_eq!(
        replica_sql(&lab, &r2, "SELECT id FROM lab.writes ORDER BY id"),
        replica_sql(&lab, &r1, "SELECT id FROM lab.writes ORDER BY id")
    );

    // The runbook's last step: the old primary, a, rejoins as a replica of r1.
    crate::replica_rejoin::old_primary_rejoins(&lab, &lab.a, &r1, &pair_pos);
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}
