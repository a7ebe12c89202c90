//! The simulation's DRBD model: steps against the replicated disk, writes and resyncs,
//! fence-peer answers, split-brain; with the invariants only it can check (no stale promote).

use super::*;

impl Cluster {
    pub(super) fn complete_steps(&mut self) {
        for i in 0..2 {
            let Some((step, at)) = self.nodes[i].pending else {
                continue;
            };
            let blocked = self.nodes[i].fence_wait.is_some() || self.probe_blocks(i);
            if at > self.now || !self.nodes[i].alive || blocked {
                continue;
            }
            // events2 reports every change in order: a change of this tick that came before
            // the step's role change (a lost connection while still Primary) is seen first.
            self.report_drbd_before_role_change(i, step);
            if let Some(result) = self.apply(i, step) {
                self.finish(i, step, result);
            }
        }
    }

    pub(super) fn report_drbd_before_role_change(&mut self, i: usize, step: Step) {
        let changes_role = matches!(step, Step::Demote | Step::ForceDemote);
        let view = self.view(i);
        let node = &self.nodes[i];
        if changes_role && self.now >= node.drbd_dump_at && node.last_view.as_ref() != Some(&view) {
            self.nodes[i].last_view = Some(view.clone());
            self.input(i, Input::Drbd(view));
            self.drive_dirty();
        }
    }

    pub(super) fn finish(&mut self, i: usize, step: Step, result: Result<(), String>) {
        self.nodes[i].pending = None;
        if let Err(e) = &result {
            self.log.push(format!("{}: {step} failed: {e}", NAMES[i]));
        }
        self.input(i, Input::Done { step, result });
    }

    /// The DRBD model's verdict on a step; `None` while it waits for fence-peer.
    pub(super) fn apply(&mut self, i: usize, step: Step) -> Option<Result<(), String>> {
        let connected = self.drbd_connected(i);
        let peer_primary = self.nodes[1 - i].role == Role::Primary || self.ghost_connected(i);
        let node = &mut self.nodes[i];
        if let Some((_, error)) = node.fail_next.take_if(|(failing, _)| *failing == step) {
            return Some(Err(error));
        }
        Some(match step {
            Step::Promote { force } => {
                if node.role == Role::Primary {
                    Ok(()) // DRBD: nothing to do (a probe promoted it already)
                } else if !force && node.disk != DiskState::UpToDate {
                    Err("NoUpToDateDisk".into())
                } else if connected && peer_primary {
                    Err("PeerIsPrimary".into())
                } else if !connected && !force {
                    let call = self.next_call;
                    self.next_call += 1;
                    self.nodes[i].fence_wait = Some(call);
                    self.call_fence_peer(i, call);
                    return None;
                } else {
                    node.role = Role::Primary;
                    if !force {
                        self.check_not_stale(i);
                    }
                    Ok(())
                }
            }
            Step::Demote | Step::ForceDemote => {
                node.role = Role::Secondary;
                Ok(())
            }
            Step::OutdateLocal if connected => {
                Err("Refusing to be Outdated while Connected".into())
            }
            Step::OutdateLocal => {
                node.disk = DiskState::Outdated;
                Ok(())
            }
            Step::Disconnect => {
                node.standalone = true;
                Ok(())
            }
            Step::Connect | Step::ConnectDiscardMyData => {
                if step == Step::ConnectDiscardMyData {
                    node.disk = DiskState::Outdated; // resynced from the peer once connected
                }
                node.sb_reconnect = true;
                if self.nodes.iter().all(|n| n.sb_reconnect) {
                    self.split_brain = false;
                    self.nodes.iter_mut().for_each(|n| n.sb_reconnect = false);
                    self.log
                        .push("DRBD: both reconnected, the victim resyncs".into());
                }
                Ok(())
            }
            _ => Ok(()),
        })
    }

