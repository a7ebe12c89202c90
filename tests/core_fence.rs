//! DRBD's fence-peer protocol in the core, one rule at a time, on a single real `Node` driven
//! by hand (the transcripts show the same rules in whole-cluster stories). And the shim's
//! fallback answer when tandemd cannot be reached, through the real `tandem helper` binary.

#[path = "common/drive.rs"]
mod drive;
#[path = "common/sim.rs"]
mod sim;

use drive::{answers, drive, peer_standby};
use std::process::Command;
use tandem::core::{
    Action, DrbdView, FenceExit, Helper, Input, JournalEvent, Mode, Node, OutdateOutcome,
    PeerMessage, Step,
};
use tandem::drbd::{ConnectionState, DiskState, Role};

fn view(role: Role, connection: ConnectionState, peer_disk: DiskState) -> DrbdView {
    let connected = connection == ConnectionState::Connected;
    DrbdView {
        role,
        disk: DiskState::UpToDate,
        peer_role: if connected {
            Role::Secondary
        } else {
            Role::Unknown
        },
        peer_disk,
        connection,
    }
}

#[test]
fn an_outdate_request_during_a_promote_is_refused() {
    // b (non-preferred) is promoting after a's handover; a's fence-peer asks it to outdate.
    let mut b = Node::new(sim::core_config(1, false), None);
    let connected = view(
        Role::Secondary,
        ConnectionState::Connected,
        DiskState::UpToDate,
    );
    drive(&mut b, Input::Drbd(connected));
    drive(&mut b, Input::Peer(PeerMessage::Heartbeat(peer_standby())));
    let actions = drive(&mut b, Input::Peer(PeerMessage::Handover));
    assert!(
        actions.contains(&Action::Run(Step::Promote { force: false })),
        "{actions:?}"
    );
    let actions = drive(&mut b, Input::Peer(PeerMessage::OutdateRequest { call: 7 }));
    let refused = Action::Send(PeerMessage::OutdateReply {
        call: 7,
        outcome: OutdateOutcome::RefusedPrimary,
    });
    assert!(actions.contains(&refused), "{actions:?}");
    assert!(!actions.contains(&Action::Run(Step::OutdateLocal)));
}

#[test]
fn a_primary_whose_peer_is_silent_answers_1_and_records_it_stale() {
    let mut a = Node::new(sim::core_config(0, false), None);
    let primary = view(
        Role::Primary,
        ConnectionState::Connecting,
        DiskState::DUnknown,
    );
    drive(&mut a, Input::Drbd(primary));
    for _ in 0..10 {
        a.tick(); // never heard: the peer is silent
    }
    let actions = drive(&mut a, Input::Helper(Helper::FencePeer { call: 1 }));
    assert_eq!(
        answers(&actions),
        [FenceExit::Unproven.code()],
        "{actions:?}"
    );
    assert_eq!(FenceExit::Unproven.code(), 1);
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Journal(JournalEvent::MayBeStale { node, .. }) if node == "b"
        )),
        "{actions:?}"
    );
    assert_eq!(a.status().stale.len(), 1);
}

#[test]
fn with_a_power_fence_the_primary_fences_first_then_answers_7() {
    let mut a = Node::new(sim::core_config(0, true), None);
    a.adopt(true, true, false);
    let primary = view(
        Role::Primary,
        ConnectionState::Connecting,
        DiskState::DUnknown,
    );
    drive(&mut a, Input::Drbd(primary));
    for _ in 0..10 {
        a.tick();
    }
    // The VIP start is in flight: the fence must not wait for it (with resource-and-stonith
    // I/O is frozen until the answer, so a step could hang on it).
    assert_eq!(
        a.status().in_flight.as_deref(),
        Some("add VIP"),
        "{:?}",
        a.status()
    );
    let actions = drive(&mut a, Input::Helper(Helper::FencePeer { call: 3 }));
    assert!(answers(&actions).is_empty(), "no answer before the fence");
    assert!(actions.contains(&Action::PowerFencePeer), "{actions:?}");
    assert_eq!(a.mode(), Mode::Fencing);
    let actions = drive(&mut a, Input::PowerFenced(Ok(())));
    assert_ne!(a.mode(), Mode::Fencing);
    assert_eq!(answers(&actions), [FenceExit::PeerStonithed.code()]);
}

