//! The VM-lab scenarios, run in this order on one booted pair. Each starts from a baseline
//! (baseline.rs) and drives DRBD only through tandem: `tandem drbd create-md|up|primary|…`
//! (exec/drbdadm.rs with typed refusals), `tandem drbd state` (one events2 dump folded into
//! drbd::ResourceState) and `tandem drbd watch` (exec/events2.rs's supervised child). The
//! exception is `drbd_fence_peer_exit_codes`: it measures the kernel itself, with raw drbdadm and
//! a handler of its own in place of tandem's.

mod bring_up;
mod engine;
mod fence_codes;
mod init;
mod install;
mod link;
mod mariadb;
mod power;
mod protocol;
mod replica;
mod resolve;
mod roles;
mod sb_policy;
mod split_brain;
mod sync;

use crate::lab::Lab;

/// Where a scenario starts.
#[derive(Clone, Copy)]
pub enum Start {
    /// DRBD down on both nodes (metadata kept): the scenario brings it up itself.
    DrbdDown,
    /// Connected, Secondary/Secondary, UpToDate/UpToDate, protocol C.
    InSync,
}

pub struct Scenario {
    pub name: &'static str,
    pub start: Start,
    pub run: fn(&mut Lab),
}

impl Scenario {
    pub fn run_on(&self, lab: &mut Lab) {
        match self.start {
            Start::DrbdDown => lab.baseline_down(),
            Start::InSync => lab.baseline(),
        };
        (self.run)(lab);
    }
}

pub const ALL: &[Scenario] = &[
    Scenario {
        name: "bring_up_connect_and_skip_initial_sync",
        start: Start::DrbdDown,
        run: bring_up::run,
    },
    Scenario {
        name: "promote_and_demote_with_typed_refusals",
        start: Start::InSync,
        run: roles::run,
    },
    Scenario {
        name: "resync_progress_after_a_disconnect",
        start: Start::InSync,
        run: sync::run,
    },
    Scenario {
        name: "protocol_change_a_b_c",
        start: Start::InSync,
        run: protocol::run,
    },
    Scenario {
        name: "replication_link_cut_and_heal",
        start: Start::InSync,
        run: link::run,
    },
    Scenario {
        name: "split_brain_detected_from_events2",
        start: Start::InSync,
        run: split_brain::run,
    },
    Scenario {
        name: "primary_power_loss_and_reboot",
        start: Start::InSync,
        run: power::run,
    },
    Scenario {
        name: "mariadb_kill_9_and_manual_switchover",
        start: Start::InSync,
        run: mariadb::run,
    },
    Scenario {
        name: "split_brain_policy_discard_zero_changes",
        start: Start::InSync,
        run: |lab| sb_policy::run(lab, &ZERO_CHANGES),
    },
    Scenario {
        name: "split_brain_policy_discard_least_changes",
        start: Start::InSync,
        run: |lab| sb_policy::run(lab, &LEAST_CHANGES),
    },
    Scenario {
        name: "split_brain_policy_discard_younger_primary",
        start: Start::InSync,
        run: |lab| sb_policy::run(lab, &YOUNGER_PRIMARY),
    },
    Scenario {
        name: "split_brain_policy_discard_older_primary",
        start: Start::InSync,
        run: |lab| sb_policy::run(lab, &OLDER_PRIMARY),
    },
    Scenario {
        name: "split_brain_policy_discard_node_vm_b",
        start: Start::InSync,
        run: |lab| sb_policy::run(lab, &DISCARD_NODE_B),
    },
    Scenario {
        name: "split_brain_policy_1pri_discard_secondary",
        start: Start::InSync,
        run: |lab| sb_policy::run(lab, &DISCARD_SECONDARY),
    },
    Scenario {
        name: "split_brain_policy_1pri_consensus",
        start: Start::InSync,
        run: |lab| sb_policy::run(lab, &CONSENSUS),
    },
    Scenario {
        name: "drbd_fence_peer_exit_codes",
        start: Start::InSync,
        run: fence_codes::run,
    },
    // The engine (tandemd on both guests) last: they leave DRBD with the engine's fencing
    // until the next baseline brings it down and up again.
    Scenario {
        name: "engine_switchover_both_ways",
        start: Start::InSync,
        run: engine::switchover_both_ways,
    },
    Scenario {
        name: "engine_replication_cut_outdates_the_peer",
        start: Start::InSync,
        run: engine::replication_cut_outdates_the_peer,
    },
    Scenario {
        name: "engine_primary_power_loss_fails_over",
        start: Start::InSync,
        run: engine::primary_power_loss_fails_over,
    },
    Scenario {
        name: "engine_replica_follows_a_drbd_failover",
        start: Start::InSync,
        run: replica::run,
    },
    Scenario {
        name: "engine_full_partition_the_active_node_shoots_first",
        start: Start::InSync,
        run: engine::full_partition_the_active_node_shoots_first,
    },
    Scenario {
        name: "engine_split_brain_detected_and_resolved_keeping_a_copy",
        start: Start::InSync,
        run: resolve::run,
    },
    Scenario {
        name: "init_full_sync_and_moved_datadir",
        start: Start::DrbdDown,
        run: init::run,
    },
    // From blank disks with the .deb and docs/install.md's commands only.
    Scenario {
        name: "install_from_the_package_and_switch_over",
        start: Start::DrbdDown,
        run: install::run,
    },
];

