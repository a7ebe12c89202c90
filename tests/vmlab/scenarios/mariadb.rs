//! MariaDB on DRBD, driven by hand through tandem's DRBD layer (the engine's own run of the
//! same chain is the engine scenario's job). The datadir is the template setup.sh made once on
//! the host (no mariadb-install-db under TCG). Faults: `kill -9` of mariadbd, after which crash
//! recovery keeps every committed row. Then a switchover to vm-b (stop, umount, demote,
//! promote, mount, start), which serves the same rows and takes a new one.

use crate::lab::{Lab, Node, MOUNTPOINT};
use std::time::Instant;

const SOCKET: &str = "/run/mysqld/mysqld.sock";
const CLIENT: &str = "mariadb --socket=/run/mysqld/mysqld.sock -N -B";

pub fn run(lab: &mut Lab) {
    lab.tandem_ok(Node::A, "drbd primary");
    let template = lab.env.mariadb_template.clone();
    lab.sh(
        Node::A,
        &format!(
            "mkfs.ext4 -q -F /dev/drbd0 && mount /dev/drbd0 {MOUNTPOINT} && \
             cp -a {} {MOUNTPOINT}/mysql && chown -R mysql:mysql {MOUNTPOINT}/mysql",
            template.display()
        ),
    );
    start_mariadbd(lab, Node::A);
    lab.sh(
        Node::A,
        &format!(
            "{CLIENT} -e \"CREATE DATABASE lab; CREATE TABLE lab.t (id INT PRIMARY KEY, node \
             VARCHAR(8)) ENGINE=InnoDB; INSERT INTO lab.t VALUES (1,'vm-a'),(2,'vm-a'),(3,'vm-a')\""
        ),
    );

    // A crash of the server: every committed row survives the restart.
    lab.kill_9(Node::A, "mariadbd");
    start_mariadbd(lab, Node::A);
    assert_eq!(rows(lab, Node::A), 3);

    // Switchover to vm-b: DRBD refuses the mount-holding demote until the server and the
    // mount are gone, then vm-b serves the same rows.
    let switchover = Instant::now();
    lab.sh(
        Node::A,
        &format!("mariadb-admin --socket={SOCKET} shutdown"),
    );
    lab.stop(Node::A, "mariadbd");
    lab.sh(Node::A, &format!("umount {MOUNTPOINT}"));
    lab.tandem_ok(Node::A, "drbd secondary");
    lab.tandem_ok(Node::B, "drbd primary");
    lab.sh(Node::B, &format!("mount /dev/drbd0 {MOUNTPOINT}"));
    start_mariadbd(lab, Node::B);
    assert_eq!(rows(lab, Node::B), 3);
    println!(
        "    switchover vm-a → vm-b (stop, umount, demote, promote, mount, start): {:.1} s",
        switchover.elapsed().as_secs_f64()
    );
    lab.sh(
        Node::B,
        &format!("{CLIENT} -e \"INSERT INTO lab.t VALUES (4,'vm-b')\""),
    );
    assert_eq!(rows(lab, Node::B), 4);
    lab.sh(
        Node::B,
        &format!("mariadb-admin --socket={SOCKET} shutdown"),
    );
    lab.stop(Node::B, "mariadbd");
    lab.sh(Node::B, &format!("umount {MOUNTPOINT}"));
    lab.tandem_ok(Node::B, "drbd secondary");
}

/// mariadbd on the DRBD filesystem, as a lab process; waits until it answers.
fn start_mariadbd(lab: &mut Lab, node: Node) {
    let log_size = lab.env.mariadb_log_file_size.clone();
    lab.sh(
        node,
        "mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld",
    );
    lab.spawn(
        node,
        "mariadbd",
        &format!(
            "mariadbd --no-defaults --user=mysql --datadir={MOUNTPOINT}/mysql --socket={SOCKET} \
             --pid-file=/run/mysqld/mysqld.pid --skip-networking --innodb-buffer-pool-size=32M \
             --innodb-log-file-size={log_size} --log-error={MOUNTPOINT}/mysql/mysqld.err"
        ),
    );
    let started = Instant::now();
    lab.sh(
        node,
        &format!(
            "i=0; until mariadb-admin --socket={SOCKET} ping >/dev/null 2>&1; do\n  \
               i=$((i+1)); [ $i -lt 600 ] || {{ tail -20 {MOUNTPOINT}/mysql/mysqld.err; exit 1; }}\n  \
               sleep 0.1\n\
             done"
        ),
    );
    println!(
        "    mariadbd ready on {} in {:.1} s",
        node.name(),
        started.elapsed().as_secs_f64()
    );
}

fn rows(lab: &mut Lab, node: Node) -> u32 {
    let count = lab.sh(node, &format!("{CLIENT} -e 'SELECT COUNT(*) FROM lab.t'"));
    count
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("row count {count:?}: {e}"))
}