#[test]
fn a_failed_stop_chain_backs_off_before_it_runs_again() {
    let mut a = Node::new(sim::core_config(0, false), None);
    a.adopt(true, true, true);
    let primary = view(
        Role::Primary,
        ConnectionState::Connected,
        DiskState::UpToDate,
    );
    drive(&mut a, Input::Drbd(primary));
    drive(&mut a, Input::Peer(PeerMessage::Heartbeat(peer_standby())));
    assert_eq!(a.mode(), Mode::Active);
    let mut runs = Vec::new();
    let mut actions = drive(
        &mut a,
        Input::Control(tandem::core::Request::Switchover { to: "b".into() }),
    );
    for tick in 0..200 {
        for action in &actions {
            if let Action::Run(step) = action {
                runs.push((tick, *step));
                let result = Err("device busy".to_string());
                let done = Input::Done {
                    step: *step,
                    result,
                };
                a.step(done);
            }
        }
        a.tick();
        a.step(Input::Peer(PeerMessage::Heartbeat(peer_standby())));
        let ready = a.ready();
        a.advance(&ready);
        actions = ready.actions;
    }
    assert_eq!(a.mode(), Mode::Demoting, "{:?}", a.status().reason);
    let self_fences: Vec<u64> = runs
        .iter()
        .filter(|(_, step)| *step == Step::SelfFence)
        .map(|(tick, _)| *tick)
        .collect();
    assert!(self_fences.len() >= 3, "{runs:?}");
    let gaps: Vec<u64> = self_fences.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).all(|g| g[1] > g[0]),
        "the waits between failed stop chains must grow: {gaps:?}"
    );
    assert!(
        runs.len() < 40,
        "a hot loop ran {} steps: {runs:?}",
        runs.len()
    );
}

#[test]
fn the_shim_answers_1_when_tandemd_cannot_be_reached() {
    let dir = std::env::temp_dir().join(format!("tandem-fence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let example = include_str!("../resources/tandem.toml");
    let socket = dir.join("no-daemon.sock");
    let config = dir.join("tandem.toml");
    std::fs::write(
        &config,
        format!(
            "{example}\n[engine]\ncontrol_socket = \"{}\"\n",
            socket.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["--config", config.to_str().unwrap(), "helper", "fence-peer"])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "never 5 (DRBD reads 5 as 'peer dead'): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Found by the simulation once its cores were driven after every input: b outdates its
/// disk for a's fence-peer while a hands over to it. The step's success is a fact about the
/// disk (exec read it back), so b must not promote on its older events2 view, which still
/// says UpToDate.
#[test]
fn an_outdated_disk_is_not_promoted_before_events2_says_so() {
    let mut b = Node::new(sim::core_config(1, false), None);
    let secondary = view(
        Role::Secondary,
        ConnectionState::Connecting,
        DiskState::DUnknown,
    );
    drive(&mut b, Input::Drbd(secondary));
    drive(&mut b, Input::Peer(PeerMessage::Heartbeat(peer_standby())));
    let actions = drive(&mut b, Input::Peer(PeerMessage::OutdateRequest { call: 7 }));
    assert!(
        actions.contains(&Action::Run(Step::OutdateLocal)),
        "{actions:?}"
    );
    drive(&mut b, Input::Peer(PeerMessage::Handover));
    let actions = drive(
        &mut b,
        Input::Done {
            step: Step::OutdateLocal,
            result: Ok(()),
        },
    );
    assert!(
        !actions.contains(&Action::Run(Step::Promote { force: false })),
        "promoted an Outdated disk: {actions:?}"
    );
    assert!(
        actions.contains(&Action::Send(PeerMessage::OutdateReply {
            call: 7,
            outcome: OutdateOutcome::Outdated
        })),
        "{actions:?}"
    );
}