use crate::lab::Node;
use sb_policy::Case;

/// Only vm-a wrote; vm-b was Primary without a change: vm-b is discarded.
const ZERO_CHANGES: Case = Case {
    zero: "discard-zero-changes",
    one: "disconnect",
    writes: (Some(0), None),
    a_primary_before_cut: false,
    a_stays_primary: false,
    winner: Node::A,
};
/// vm-b changed 4 MiB more than vm-a: vm-a's changes are discarded.
const LEAST_CHANGES: Case = Case {
    zero: "discard-least-changes",
    one: "disconnect",
    writes: (Some(0), Some(4)),
    a_primary_before_cut: false,
    a_stays_primary: false,
    winner: Node::B,
};
/// vm-a was Primary before the split, vm-b promoted during it (and wrote more): vm-b's
/// changes go.
const YOUNGER_PRIMARY: Case = Case {
    zero: "discard-younger-primary",
    one: "disconnect",
    writes: (Some(0), Some(4)),
    a_primary_before_cut: true,
    a_stays_primary: false,
    winner: Node::A,
};
/// The same split, the other policy: vm-a's changes go.
const OLDER_PRIMARY: Case = Case {
    zero: "discard-older-primary",
    one: "disconnect",
    writes: (Some(4), Some(0)),
    a_primary_before_cut: true,
    a_stays_primary: false,
    winner: Node::B,
};
/// vm-b's changes go, though it wrote more.
const DISCARD_NODE_B: Case = Case {
    zero: "discard-node-vm-b",
    one: "disconnect",
    writes: (Some(0), Some(4)),
    a_primary_before_cut: false,
    a_stays_primary: false,
    winner: Node::A,
};
/// vm-a is Primary at the heal: the Secondary, vm-b, is discarded though it wrote more.
const DISCARD_SECONDARY: Case = Case {
    zero: "disconnect",
    one: "discard-secondary",
    writes: (Some(0), Some(4)),
    a_primary_before_cut: false,
    a_stays_primary: true,
    winner: Node::A,
};
/// vm-a is Primary at the heal and after-sb-0pri (discard-zero-changes) would also discard
/// vm-b, which made no change: consensus, vm-b is discarded.
const CONSENSUS: Case = Case {
    zero: "discard-zero-changes",
    one: "consensus",
    writes: (Some(0), None),
    a_primary_before_cut: false,
    a_stays_primary: true,
    winner: Node::A,
};
