//! Sync progress in tandem's model: B disconnects, A writes 32 MiB, B reconnects and resyncs at
//! the configured 8 MiB/s; `tandem drbd state` shows SyncSource/SyncTarget with a percentage,
//! and /proc/drbd (parsed by tandem) shows the progress bar, until both are UpToDate again.

use crate::lab::{Lab, Node, NODES};
use crate::observe::in_sync;
use std::time::{Duration, Instant};
use tandem::drbd::{ConnectionState, DiskState, ReplicationState};

const WRITTEN_MIB: u64 = 32;

pub fn run(lab: &mut Lab) {
    let timeout = Duration::from_secs(60);
    lab.tandem_ok(Node::A, "drbd primary");
    lab.tandem_ok(Node::B, "drbd disconnect");
    let (report, _) = lab.wait_state(Node::A, "without its peer", timeout, |r| {
        r.state.connection == ConnectionState::Connecting
    });
    assert_eq!(report.state.peer_disk, DiskState::DUnknown);
    lab.sh(
        Node::A,
        &format!(
            "dd if=/dev/urandom of=/dev/drbd0 bs=1M count={WRITTEN_MIB} oflag=direct 2>/dev/null"
        ),
    );
    let report = lab.state(Node::A);
    let out_of_sync = report.state.out_of_sync_kib.unwrap_or(0);
    assert!(out_of_sync >= WRITTEN_MIB * 1024, "{report:?}");

    let watch = lab.start_watch(Node::B, "watch");
    lab.tandem_ok(Node::B, "drbd connect");
    let started = Instant::now();
    let mut progress = Vec::new();
    let mut captured = false;
    loop {
        let report = lab.state(Node::B);
        if let Some(done) = report.state.sync_done_percent {
            // A figure only while a resync is set up (WFBitMapT, WFSyncUUID: 0 %) or runs.
            assert!(report.state.replication.is_syncing(), "{report:?}");
            if report.state.replication == ReplicationState::SyncTarget {
                assert_eq!(report.state.disk, DiskState::Inconsistent, "{report:?}");
            }
            progress.push(done);
            if !captured && done < 75.0 {
                let proc_drbd = lab.capture_proc_drbd(Node::A, "syncing");
                lab.capture_events2_now(Node::A, "syncing");
                let minor = proc_drbd.minor(0).expect("minor 0");
                if minor.replication == ReplicationState::SyncSource {
                    let resync = minor
                        .resync
                        .as_ref()
                        .expect("a progress line while syncing");
                    assert!(resync.total_kib >= out_of_sync.min(WRITTEN_MIB * 1024));
                }
                captured = true;
            }
        }
        if in_sync(&report) {
            break;
        }
        assert!(
            started.elapsed() < timeout,
            "no resync within {timeout:?}: {report:?}"
        );
    }
    let resync = started.elapsed();
    println!(
        "    resync of {WRITTEN_MIB} MiB at 8 MiB/s: {:.1} s; progress seen on vm-b: {progress:?}",
        resync.as_secs_f64()
    );
    assert!(
        progress.iter().any(|done| *done > 0.0 && *done < 100.0),
        "tandem's model showed sync progress while vm-b was SyncTarget: {progress:?}"
    );
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress only grows: {progress:?}"
    );
    lab.wait_watch(&watch, "SyncTarget, then UpToDate", timeout, |records| {
        let texts = crate::observe::change_texts(records);
        let target = texts.iter().position(|t| t.ends_with("→ SyncTarget"));
        target.is_some_and(|at| {
            texts[at..]
                .iter()
                .any(|t| t == "disk Inconsistent → UpToDate")
        })
    });
    lab.stop(Node::B, &watch.name);
    for node in NODES {
        let report = lab.state(node);
        assert!(in_sync(&report), "{report:?}");
        assert_eq!(report.state.out_of_sync_kib, Some(0));
    }
    lab.tandem_ok(Node::A, "drbd secondary");
}
