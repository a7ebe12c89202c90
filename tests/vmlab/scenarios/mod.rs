//! The VM-lab scenarios, run in this order on one booted pair. Each starts from a baseline
//! (baseline.rs) and drives DRBD only through tandem: `tandem drbd create-md|up|primary|…`
//! (exec/drbdadm.rs with typed refusals), `tandem drbd state` (one events2 dump folded into
//! drbd::ResourceState) and `tandem drbd watch` (exec/events2.rs's supervised child).

mod bring_up;
mod engine;
mod link;
mod mariadb;
mod power;
mod protocol;
mod roles;
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
];
