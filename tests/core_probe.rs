//! The DRBD probe's timing in the core (src/core/probe.rs), tick by tick on a single real
//! `Node`: a standby whose active peer falls silent probes DRBD and reads the peer's power
//! once the silence passes half the peer timeout, so that both answers are in when the
//! timeout ends; a fence-peer call made by the probe waits for the fence that starts then,
//! and is answered 1 when none starts. (Transcript 35 tells the same story for a cluster.)

#[path = "common/drive.rs"]
mod drive;
#[path = "common/sim.rs"]
mod sim;

use drive::{answers, drive, peer_standby, tick};
use tandem::core::power::PeerPower;
use tandem::core::{Action, DrbdView, FenceExit, Helper, Input, Node, PeerMessage, PeerView, Step};
use tandem::drbd::{ConnectionState, DiskState, Role};

/// `sim::core_config`'s peer timeout: the peer is fresh while silent for at most this many
/// ticks.
const PEER_TIMEOUT_TICKS: u64 = 5;

/// Standby `b`, its DRBD Connected to Primary `a`, which has just sent its last heartbeat.
fn standby_of_a_silent_primary() -> Node {
    let mut config = sim::core_config(1, true);
    config.power_status = true;
    assert_eq!(config.peer_timeout_ticks, PEER_TIMEOUT_TICKS);
    let mut b = Node::new(config, None);
    let connected_to_primary = DrbdView {
        role: Role::Secondary,
        disk: DiskState::UpToDate,
        peer_role: Role::Primary,
        peer_disk: DiskState::UpToDate,
        connection: ConnectionState::Connected,
    };
    drive(&mut b, Input::Drbd(connected_to_primary));
    let active = PeerView {
        role: Role::Primary,
        active: true,
        ..peer_standby()
    };
    drive(&mut b, Input::Peer(PeerMessage::Heartbeat(active)));
    b
}

/// Ticks until the probe goes out; returns the silence (ticks) it went out at, its batch and
/// the decision's reason.
fn ticks_to_probe(b: &mut Node) -> (u64, Vec<Action>, String) {
    for silence in 1..=2 * PEER_TIMEOUT_TICKS {
        b.tick();
        let ready = b.ready();
        b.advance(&ready);
        if ready.actions.contains(&Action::ProbeDrbdPeer) {
            return (silence, ready.actions, ready.reason);
        }
        assert!(ready.actions.is_empty(), "tick {silence}: {ready:?}");
    }
    panic!("no probe within two peer timeouts");
}

/// The power fence succeeds: the waiting call is answered 7, and the promote follows.
fn fence_ends_with_7_and_the_promote(b: &mut Node) {
    let actions = drive(b, Input::PowerFenced(Ok(())));
    assert_eq!(
        answers(&actions),
        [FenceExit::PeerStonithed.code()],
        "{actions:?}"
    );
    assert!(
        actions.contains(&Action::Run(Step::Promote { force: false })),
        "{actions:?}"
    );
}

/// DRBD's view once it has dropped the peer: Secondary here, the peer unknown.
fn peer_lost() -> DrbdView {
    DrbdView {
        role: Role::Secondary,
        disk: DiskState::UpToDate,
        peer_role: Role::Unknown,
        peer_disk: DiskState::DUnknown,
        connection: ConnectionState::Connecting,
    }
}

/// DRBD drops the dead peer (the probe's missed ping), and the probe's promote calls
/// fence-peer, while the peer link is not yet timed out.
fn drbd_loses_the_peer_and_the_probe_calls_fence_peer(b: &mut Node) -> Vec<Action> {
    drive(b, Input::Drbd(peer_lost()));
    drive(b, Input::Helper(Helper::FencePeer { call: 3 }))
}

#[test]
fn the_probe_and_the_power_query_go_out_past_half_the_peer_timeout() {
    let mut b = standby_of_a_silent_primary();
    let (silence, actions, reason) = ticks_to_probe(&mut b);
    assert_eq!(silence, PEER_TIMEOUT_TICKS / 2 + 1, "{actions:?}");
    assert!(actions.contains(&Action::QueryPeerPower), "{actions:?}");
    assert!(reason.contains("over half the peer timeout"), "{reason}");
    // Once per silence: nothing more until the peer timeout ends.
    for silence in silence + 1..=PEER_TIMEOUT_TICKS {
        let actions = tick(&mut b);
        assert!(actions.is_empty(), "tick {silence}: {actions:?}");
    }
}