    /// DRBD 8.4's `conn_try_outdate_peer` (docs/decisions.md has the table measured in the VM
    /// lab): 3, 4 and 7 mark the peer outdated and go on; 5 does too when the local disk is
    /// UpToDate ("peer dead"); 6 outdates the local disk; anything else is a broken helper:
    /// a promote is refused and a frozen Primary stays frozen.
    pub(super) fn on_fence_answer(&mut self, i: usize, call: u64, code: u8) {
        let up_to_date = self.nodes[i].disk == DiskState::UpToDate;
        let goes_on = matches!(code, 3 | 4 | 7) || (code == 5 && up_to_date);
        if code == 6 {
            self.nodes[i].disk = DiskState::Outdated;
        }
        if self.nodes[i].probe_wait == Some(call) {
            self.on_probe_answer(i, goes_on);
            return;
        }
        if self.nodes[i].disconnect_call == Some(call) {
            self.nodes[i].disconnect_call = None;
            if goes_on {
                self.nodes[i].frozen = false;
            }
            return;
        }
        if self.nodes[i].fence_wait != Some(call) {
            return;
        }
        self.nodes[i].fence_wait = None;
        let result = if goes_on && self.nodes[i].disk == DiskState::UpToDate {
            self.nodes[i].role = Role::Primary;
            self.check_not_stale(i);
            Ok(())
        } else {
            Err(format!("PeerNotOutdated (fence-peer answered {code})"))
        };
        if let Some((step, _)) = self.nodes[i].pending {
            self.finish(i, step, result);
        }
    }

    /// INVARIANT: a promoted disk holds every write the peer ever made (no stale promote).
    pub(super) fn check_not_stale(&self, i: usize) {
        let (me, peer) = (&self.nodes[i], &self.nodes[1 - i]);
        assert!(
            me.generation >= peer.generation,
            "INVARIANT: {} promoted a stale disk at tick {} (generation {} < {}'s {})\n{}",
            NAMES[i],
            self.now,
            me.generation,
            NAMES[1 - i],
            peer.generation,
            self.log.join("\n")
        );
    }

    /// Writes and resyncs: a Primary writes every tick; a connected peer follows, a
    /// disconnected one falls behind; reconnecting after both wrote is a split-brain.
    pub(super) fn replicate(&mut self) {
        let connected = self.connected();
        for i in 0..2 {
            let writes = self.nodes[i].alive && !self.nodes[i].frozen;
            if writes && self.nodes[i].role == Role::Primary {
                self.nodes[i].generation += 1;
                if connected {
                    self.nodes[1 - i].generation = self.nodes[i].generation;
                }
            }
        }
        if connected {
            let newest = self.nodes.iter().map(|n| n.generation).max().unwrap_or(0);
            for i in 0..2 {
                self.nodes[i].frozen = false;
                match self.nodes[i].disk {
                    DiskState::Outdated => {
                        self.nodes[i].disk = DiskState::UpToDate;
                        self.nodes[i].generation = self.nodes[1 - i].generation;
                    }
                    // DRBD compares generations on connect and resyncs the older disk (a
                    // rebooted Consistent one, or one that missed writes) from the newer.
                    _ if self.nodes[i].role != Role::Primary => {
                        self.nodes[i].disk = DiskState::UpToDate;
                        self.nodes[i].generation = newest;
                    }
                    _ => {}
                }
            }
        }
    }

    /// A Primary that loses its peer calls fence-peer; with a power fence the lab renders
    /// `fencing resource-and-stonith`, which suspends I/O until the helper succeeds.
    pub(super) fn fence_on_disconnect(&mut self) {
        let connected = self.connected();
        let stonith = self.power_fence;
        if self.was_connected && !connected {
            for i in 0..2 {
                if self.nodes[i].alive && self.nodes[i].role == Role::Primary {
                    let call = self.next_call;
                    self.next_call += 1;
                    self.nodes[i].disconnect_call = Some(call);
                    self.nodes[i].frozen = stonith;
                    self.call_fence_peer(i, call);
                }
            }
        }
        self.was_connected = connected;
    }

    /// DRBD found both sides changed after a partition: both drop to StandAlone.
    pub fn split_brain(&mut self) {
        self.split_brain = true;
        self.log
            .push("DRBD: split-brain detected, both StandAlone".into());
        for i in 0..2 {
            if self.nodes[i].alive {
                let call = self.next_call;
                self.next_call += 1;
                self.input(i, Input::Helper(Helper::SplitBrain { call }));
            }
        }
    }
}
