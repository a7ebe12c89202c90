//! Promotion and demotion through tandem, with DRBD's refusals coming back by name: promoting
//! while the peer is Primary is `PeerIsPrimary`, demoting a mounted device is `DeviceHeldOpen`.
//! Data written on one node is read on the other after the switchover.

use crate::lab::{Lab, Node, MOUNTPOINT};
use crate::observe::roles;
use tandem::drbd::Role;

pub fn run(lab: &mut Lab) {
    lab.tandem_ok(Node::A, "drbd primary");
    assert_eq!(roles(&lab.state(Node::A)), (Role::Primary, Role::Secondary));
    assert_eq!(roles(&lab.state(Node::B)), (Role::Secondary, Role::Primary));
    lab.capture_drbdadm(Node::A, "primary-secondary");
    lab.capture_proc_drbd(Node::B, "secondary-primary");

    // B may not become Primary while A is: DRBD refuses, tandem names it.
    assert_eq!(lab.tandem_refused(Node::B, "drbd primary"), "PeerIsPrimary");
    let b = lab.tandem(Node::B, "drbd primary");
    assert!(
        b.stderr
            .contains("Multiple primaries not allowed by config"),
        "DRBD's own words follow the name: {}",
        b.stderr
    );
    assert_eq!(roles(&lab.state(Node::B)), (Role::Secondary, Role::Primary));

    lab.sh(
        Node::A,
        &format!(
            "mkfs.ext4 -q -F /dev/drbd0 && mount /dev/drbd0 {MOUNTPOINT} && \
             echo hello-from-vm-a > {MOUNTPOINT}/hello.txt && sync"
        ),
    );
    // A mounted device cannot be demoted.
    assert_eq!(
        lab.tandem_refused(Node::A, "drbd secondary"),
        "DeviceHeldOpen"
    );
    assert_eq!(roles(&lab.state(Node::A)).0, Role::Primary);

    // The switchover, in order: unmount, demote, promote the peer, mount.
    lab.sh(Node::A, &format!("umount {MOUNTPOINT}"));
    lab.tandem_ok(Node::A, "drbd secondary");
    lab.tandem_ok(Node::B, "drbd primary");
    assert_eq!(roles(&lab.state(Node::A)), (Role::Secondary, Role::Primary));
    assert_eq!(roles(&lab.state(Node::B)), (Role::Primary, Role::Secondary));
    let hello = lab.sh(
        Node::B,
        &format!(
            "mount /dev/drbd0 {MOUNTPOINT} && cat {MOUNTPOINT}/hello.txt && umount {MOUNTPOINT}"
        ),
    );
    assert_eq!(hello, "hello-from-vm-a\n");
    lab.tandem_ok(Node::B, "drbd secondary");
    assert_eq!(
        roles(&lab.state(Node::A)),
        (Role::Secondary, Role::Secondary)
    );
}
