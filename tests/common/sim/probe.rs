//! DRBD's late view of a dead Primary, and the core's probe (src/core/probe.rs).
//!
//! A Primary that dies stays Connected (and Primary) in the survivor's DRBD view for
//! `drbd_lag_ticks`: DRBD has not missed its ping yet. A probe is a promote: DRBD pings
//! first (the view ends one tick later if the peer is dead), then decides as a promote
//! decides: refused while the peer shows Primary and Connected, accepted when it shows
//! Secondary and Connected, and when disconnected only on a fence-peer answer that goes on.
//! Real DRBD 8.4 refuses the retry after such an answer (its tries are spent); the model
//! accepts it, the harder case for the core.

use super::*;

/// The dead Primary the survivor's DRBD still shows: its disk, and the tick the survivor's
/// missed ping ends the view.
pub struct Ghost {
    pub of: usize,
    pub disk: DiskState,
    pub until: u64,
}

impl Cluster {
    /// Node `i`'s DRBD still shows its dead peer Connected.
    pub(super) fn ghost_connected(&self, i: usize) -> bool {
        self.ghost.as_ref().is_some_and(|ghost| {
            ghost.of == 1 - i
                && self.now < ghost.until
                && self.repl_link
                && !self.split_brain
                && self.nodes[i].alive
                && !self.nodes[i].standalone
        })
    }

    /// Connected as node `i`'s DRBD shows it (the truth, or a dead peer not yet missed).
    pub(super) fn drbd_connected(&self, i: usize) -> bool {
        self.connected() || self.ghost_connected(i)
    }

    /// Node `i`, Primary and connected, dies: its peer's DRBD goes on showing it for a while.
    pub(super) fn leave_ghost(&mut self, i: usize) {
        let node = &self.nodes[i];
        if self.drbd_lag_ticks > 0 && self.connected() && node.role == Role::Primary {
            self.ghost = Some(Ghost {
                of: i,
                disk: node.disk.clone(),
                until: self.now + self.drbd_lag_ticks,
            });
        }
    }

    /// The core asked node `i`'s DRBD to promote, for its ping.
    pub(super) fn start_probe(&mut self, i: usize) {
        self.probes += 1;
        self.log.push(format!("{}: probe: promote", NAMES[i]));
        if self.ghost_connected(i) {
            if let Some(ghost) = self.ghost.as_mut() {
                // The ping goes out now and is missed within the ping timeout.
                ghost.until = ghost.until.min(self.now + 1);
            }
        }
        if self.nodes[i].probe_at.is_none() && self.nodes[i].probe_wait.is_none() {
            self.nodes[i].probe_at = Some(self.now + 2);
        }
    }

    /// Probes whose promote DRBD decides now (after its retry past the ping timeout).
    pub(super) fn complete_probes(&mut self) {
        for (i, name) in NAMES.iter().enumerate() {
            let due = self.nodes[i].probe_at.is_some_and(|at| at <= self.now);
            if !due || !self.nodes[i].alive {
                continue;
            }
            self.nodes[i].probe_at = None;
            let connected = self.drbd_connected(i);
            let peer_primary = self.nodes[1 - i].role == Role::Primary || self.ghost_connected(i);
            if self.nodes[i].disk != DiskState::UpToDate {
                self.log
                    .push(format!("{name}: DRBD refuses the probe: no UpToDate disk"));
            } else if connected && peer_primary {
                self.log.push(format!(
                    "{name}: DRBD refuses the probe: the peer is Primary"
                ));
            } else if connected {
                self.probe_promotes(i);
            } else {
                let call = self.next_call;
                self.next_call += 1;
                self.nodes[i].probe_wait = Some(call);
                self.call_fence_peer(i, call);
            }
        }
    }

    /// The probe's fence-peer call was answered: `goes_on` as DRBD reads the code.
    pub(super) fn on_probe_answer(&mut self, i: usize, goes_on: bool) {
        self.nodes[i].probe_wait = None;
        if goes_on && self.nodes[i].disk == DiskState::UpToDate {
            self.probe_promotes(i);
        } else {
            self.log.push(format!(
                "{}: DRBD refuses the probe: the peer is not outdated",
                NAMES[i]
            ));
        }
    }

    fn probe_promotes(&mut self, i: usize) {
        self.probes_promoted += 1;
        self.log
            .push(format!("{}: DRBD accepts the probe: Primary", NAMES[i]));
        self.nodes[i].role = Role::Primary;
        self.check_not_stale(i);
    }

    /// DRBD takes one state change at a time: a step waits for a probe of its node.
    pub(super) fn probe_blocks(&self, i: usize) -> bool {
        self.nodes[i].probe_at.is_some() || self.nodes[i].probe_wait.is_some()
    }
}
