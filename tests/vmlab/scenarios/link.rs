//! A cut replication link, seen as a connection-state change in tandem's model and in
//! `tandem drbd watch`, within ~2 s thanks to the rendered ping-int 1 / ping-timeout 0.5 s.
//! The management link stays up: the two networks fail separately. After the heal, DRBD
//! reconnects and resyncs what the Primary wrote meanwhile.

use crate::lab::{Lab, Link, Node, NODES};
use crate::observe::in_sync;
use std::time::{Duration, Instant};
use tandem::drbd::{ConnectionState, DiskState, Role};

/// DRBD's defaults would need ~11 s; with ping-int 1 and ping-timeout 0.5 s it is ~1–2 s, and
/// TCG may stretch it. Anything near the default means the rendered timings were not applied.
const DETECTION_LIMIT: Duration = Duration::from_secs(8);

pub fn run(lab: &mut Lab) {
    let timeout = Duration::from_secs(60);
    lab.tandem_ok(Node::A, "drbd primary");
    let watch_a = lab.start_watch(Node::A, "watch");
    let watch_b = lab.start_watch(Node::B, "watch");

    lab.cut(Link::Replication);
    let (_, detected) = lab.wait_state(Node::A, "disconnected", timeout, |r| {
        r.state.connection != ConnectionState::Connected
    });
    println!(
        "    link cut seen by vm-a's model after {:.1} s",
        detected.as_secs_f64()
    );
    assert!(
        detected < DETECTION_LIMIT,
        "link cut seen only after {detected:?}"
    );
    for node in NODES {
        let (report, _) = lab.wait_state(node, "Connecting", timeout, |r| {
            r.state.connection == ConnectionState::Connecting
        });
        assert_eq!(report.state.peer_role, Role::Unknown);
        assert_eq!(report.state.peer_disk, DiskState::DUnknown);
    }
    assert_eq!(
        lab.state(Node::A).state.role,
        Role::Primary,
        "a cut does not demote"
    );
    let lost = |texts: &[String]| {
        texts.iter().any(|t| {
            t.starts_with("connection Connected → ")
                && ["NetworkFailure", "Timeout", "BrokenPipe"]
                    .iter()
                    .any(|w| t.ends_with(w))
        })
    };
    lab.wait_watch(
        &watch_a,
        "Connected → NetworkFailure/Timeout",
        timeout,
        |r| lost(&crate::observe::change_texts(r)),
    );
    lab.wait_watch(
        &watch_b,
        "Connected → NetworkFailure/Timeout",
        timeout,
        |r| lost(&crate::observe::change_texts(r)),
    );

    // The management network is a separate link: it still works.
    lab.sh(Node::A, "ping -c 1 -W 2 10.99.0.2 >/dev/null");
    let replication = lab.exec(Node::A, "ping -c 1 -W 1 10.99.1.2");
    assert_ne!(replication.code, 0, "the replication link is cut");
    lab.capture_proc_drbd(Node::A, "link-cut");
    lab.capture_drbdadm(Node::A, "link-cut");
    lab.capture_drbdadm(Node::B, "link-cut");

    lab.sh(
        Node::A,
        "dd if=/dev/urandom of=/dev/drbd0 bs=1M count=2 oflag=direct 2>/dev/null",
    );
    assert!(lab.state(Node::A).state.out_of_sync_kib.unwrap_or(0) >= 2048);

    lab.heal(Link::Replication);
    let healed = Instant::now();
    lab.wait_in_sync(timeout);
    println!(
        "    reconnected and resynced after the heal in {:.1} s",
        healed.elapsed().as_secs_f64()
    );
    lab.wait_watch(&watch_b, "reconnect and resync", timeout, |r| {
        let texts = crate::observe::change_texts(r);
        texts
            .iter()
            .any(|t| t == "connection Connecting → Connected")
            && texts.iter().any(|t| t == "disk Inconsistent → UpToDate")
    });
    for node in NODES {
        assert!(in_sync(&lab.state(node)));
    }
    lab.tandem_ok(Node::A, "drbd secondary");
}
