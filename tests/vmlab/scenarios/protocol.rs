//! Changing the replication protocol A → B → C through tandem's config: render on both nodes,
//! disconnect BOTH, then connect both; /proc/drbd (parsed by tandem) shows the protocol in
//! effect. Then the pitfall: reconnecting one node with a different protocol while the other
//! still waits with the old one makes DRBD refuse the handshake, and both go StandAlone.

use crate::lab::{Lab, Node, NODES};
use crate::observe::in_sync;
use std::time::Duration;
use tandem::drbd::ConnectionState;

pub fn run(lab: &mut Lab) {
    let timeout = Duration::from_secs(60);
    for protocol in ['A', 'B', 'C'] {
        for node in NODES {
            lab.set_protocol(node, protocol);
        }
        lab.both(|_, guest| guest.sh("tandem drbd disconnect"));
        lab.both(|_, guest| guest.sh("tandem drbd connect"));
        for node in NODES {
            let (report, _) = lab.wait_state(node, "connected again", timeout, in_sync);
            assert_eq!(report.protocol, Some(protocol), "{report:?}");
        }
        let proc_drbd = lab.capture_proc_drbd(Node::A, &format!("protocol-{protocol}"));
        assert_eq!(proc_drbd.minor(0).and_then(|m| m.protocol), Some(protocol));
    }

    // The pitfall: only A switches to protocol A and reconnects; B still waits with C.
    lab.set_protocol(Node::A, 'A');
    lab.tandem_ok(Node::A, "drbd disconnect");
    lab.tandem_ok(Node::A, "drbd connect");
    for node in NODES {
        lab.wait_state(
            node,
            "StandAlone after the refused handshake",
            timeout,
            |r| r.state.connection == ConnectionState::StandAlone,
        );
    }
    let dmesg = lab.sh(Node::A, "dmesg") + &lab.sh(Node::B, "dmesg");
    assert!(
        dmesg.contains("incompatible protocol settings"),
        "the kernel names the cause"
    );
    lab.capture_drbdadm(Node::A, "incompatible-protocol");
    // Recovery: the same protocol on both, then connect both.
    lab.set_protocol(Node::A, 'C');
    lab.both(|_, guest| guest.sh("tandem drbd connect"));
    lab.wait_in_sync(timeout);
}
