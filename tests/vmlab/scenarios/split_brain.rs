//! Split-brain, staged for real and detected from events2: the replication link is cut, both
//! nodes become Primary and write, the link heals, and DRBD calls its split-brain helper and
//! drops the connection. tandem's watch (the supervised events2 child) shows the helper call,
//! then StandAlone, on both nodes. Manual recovery: vm-b is the victim (`--discard-my-data`),
//! and vm-a's write is what both disks hold afterwards.

use crate::lab::{Lab, Link, Node, NODES};
use crate::observe::{change_texts, in_sync, indent, Watch};
use std::time::{Duration, Instant};
use tandem::cli::drbd_watch::WatchRecord;
use tandem::cli::split_brain::SplitBrainReport;
use tandem::drbd::handshake::Verdict;
use tandem::drbd::{Change, ConnectionState, Role};

/// 512-byte sectors where each node writes its marker during the split.
const A_SECTOR: u32 = 2048;
const B_SECTOR: u32 = 4096;

pub fn run(lab: &mut Lab) {
    let timeout = Duration::from_secs(60);
    let logs: Vec<_> = NODES
        .iter()
        .map(|n| lab.start_events2_log(*n, "split-brain"))
        .collect();
    let watches: Vec<Watch> = NODES.iter().map(|n| lab.start_watch(*n, "watch")).collect();
    lab.tandem_ok(Node::A, "drbd primary");

    lab.cut(Link::Replication);
    for node in NODES {
        lab.wait_state(node, "Connecting", timeout, |r| {
            r.state.connection == ConnectionState::Connecting
        });
    }
    // With the peer unreachable (and fencing dont-care), B may promote: now both are Primary.
    lab.tandem_ok(Node::B, "drbd primary");
    write_marker(lab, Node::A, A_SECTOR);
    write_marker(lab, Node::B, B_SECTOR);

    lab.heal(Link::Replication);
    let healed = Instant::now();
    for node in NODES {
        lab.wait_state(node, "StandAlone", timeout, |r| {
            r.state.connection == ConnectionState::StandAlone
        });
    }
    println!(
        "    split-brain detected (StandAlone) {:.1} s after the heal",
        healed.elapsed().as_secs_f64()
    );
    for watch in &watches {
        lab.wait_watch(
            watch,
            "the split-brain helper, then StandAlone",
            timeout,
            helper_then_standalone,
        );
        // A fresh dump cannot show the helper call (it is an event, not a state): the watch
        // above saw it; the dump shows where it left the resource.
        let report = lab.state(watch.node);
        assert_eq!(report.state.connection, ConnectionState::StandAlone);
        assert_eq!(report.state.role, Role::Primary);
        let dmesg = lab.sh(watch.node, "dmesg");
        assert!(dmesg.contains("Split-Brain detected but unresolved, dropping connection!"));
        lab.capture_proc_drbd(watch.node, "split-brain");
        lab.capture_drbdadm(watch.node, "split-brain");
    }
    split_brain_status_on_both(lab);

    // Recovery: B discards its changes, A keeps its own.
    let recovery = Instant::now();
    lab.tandem_ok(Node::B, "drbd secondary");
    lab.tandem_ok(Node::B, "drbd connect --discard-my-data");
    lab.tandem_ok(Node::A, "drbd connect");
    lab.wait_in_sync(timeout);
    println!(
        "    recovered (UpToDate/UpToDate) in {:.1} s",
        recovery.elapsed().as_secs_f64()
    );
    let dmesg = lab.sh(Node::B, "dmesg");
    assert!(
        dmesg.contains("Split-Brain detected, manually solved. Sync from peer node"),
        "{dmesg}"
    );
    for (node, log) in NODES.iter().zip(&logs) {
        let events = lab.finish_events2_log(*node, "split-brain", log);
        assert!(
            events.iter().any(|e| e.helper() == Some("split-brain")),
            "raw events2 has the helper"
        );
    }

    // Both disks now hold A's write, and B's is gone.
    lab.tandem_ok(Node::A, "drbd secondary");
    lab.tandem_ok(Node::B, "drbd primary");
    assert_eq!(read_marker(lab, Node::B, A_SECTOR), "split-from-vm-a");
    assert_ne!(read_marker(lab, Node::B, B_SECTOR), "split-from-vm-b");
    lab.tandem_ok(Node::B, "drbd secondary");
    for node in NODES {
        assert!(in_sync(&lab.state(node)));
    }
}

/// The watch saw `helper split-brain called` and, after it, the connection go StandAlone.
fn helper_then_standalone(records: &[WatchRecord]) -> bool {
    let changes: Vec<&Change> = records
        .iter()
        .filter_map(|r| match r {
            WatchRecord::Change { change, .. } => Some(change),
            _ => None,
        })
        .collect();
    let helper = changes
        .iter()
        .position(|c| matches!(c, Change::HelperCalled { name } if name == "split-brain"));
    helper.is_some_and(|at| {
        changes[at..].iter().any(|c| {
            matches!(
                c,
                Change::Connection {
                    new: ConnectionState::StandAlone,
                    ..
                }
            )
        })
    }) && !change_texts(records).is_empty()
}

fn write_marker(lab: &mut Lab, node: Node, sector: u32) {
    let marker = format!("split-from-{}", node.name());
    lab.sh(
        node,
        &format!("printf {marker} | dd of=/dev/drbd0 bs=512 seek={sector} conv=sync oflag=direct 2>/dev/null"),
    );
}

fn read_marker(lab: &mut Lab, node: Node, sector: u32) -> String {
    let text = lab.sh(
        node,
        &format!("dd if=/dev/drbd0 bs=512 skip={sector} count=1 iflag=direct 2>/dev/null | tr -d '\\000'"),
    );
    text.trim().to_string()
}

/// `tandem split-brain status` on each node, from its own kernel log: it stands, both sides
/// were Primary when they diverged from one common generation, each changed data, and what
/// vm-a read about its peer is exactly what vm-b read about itself (and the other way round).
fn split_brain_status_on_both(lab: &mut Lab) {
    let [a, b] = NODES.map(|node| {
        let text = lab.tandem_ok(node, "split-brain status");
        println!(
            "    {}$ tandem split-brain status\n{}",
            node.name(),
            indent(&text)
        );
        lab.capture_dmesg(node, "split-brain");
        let json = lab.tandem_ok(node, "split-brain status --json");
        let report: SplitBrainReport = serde_json::from_str(&json).unwrap();
        assert!(report.standing, "{report:?}");
        assert!(text.starts_with("SPLIT-BRAIN on r0"), "{text}");
        let handshake = report
            .handshake
            .clone()
            .expect("a handshake in the kernel log");
        assert_eq!(handshake.verdict, Verdict::SplitBrainUnresolved);
        assert!(handshake.local.primary_when_diverged() && handshake.peer.primary_when_diverged());
        assert!(handshake.common_ancestor().is_some());
        assert!(handshake.local.changed_kib() > 0, "{handshake:?}");
        handshake
    });
    assert_eq!(a.peer.current, b.local.current);
    assert_eq!(b.peer.current, a.local.current);
    assert_eq!(a.common_ancestor(), b.common_ancestor());
}
