//! `tandem drbd state`: the resource as tandem's model sees it, from one
//! `drbdsetup events2 --now --statistics` dump folded into a [`ResourceState`], plus the
//! protocol in effect from `/proc/drbd` (events2 does not carry it on DRBD 8.4).

use crate::drbd::procfs;
use crate::drbd::{ConnectionState, ResourceState};
use crate::exec::drbdadm::DrbdError;
use crate::exec::events2::{snapshot, Events2Command, SNAPSHOT_TIMEOUT_MS};
use crate::exec::host;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// What `tandem drbd state --json` prints: the model's fields, flattened, plus what only
/// `/proc/drbd` says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateReport {
    #[serde(flatten)]
    pub state: ResourceState,
    /// The replication protocol in effect (`A`, `B` or `C`), from /proc/drbd; absent while the
    /// resource has no network configuration (StandAlone) or is down. This is what a protocol
    /// change must be checked against: the rendered file only says what was asked for.
    pub protocol: Option<char>,
    /// The DRBD 8.4 connection word from /proc/drbd (`WFConnection`, `SyncSource`, …), as an
    /// operator used to 8.4 reads it.
    pub cstate_84: Option<String>,
}

/// Reads the state of `resource` (device minor `minor`).
pub async fn read(resource: &str, minor: u32) -> Result<StateReport, DrbdError> {
    let command = Events2Command::now(resource);
    let timeout = Duration::from_millis(SNAPSHOT_TIMEOUT_MS);
    let mut state = ResourceState::new(resource);
    for event in snapshot(&command, resource, timeout).await? {
        state.apply(&event);
    }
    let minor_status = host::read_proc_drbd()
        .ok()
        .and_then(|text| procfs::parse(&text).ok())
        .and_then(|proc_drbd| proc_drbd.minor(minor).cloned());
    // One dump cannot tell how far a resync got on DRBD 8.4 (its events2 has no `done:` and
    // the dump sees no start, so a figure derived from it would always read 0 %); /proc/drbd's
    // progress line can. Without that line (read as the resync ends) the figure is unknown.
    if state.replication.is_syncing() {
        let resync = minor_status.as_ref().and_then(|m| m.resync.as_ref());
        state.sync_done_percent = resync.map(|r| r.done_percent);
        state.sync_total_kib = resync.map(|r| r.total_kib);
    }
    Ok(StateReport {
        state,
        protocol: minor_status.as_ref().and_then(|m| m.protocol),
        cstate_84: minor_status.map(|m| m.cstate),
    })
}

/// The human form: a headline with the roles, then one line per aspect.
impl fmt::Display for StateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.state;
        if !s.configured {
            return writeln!(f, "{}: not configured in the kernel (down)", s.name);
        }
        writeln!(f, "{}: role {}, peer role {}", s.name, s.role, s.peer_role)?;
        writeln!(f, "  disk        {}, peer disk {}", s.disk, s.peer_disk)?;
        write!(f, "  connection  {}", s.connection)?;
        if let Some(word) = &self.cstate_84 {
            write!(f, " ({word} in 8.4 words)")?;
        }
        writeln!(f)?;
        write!(f, "  replication {}", s.replication)?;
        if let Some(protocol) = self.protocol {
            write!(f, ", protocol {protocol}")?;
        }
        writeln!(f)?;
        if let Some(done) = s.sync_done_percent {
            writeln!(f, "  sync        {done:.1}% done")?;
        }
        if let Some(kib) = s.out_of_sync_kib {
            writeln!(f, "  out of sync {kib} KiB")?;
        }
        if s.suspended {
            writeln!(f, "  I/O         SUSPENDED")?;
        }
        if s.connection == ConnectionState::StandAlone {
            writeln!(
                f,
                "  note        StandAlone: not trying to connect (manual disconnect or split-brain)"
            )?;
        }
        if let Some(helper) = &s.last_helper {
            match helper.status {
                Some(status) => writeln!(f, "  last helper {} returned {status}", helper.name)?,
                None => writeln!(f, "  last helper {} (running)", helper.name)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drbd::parse_line;

    fn report(lines: &str, protocol: Option<char>) -> StateReport {
        let mut state = ResourceState::new("r0");
        for line in lines.lines() {
            state.apply(&parse_line(line).unwrap());
        }
        StateReport {
            state,
            protocol,
            cstate_84: Some("SyncSource".into()),
        }
    }

    /// Lines from the VM lab (tests/fixtures/drbd84/transcript-full.txt).
    const SYNCING: &str = "exists resource name:r0 role:Primary suspended:no\n\
        exists connection name:r0 peer-node-id:0 conn-name:peer connection:Connected role:Secondary\n\
        exists device name:r0 volume:0 minor:0 disk:UpToDate\n\
        exists peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 replication:SyncSource \
        peer-disk:Inconsistent done:17.97 resync-suspended:no out-of-sync:208852\n\
        exists -";

    #[test]
    fn prints_roles_disks_connection_and_progress() {
        let text = report(SYNCING, Some('C')).to_string();
        let expected = "r0: role Primary, peer role Secondary\n  \
            disk        UpToDate, peer disk Inconsistent\n  \
            connection  Connected (SyncSource in 8.4 words)\n  \
            replication SyncSource, protocol C\n  \
            sync        18.0% done\n  \
            out of sync 208852 KiB\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn json_round_trips_with_the_model_flattened() {
        let report = report(SYNCING, Some('B'));
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"role\":\"Primary\""), "{json}");
        assert!(json.contains("\"protocol\":\"B\""), "{json}");
        let back: StateReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn a_resource_that_is_down_says_so() {
        let report = report("exists -", None);
        assert_eq!(
            report.to_string(),
            "r0: not configured in the kernel (down)\n"
        );
    }
}
