//! Driving one real core by hand, as the daemon does: an input or a tick, then `ready()`,
//! then `advance()`. Shared by the single-node core tests (fence-peer, the DRBD probe).
// Shared by two test crates; each uses a different part.
#![allow(dead_code)]

use tandem::core::{Action, Input, Node, PeerView};
use tandem::drbd::{DiskState, Role};

/// Steps, then returns what `ready()` asks for (and records it, as the daemon does).
pub fn drive(node: &mut Node, input: Input) -> Vec<Action> {
    node.step(input);
    let ready = node.ready();
    node.advance(&ready);
    ready.actions
}

/// One tick, then what `ready()` asks for.
pub fn tick(node: &mut Node) -> Vec<Action> {
    node.tick();
    let ready = node.ready();
    node.advance(&ready);
    ready.actions
}

/// The fence-peer exit codes a batch answers with.
pub fn answers(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::AnswerHelper { code, .. } => Some(*code),
            _ => None,
        })
        .collect()
}

/// A peer standing by, Secondary with an UpToDate disk.
pub fn peer_standby() -> PeerView {
    PeerView {
        role: Role::Secondary,
        disk: DiskState::UpToDate,
        active: false,
        busy: false,
        paused: false,
        split_brain: false,
        drbd_known: true,
        stale_peer: false,
        pause: None,
    }
}
