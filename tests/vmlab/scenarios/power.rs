//! Hard power loss of the Primary: vm-a is killed at the hypervisor while Primary with a
//! mounted filesystem. vm-b sees the peer vanish, is promoted through tandem, mounts the data
//! (journal replay) and writes. vm-a boots again with the same disk: DRBD comes up from its
//! on-disk metadata (no create-md), resyncs from vm-b, and serves vm-b's write after a
//! switchover back.

use crate::lab::{Lab, Node, MOUNTPOINT};
use crate::observe::in_sync;
use std::time::{Duration, Instant};
use tandem::drbd::{ConnectionState, Role};

pub fn run(lab: &mut Lab) {
    let timeout = Duration::from_secs(60);
    let watch = lab.start_watch(Node::B, "watch");
    lab.tandem_ok(Node::A, "drbd primary");
    lab.sh(
        Node::A,
        &format!(
            "mkfs.ext4 -q -F /dev/drbd0 && mount /dev/drbd0 {MOUNTPOINT} && \
             echo before-the-power-loss > {MOUNTPOINT}/before.txt && sync"
        ),
    );

    lab.power_off_hard(Node::A);
    let (report, detected) = lab.wait_state(Node::B, "without its peer", timeout, |r| {
        r.state.connection != ConnectionState::Connected
    });
    println!(
        "    vm-a's power loss seen by vm-b after {:.1} s",
        detected.as_secs_f64()
    );
    assert_eq!(report.state.role, Role::Secondary);
    lab.wait_watch(&watch, "the peer's role become Unknown", timeout, |r| {
        crate::observe::change_texts(r)
            .iter()
            .any(|t| t == "peer role Primary → Unknown")
    });

    lab.tandem_ok(Node::B, "drbd primary");
    let before = lab.sh(
        Node::B,
        &format!(
            "mount /dev/drbd0 {MOUNTPOINT} && cat {MOUNTPOINT}/before.txt && \
             echo written-on-vm-b > {MOUNTPOINT}/after.txt && sync"
        ),
    );
    assert_eq!(before, "before-the-power-loss\n");

    let boot = lab.boot_again(Node::A);
    println!(
        "    vm-a booted again (same disk) in {:.1} s",
        boot.as_secs_f64()
    );
    assert!(
        !lab.state(Node::A).state.configured,
        "DRBD is not up after a reboot"
    );
    let up = Instant::now();
    lab.tandem_ok(Node::A, "drbd up");
    lab.wait_in_sync(timeout);
    println!(
        "    vm-a up, reconnected and resynced in {:.1} s",
        up.elapsed().as_secs_f64()
    );
    let a = lab.state(Node::A);
    assert_eq!(
        (a.state.role.clone(), a.state.peer_role.clone()),
        (Role::Secondary, Role::Primary)
    );
    let dmesg = lab.sh(Node::A, "dmesg");
    assert!(
        dmesg.contains("as SyncTarget") || dmesg.contains("Resync done"),
        "vm-a resynced from vm-b"
    );

    // Back to vm-a: it serves what vm-b wrote while it was off.
    lab.sh(Node::B, &format!("umount {MOUNTPOINT}"));
    lab.tandem_ok(Node::B, "drbd secondary");
    lab.tandem_ok(Node::A, "drbd primary");
    let after = lab.sh(
        Node::A,
        &format!(
            "mount /dev/drbd0 {MOUNTPOINT} && cat {MOUNTPOINT}/after.txt && umount {MOUNTPOINT}"
        ),
    );
    assert_eq!(after, "written-on-vm-b\n");
    lab.tandem_ok(Node::A, "drbd secondary");
    assert!(in_sync(&lab.state(Node::B)));
}
