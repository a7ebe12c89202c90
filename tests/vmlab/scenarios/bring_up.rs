//! From nothing to a replicated resource, through tandem: `tandem check` on a real node,
//! create-md, up, connect (seen in the model: cstate, dstate, roles), a refused promotion of
//! Inconsistent data (`NoUpToDateDisk`), and the initial sync skipped on fresh disks.

use crate::lab::{Lab, Node, NODES};
use crate::observe::{change_texts, in_order, in_sync};
use std::time::Duration;
use tandem::drbd::{ConnectionState, DiskState, ReplicationState, Role};

pub fn run(lab: &mut Lab) {
    for node in NODES {
        let check = lab.tandem(node, "check");
        assert_eq!(
            check.code,
            0,
            "tandem check on {}:\n{}",
            node.name(),
            check.stdout
        );
        assert!(!check.stdout.contains('✗'), "{}", check.stdout);
        assert!(
            check
                .stdout
                .contains("✓ rendered DRBD resource is accepted by `drbdadm dump`\n"),
            "with the module loaded, no 8.4-grammar override note: {}",
            check.stdout
        );
        assert!(check
            .stdout
            .contains(&format!("✓ this host is node {}", node.name())));
        let report = lab.state(node);
        assert!(!report.state.configured, "{report:?}");
        assert_eq!(
            lab.tandem_ok(node, "drbd state"),
            "r0: not configured in the kernel (down)\n"
        );
    }
    lab.capture_proc_drbd(Node::A, "down");

    // A first, watched, so that the watch sees B arrive.
    lab.tandem_ok(Node::A, "drbd create-md --force");
    lab.tandem_ok(Node::A, "drbd up");
    let watch = lab.start_watch(Node::A, "watch");
    lab.tandem_ok(Node::B, "drbd create-md --force");
    lab.tandem_ok(Node::B, "drbd up");
    let timeout = Duration::from_secs(60);
    for node in NODES {
        // events2 reports the connection before the peer's role and disk: wait for all three.
        let (report, _) = lab.wait_state(node, "Connected with the peer known", timeout, |r| {
            r.state.connection == ConnectionState::Connected
                && r.state.peer_role != Role::Unknown
                && r.state.peer_disk != DiskState::DUnknown
        });
        let s = &report.state;
        assert_eq!(
            (s.role.clone(), s.peer_role.clone()),
            (Role::Secondary, Role::Secondary)
        );
        assert_eq!(
            (s.disk.clone(), s.peer_disk.clone()),
            (DiskState::Inconsistent, DiskState::Inconsistent)
        );
        assert_eq!(s.replication, ReplicationState::Established);
        assert_eq!(report.protocol, Some('C'));
        assert_eq!(report.cstate_84.as_deref(), Some("Connected"));
    }
    lab.capture_proc_drbd(Node::A, "connected-inconsistent");
    lab.capture_drbdadm(Node::A, "connected-inconsistent");
    lab.capture_events2_now(Node::A, "connected-inconsistent");

    // Promoting Inconsistent data is refused by DRBD, and tandem names the refusal.
    assert_eq!(
        lab.tandem_refused(Node::A, "drbd primary"),
        "NoUpToDateDisk"
    );

    lab.tandem_ok(Node::A, "drbd skip-initial-sync");
    lab.wait_in_sync(timeout);
    lab.wait_watch(
        &watch,
        "disk and peer disk Inconsistent → UpToDate",
        timeout,
        |records| {
            let texts = change_texts(records);
            texts.iter().any(|t| t == "disk Inconsistent → UpToDate")
                && texts
                    .iter()
                    .any(|t| t == "peer disk Inconsistent → UpToDate")
        },
    );
    let texts = watch.change_texts();
    assert!(
        in_order(
            &texts,
            "connection Connecting → Connected",
            "disk Inconsistent → UpToDate"
        ),
        "the watch saw B connect, then the disks become UpToDate: {texts:#?}"
    );
    for node in NODES {
        let report = lab.state(node);
        assert!(in_sync(&report), "{report:?}");
        lab.capture_proc_drbd(node, "connected-uptodate");
        lab.capture_drbdadm(node, "connected-uptodate");
    }
    let text = lab.tandem_ok(Node::A, "drbd state");
    assert!(
        text.starts_with("r0: role Secondary, peer role Secondary\n"),
        "{text}"
    );
    assert!(
        text.contains("replication Established, protocol C\n"),
        "{text}"
    );
    lab.stop(Node::A, &watch.name);
}
