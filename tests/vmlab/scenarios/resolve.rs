//! Split-brain with the engine, caused the way an operator causes one, then resolved by
//! `tandem split-brain resolve`. Both tandemds are paused; both links are cut; the operator
//! promotes vm-b with `--force`; each side takes its own rows; the links heal and DRBD finds
//! the split-brain. Then, in order: the detection (the banner, the journal, `split-brain
//! status`, and the "may be stale" record vm-a journals when its fence-peer answers 1, which
//! vm-b learns and a resync clears), `resolve --keep vm-a` run on the victim vm-b and interrupted (its tandemd is
//! killed during the copy), the re-run that finishes it, UpToDate/UpToDate with vm-a's rows
//! only, vm-b's divergent rows read back from the preserved copy, and the service on vm-a.

use crate::lab::{Lab, Link, Node, NODES};
use crate::observe::{in_sync, indent};
use std::time::Duration;
use tandem::cli::split_brain::SplitBrainReport;
use tandem::drbd::ConnectionState;

const TIMEOUT: Duration = Duration::from_secs(120);
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(300);
const ROOT_SQL: &str = "mariadb --socket=/run/mysqld/mysqld.sock -N -B";
/// Where the engine config keeps the victim's copy (the default).
const BACKUP_DIR: &str = "/var/lib/tandem/split-brain";

pub fn run(lab: &mut Lab) {
    lab.start_engine();
    for node in NODES {
        lab.tandem_ok(node, "pause");
    }
    lab.cut(Link::Replication);
    lab.cut(Link::Management);
    lab.wait_engine("vm-b to lose its peer", TIMEOUT, |lab| {
        lab.cluster_status(Node::B)
            .is_some_and(|s| s.peer.is_none())
    });
    // vm-a, Primary, lost vm-b on both links while paused: its fence-peer cannot outdate vm-b
    // nor power-fence it, so it answers 1 (never 5), DRBD keeps vm-a Primary with I/O flowing
    // (resource-only), and vm-a journals that vm-b may be stale.
    lab.wait_engine("vm-a to record that vm-b may be stale", TIMEOUT, |lab| {
        lab.tandem_ok(Node::A, "history")
            .contains("MayBeStale { node: \"vm-b\"")
    });
    let history = lab.tandem_ok(Node::A, "history");
    assert!(history.contains("result: \"Unproven (1)"), "{history}");
    assert!(
        !history.contains("(5)"),
        "fence-peer must never answer 5:\n{history}"
    );
    let a = lab.state(Node::A);
    assert!(!a.state.suspended, "resource-only never freezes I/O: {a:?}");
    let forced = lab.tandem_ok(Node::B, "promote --force --yes");
    println!(
        "    vm-b$ tandem promote --force --yes\n      {}",
        forced.trim()
    );
    lab.wait_engine("vm-b to serve (forced)", TIMEOUT, |lab| {
        lab.serving(Node::B)
    });
    insert(lab, Node::A, 1001, "kept-on-vm-a");
    insert(lab, Node::B, 2001, "divergent-on-vm-b");

    lab.heal(Link::Replication);
    lab.heal(Link::Management);
    for node in NODES {
        lab.wait_engine("split-brain detected", TIMEOUT, |lab| {
            lab.cluster_status(node)
                .is_some_and(|s| s.local.split_brain.is_some() && s.peer.is_some())
        });
        let status = lab.tandem_ok(node, "status");
        assert!(status.contains("SPLIT-BRAIN: "), "{status}");
        let history = lab.tandem_ok(node, "history");
        assert!(history.contains("SplitBrain { detail:"), "{history}");
        let report: SplitBrainReport =
            serde_json::from_str(&lab.tandem_ok(node, "split-brain status --json")).unwrap();
        assert!(report.standing, "{report:?}");
    }
    // Back on the peer link, vm-b learns (and journals) that its data may be stale.
    lab.wait_engine("vm-b to record that it may be stale", TIMEOUT, |lab| {
        lab.tandem_ok(Node::B, "history")
            .contains("MayBeStale { node: \"vm-b\"")
    });
    println!(
        "    vm-a$ tandem status\n{}",
        indent(&lab.tandem_ok(Node::A, "status"))
    );
    println!(
        "    vm-b$ tandem split-brain status\n{}",
        indent(&lab.tandem_ok(Node::B, "split-brain status"))
    );

    interrupted_resolve(lab);
    // The copy of the 128 MiB disk, with its SHA-256, takes a while under TCG.
    let resolve = lab
        .guest(Node::B)
        .exec(
            "tandem split-brain resolve --keep vm-a --force",
            RESOLVE_TIMEOUT,
        )
        .unwrap();
    assert_eq!(resolve.code, 0, "{}{}", resolve.stdout, resolve.stderr);
    let output = resolve.stdout;
    println!(
        "    vm-b$ tandem split-brain resolve --keep vm-a --force\n{}",
        indent(&output)
    );
    assert!(output.contains("resolved in"), "{output}");
    lab.wait_in_sync(TIMEOUT);
    for node in NODES {
        let report = lab.state(node);
        assert!(in_sync(&report), "{report:?}");
        assert_eq!(report.state.connection, ConnectionState::Connected);
    }
    assert!(lab.serving(Node::A), "{:?}", lab.reason(Node::A));
    assert!(lab.standing_by(Node::B), "{:?}", lab.reason(Node::B));
    let rows = lab.sh(
        Node::A,
        &format!("{ROOT_SQL} -e 'SELECT id FROM lab.writes WHERE id > 1000'"),
    );
    assert_eq!(rows.trim(), "1001", "vm-a keeps its own rows only");
    salvage_from_the_copy(lab);
    let history = lab.tandem_ok(Node::B, "history");
    for needle in [
        "Resolve { keep: \"vm-a\"",
        "SplitBrainResolved",
        "StaleCleared { node: \"vm-b\" }",
    ] {
        assert!(
            history.contains(needle),
            "no {needle} in vm-b's history:\n{history}"
        );
    }
    let a_history = lab.tandem_ok(Node::A, "history");
    assert!(
        a_history.contains("StaleCleared { node: \"vm-b\" }"),
        "vm-a keeps its record until the resync:\n{a_history}"
    );
    let attempts = history.matches("what: \"StopServices\"").count();
    assert_eq!(
        attempts, 2,
        "the interrupted resolve and its re-run:\n{history}"
    );
    for node in NODES {
        lab.tandem_ok(node, "resume");
    }
}

