//! Changing the replication protocol A → B → C through tandem's config: render on both nodes,
//! disconnect BOTH, then connect both; /proc/drbd (parsed by tandem) shows the protocol in
//! effect. Then the pitfall: reconnecting one node with a different protocol while the other
//! still waits with the old one makes DRBD refuse the handshake: one side (or both) goes
//! StandAlone and the kernel names the cause.

use crate::lab::{Lab, Node, NODES};
use crate::observe::in_sync;
use std::time::{Duration, Instant};
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

    // The pitfall: only A switches to protocol A and reconnects; B still waits with C. DRBD
    // refuses the handshake: the node that checks the other's settings goes StandAlone and
    // names the cause; the other may only see the connection shut down by its peer and keep
    // retrying (WFConnection). Which side checks first depends on timing; the lab saw both.
    lab.set_protocol(Node::A, 'A');
    lab.tandem_ok(Node::A, "drbd disconnect");
    lab.tandem_ok(Node::A, "drbd connect");
    wait_refused(lab, timeout);
    let dmesg = lab.sh(Node::A, "dmesg") + &lab.sh(Node::B, "dmesg");
    assert!(
        dmesg.contains("incompatible protocol settings"),
        "the kernel names the cause"
    );
    lab.capture_drbdadm(Node::A, "incompatible-protocol");
    // Recovery: the same protocol on both, then both reconnect (a node still retrying with
    // the old protocol is disconnected first; on a StandAlone node that is a no-op).
    lab.set_protocol(Node::A, 'C');
    lab.both(|_, guest| guest.sh("tandem drbd disconnect; tandem drbd connect"));
    lab.wait_in_sync(timeout);
}

/// Waits until the handshake is refused: a node StandAlone, neither Connected.
fn wait_refused(lab: &mut Lab, timeout: Duration) {
    let started = Instant::now();
    loop {
        let states: Vec<ConnectionState> = NODES
            .iter()
            .map(|node| lab.state(*node).state.connection)
            .collect();
        if states.contains(&ConnectionState::StandAlone)
            && !states.contains(&ConnectionState::Connected)
        {
            return;
        }
        assert!(
            started.elapsed() < timeout,
            "no node went StandAlone after the refused handshake within {timeout:?}: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
