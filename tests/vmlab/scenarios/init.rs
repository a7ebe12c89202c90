//! `tandem init`'s other initial-primary path: a full initial sync (`drbdadm primary --force`,
//! no `--skip-initial-sync`) and an existing MariaDB datadir moved onto DRBD
//! (`--move-datadir`), copied and verified, then found on the peer after a switch of roles.
//! Blank disks, the lab's binaries and protocol-C config.

use crate::lab::{Lab, Node, MOUNTPOINT};
use std::time::Duration;

/// mkfs, a 26 MiB copy and its verification under TCG, with the sync running beside them.
const INIT_TIMEOUT: Duration = Duration::from_secs(300);
/// 128 MiB at the lab's 8 MiB/s resync rate, under TCG.
const SYNC_TIMEOUT: Duration = Duration::from_secs(120);
/// The "existing" datadir, as the distribution's would be at /var/lib/mysql.
const OLD_DATADIR: &str = "/srv/old-datadir";

fn init(lab: &mut Lab, node: Node, args: &str) -> String {
    let out = lab
        .guest(node)
        .exec(&format!("tandem init {args}"), INIT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out.code,
        0,
        "[{}] tandem init {args}:\n{}{}",
        node.name(),
        out.stdout,
        out.stderr
    );
    out.stdout
}

pub fn run(lab: &mut Lab) {
    let template = lab.env.mariadb_template.display().to_string();
    lab.both(|_, guest| guest.sh("rm -f /etc/drbd.d/r0.res && wipefs --all --quiet /dev/vda"));
    lab.sh(
        Node::A,
        &format!("rm -rf {OLD_DATADIR} && cp -a {template} {OLD_DATADIR} && chown -R mysql:mysql {OLD_DATADIR}"),
    );
    let [a, b] = lab.both(|node, guest| {
        let out = guest
            .exec("tandem init", INIT_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out.code,
            0,
            "[{}] {}{}",
            node.name(),
            out.stdout,
            out.stderr
        );
        out.stdout
    });
    for out in [&a, &b] {
        assert!(out.contains("done: `drbdadm create-md`"), "{out}");
    }
    let primary = init(
        lab,
        Node::A,
        &format!("--initial-primary --move-datadir {OLD_DATADIR}"),
    );
    for step in [
        "`drbdadm primary --force`: this disk is the source",
        "`mkfs -t ext4 /dev/drbd0`",
        &format!("`cp -a {OLD_DATADIR}/. /srv/tandem/mysql`, then verified:"),
        "unmounted, `drbdadm secondary`",
    ] {
        assert!(primary.contains(step), "{step:?} not in {primary}");
    }
    let took = lab.wait_in_sync(SYNC_TIMEOUT);
    println!(
        "    full initial sync done {:.1} s after init",
        took.as_secs_f64()
    );
    // The moved datadir reached vm-b through DRBD.
    lab.tandem_ok(Node::B, "drbd primary");
    lab.sh(
        Node::B,
        &format!(
            "mount /dev/drbd0 {MOUNTPOINT} && test -d {MOUNTPOINT}/mysql/mysql && \
             test \"$(stat -c %U {MOUNTPOINT}/mysql/mysql)\" = mysql; r=$?; umount {MOUNTPOINT}; exit $r"
        ),
    );
    lab.tandem_ok(Node::B, "drbd secondary");
    let again = init(
        lab,
        Node::A,
        &format!("--initial-primary --move-datadir {OLD_DATADIR}"),
    );
    let acted: Vec<&str> = again
        .lines()
        .filter(|l| {
            l.contains("): done:")
                && !l.contains("tandem check")
                && !l.contains("drbdadm secondary")
        })
        .collect();
    assert!(
        acted.is_empty(),
        "a repeated init acted: {acted:?}\n{again}"
    );
}