/// A first `resolve` is cut short: vm-b's tandemd is killed (-9) once it runs the copy. The
/// restarted tandemd takes the unresolved split-brain back from its journal, and the second
/// `resolve` (in `run`) starts over and finishes.
fn interrupted_resolve(lab: &mut Lab) {
    lab.spawn(
        Node::B,
        "resolve",
        "tandem split-brain resolve --keep vm-a --force",
    );
    lab.wait_engine("vm-b to start its copy", TIMEOUT, |lab| {
        lab.tandemd_log(Node::B).contains("running step=preserve")
    });
    lab.kill_9(Node::B, "tandemd");
    lab.stop(Node::B, "resolve");
    let partial = lab.sh(Node::B, &format!("ls {BACKUP_DIR} 2>/dev/null || true"));
    println!(
        "    first resolve interrupted: vm-b's tandemd killed during the copy ({})",
        partial.split_whitespace().collect::<Vec<_>>().join(", ")
    );
    lab.start_tandemd(Node::B);
    lab.wait_engine(
        "vm-b's tandemd to hold the split-brain again",
        TIMEOUT,
        |lab| {
            lab.cluster_status(Node::B)
                .is_some_and(|s| s.local.split_brain.is_some() && s.peer.is_some())
        },
    );
}

/// vm-b's divergent row, read from the copy the resolve kept: the image mounts read-only
/// (`-t ext4`: blkid sees DRBD's metadata at its end and would say "drbd"), and a throwaway
/// mariadbd on a copy of its datadir answers.
fn salvage_from_the_copy(lab: &mut Lab) {
    let manifest = lab.sh(Node::B, &format!("cat {BACKUP_DIR}/*.json"));
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let image = manifest["image"].as_str().unwrap().to_string();
    let sha = lab.sh(Node::B, &format!("sha256sum {image} | cut -d' ' -f1"));
    assert_eq!(
        sha.trim(),
        manifest["sha256"].as_str().unwrap(),
        "the copy matches its manifest"
    );
    let log_size = lab.env.mariadb_log_file_size.clone();
    let found = lab.sh(
        Node::B,
        &format!(
            "set -e\n\
             modprobe loop 2>/dev/null || true\n\
             mkdir -p /srv/salvage /srv/salvage-rw /run/salvage && chown mysql /run/salvage\n\
             mount -t ext4 -o ro,loop,noload {image} /srv/salvage\n\
             cp -a /srv/salvage/mysql /srv/salvage-rw/ && umount /srv/salvage\n\
             mariadbd --no-defaults --user=mysql --datadir=/srv/salvage-rw/mysql \
               --socket=/run/salvage/s.sock --pid-file=/run/salvage/p.pid --skip-networking \
               --innodb-buffer-pool-size=32M --innodb-log-file-size={log_size} \
               --log-error=/run/salvage/err.log &\n\
             i=0; until mariadb-admin --socket=/run/salvage/s.sock ping >/dev/null 2>&1; do\n  \
               i=$((i+1)); [ $i -lt 600 ] || {{ cat /run/salvage/err.log; exit 1; }}; sleep 0.1\n\
             done\n\
             mariadb --socket=/run/salvage/s.sock -N -B -e \
               'SELECT id FROM lab.writes WHERE id > 1000'\n\
             mariadb-admin --socket=/run/salvage/s.sock shutdown"
        ),
    );
    assert_eq!(
        found.trim(),
        "2001",
        "vm-b's divergent row is in the preserved copy"
    );
    println!("    vm-b's divergent row 2001 read back from {image}");
}

fn insert(lab: &mut Lab, node: Node, id: u32, what: &str) {
    lab.sh(
        node,
        &format!("{ROOT_SQL} -e \"INSERT INTO lab.writes VALUES ({id}, 0) /* {what} */\""),
    );
}