#[test]
fn the_probes_call_waits_for_the_fence_that_starts_at_the_peer_timeout() {
    let mut b = standby_of_a_silent_primary();
    let (mut silence, _, _) = ticks_to_probe(&mut b);
    drive(&mut b, Input::PeerPower(PeerPower::Off));
    let actions = drbd_loses_the_peer_and_the_probe_calls_fence_peer(&mut b);
    // Still within the peer timeout: the peer is asked to outdate itself, no fence yet.
    assert!(
        actions.contains(&Action::Send(PeerMessage::OutdateRequest { call: 3 })),
        "{actions:?}"
    );
    assert!(!actions.contains(&Action::PowerFencePeer), "{actions:?}");
    let fence = loop {
        silence += 1;
        let actions = tick(&mut b);
        assert!(answers(&actions).is_empty(), "tick {silence}: {actions:?}");
        if actions.contains(&Action::PowerFencePeer) {
            break silence;
        }
        assert!(silence <= PEER_TIMEOUT_TICKS, "tick {silence}: {actions:?}");
    };
    assert_eq!(
        fence,
        PEER_TIMEOUT_TICKS + 1,
        "the fence starts as the timeout ends"
    );
    fence_ends_with_7_and_the_promote(&mut b);
}

#[test]
fn the_probes_call_is_refused_at_the_peer_timeout_when_no_fence_starts() {
    let mut b = standby_of_a_silent_primary();
    let (mut silence, _, _) = ticks_to_probe(&mut b);
    // Power on: the standby keeps its fence delay, and DRBD's promote must not wait it out.
    drive(&mut b, Input::PeerPower(PeerPower::On));
    drbd_loses_the_peer_and_the_probe_calls_fence_peer(&mut b);
    loop {
        silence += 1;
        let actions = tick(&mut b);
        assert!(!actions.contains(&Action::PowerFencePeer), "{actions:?}");
        if !answers(&actions).is_empty() {
            assert_eq!(
                answers(&actions),
                [FenceExit::Unproven.code()],
                "{actions:?}"
            );
            break;
        }
        assert!(silence <= PEER_TIMEOUT_TICKS, "tick {silence}: {actions:?}");
    }
    assert_eq!(silence, PEER_TIMEOUT_TICKS + 1);
}

/// A standby whose active peer lost power: the probe goes out once per silence, and a
/// fence-peer call made while this node power-fences the peer waits for the fence and is
/// answered 7 (not 1 at once, which would make DRBD's promote fail and call again).
#[test]
fn a_standby_probes_once_and_a_fence_peer_call_waits_for_its_own_fence() {
    let mut b = standby_of_a_silent_primary();
    let probes = |actions: &[Action]| {
        actions
            .iter()
            .filter(|a| matches!(a, Action::ProbeDrbdPeer))
            .count()
    };
    let mut asked = Vec::new();
    for _ in 0..8 {
        b.tick();
        let ready = b.ready();
        b.advance(&ready);
        asked.extend(ready.actions);
    }
    assert_eq!(probes(&asked), 1, "one probe per silence: {asked:?}");
    assert!(asked.contains(&Action::QueryPeerPower), "{asked:?}");
    assert!(
        b.status().reason.contains("DRBD shows it Connected"),
        "{}",
        b.status().reason
    );
    drive(&mut b, Input::Drbd(peer_lost()));
    let actions = drive(&mut b, Input::PeerPower(PeerPower::Off));
    assert!(actions.contains(&Action::PowerFencePeer), "{actions:?}");
    let actions = drive(&mut b, Input::Helper(Helper::FencePeer { call: 9 }));
    assert!(
        answers(&actions).is_empty(),
        "answered before the fence: {actions:?}"
    );
    assert_eq!(probes(&actions), 0, "{actions:?}");
    fence_ends_with_7_and_the_promote(&mut b);
}

/// A standby's call that waits for a fence about to start, when the peer is heard again
/// before it started: the peer is asked to outdate itself, never answered 1 at once.
#[test]
fn a_waiting_call_goes_back_to_the_peer_when_it_is_heard_before_the_fence() {
    let mut b = standby_of_a_silent_primary();
    let (mut silence, _, _) = ticks_to_probe(&mut b);
    drive(&mut b, Input::PeerPower(PeerPower::Off));
    drbd_loses_the_peer_and_the_probe_calls_fence_peer(&mut b);
    while silence <= PEER_TIMEOUT_TICKS {
        silence += 1;
        b.tick();
        if silence <= PEER_TIMEOUT_TICKS {
            let ready = b.ready();
            b.advance(&ready);
        }
    }
    // The timeout ended: the call now waits for the fence, which the next batch would start;
    // the peer is heard first.
    let back = PeerView {
        role: Role::Primary,
        active: true,
        ..peer_standby()
    };
    let actions = drive(&mut b, Input::Peer(PeerMessage::Heartbeat(back)));
    assert!(!actions.contains(&Action::PowerFencePeer), "{actions:?}");
    let actions = tick(&mut b);
    assert!(answers(&actions).is_empty(), "{actions:?}");
    assert!(
        actions.contains(&Action::Send(PeerMessage::OutdateRequest { call: 3 })),
        "{actions:?}"
    );
}
