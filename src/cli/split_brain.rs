//! `tandem split-brain status [--json]`: is there a split-brain, and what did each side do?
//!
//! Gathered on one node, from three sources that do not need the peer to be reachable:
//! - DRBD's live state (one events2 dump): role, disk, connection;
//! - the kernel log's last connection handshake (`drbd::handshake`): both sides' generation
//!   UUIDs, whether each side was Primary when its data diverged, how much each changed,
//!   and DRBD's verdict;
//! - the local tandemd, when it runs: its split-brain detection and the journal's records.

use super::drbd_state;
use super::ops::{ask, socket_path};
use crate::config::Config;
use crate::control::{ControlRequest, ControlResponse, HistoryLine};
use crate::core::JournalEvent;
use crate::drbd::handshake::{last_handshake, Generations, Handshake, Verdict};
use crate::drbd::{ConnectionState, DiskState, Role};
use crate::exec::{dmesg, host};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

/// How long the daemon may take to answer; it answers status at once.
const DAEMON_TIMEOUT_MS: u64 = 5_000;
/// Journal records looked through for the split-brain story.
const HISTORY_LIMIT: usize = 500;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitBrainReport {
    pub resource: String,
    pub node: String,
    pub peer: String,
    /// A split-brain stands now: DRBD is StandAlone after an unresolved handshake, or
    /// tandemd detected one that is not resolved.
    pub standing: bool,
    pub role: Role,
    pub disk: DiskState,
    pub connection: ConnectionState,
    /// The last handshake in this node's kernel log, if it still holds one.
    pub handshake: Option<Handshake>,
    /// tandemd's detection sentence, when it saw a split-brain.
    pub daemon_detail: Option<String>,
    /// Why tandemd could not be asked, if it could not.
    pub daemon_error: Option<String>,
    /// Split-brain, promotion, demotion and failover records of this node's journal.
    pub journal: Vec<HistoryLine>,
}

pub fn status(config_path: &Path, json: bool) -> Result<ExitCode, String> {
    let report = gather(config_path)?;
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}

fn gather(config_path: &Path) -> Result<SplitBrainReport, String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let drbd = config.drbd.as_ref().ok_or(
        "storage is \"shared-disk\": DRBD split-brain does not apply; with a shared disk, \
         the fencing of the other node is what prevents two writers",
    )?;
    let me = host::node_name().map_err(|e| format!("cannot read this host's name: {e}"))?;
    let peer = config
        .peer_of(&me)
        .map(|n| n.name.get_ref().clone())
        .ok_or_else(|| {
            format!(
                "this host ({me}) is not a node of {}",
                config_path.display()
            )
        })?;
    let runtime = super::ops::runtime()?;
    let resource = drbd.resource.get_ref().clone();
    let state = runtime
        .block_on(drbd_state::read(&resource, drbd.minor))
        .map_err(|e| format!("cannot read DRBD's state: {e}"))?
        .state;
    let kernel_log = runtime.block_on(dmesg::read())?;
    let handshake = last_handshake(&kernel_log, drbd.minor);
    let socket = socket_path(config_path);
    let (daemon_detail, journal, daemon_error) = match daemon_facts(&socket) {
        Ok((detail, journal)) => (detail, journal, None),
        Err(e) => (None, Vec::new(), Some(e)),
    };
    let unresolved = handshake
        .as_ref()
        .is_some_and(|h| h.verdict == Verdict::SplitBrainUnresolved);
    let standing =
        state.connection == ConnectionState::StandAlone && (unresolved || daemon_detail.is_some());
    Ok(SplitBrainReport {
        resource,
        node: me,
        peer,
        standing,
        role: state.role,
        disk: state.disk,
        connection: state.connection,
        handshake,
        daemon_detail,
        daemon_error,
        journal,
    })
}

type DaemonFacts = (Option<String>, Vec<HistoryLine>);

fn daemon_facts(socket: &Path) -> Result<DaemonFacts, String> {
    let detail = match ask(socket, ControlRequest::Status, DAEMON_TIMEOUT_MS)? {
        ControlResponse::Status(status) => status.local.split_brain,
        other => return Err(format!("unexpected answer {other:?}")),
    };
    let history = ControlRequest::History {
        limit: HISTORY_LIMIT,
    };
    let journal = match ask(socket, history, DAEMON_TIMEOUT_MS)? {
        ControlResponse::History(lines) => lines
            .into_iter()
            .filter(|line| {
                matches!(
                    line.event,
                    JournalEvent::SplitBrain { .. }
                        | JournalEvent::SplitBrainResolved
                        | JournalEvent::Resolve { .. }
                        | JournalEvent::Promoted { .. }
                        | JournalEvent::Demoted { .. }
                        | JournalEvent::FailoverStarted { .. }
                )
            })
            .collect(),
        other => return Err(format!("unexpected answer {other:?}")),
    };
    Ok((detail, journal))
}

/// The human form: the verdict first, then each side, then what to do.
pub fn render(report: &SplitBrainReport) -> String {
    let mut out = String::new();
    let r = report;
    if r.standing {
        let _ = writeln!(
            out,
            "SPLIT-BRAIN on {}: it stands, DRBD is StandAlone",
            r.resource
        );
    } else {
        let _ = writeln!(
            out,
            "no split-brain stands on {} (connection {})",
            r.resource, r.connection
        );
    }
    let _ = writeln!(
        out,
        "  {} (this node): {}, disk {}, connection {}",
        r.node, r.role, r.disk, r.connection
    );
    match &r.handshake {
        Some(h) => {
            let at = h.at_s.map(|s| format!(" at {s:.1} s")).unwrap_or_default();
            let _ = writeln!(out, "  last handshake in this node's kernel log{at}:");
            let _ = writeln!(out, "    {}: {}", r.node, side(&h.local));
            let _ = writeln!(out, "    {}: {}", r.peer, side(&h.peer));
            match h.common_ancestor() {
                Some(uuid) => {
                    let _ = writeln!(
                        out,
                        "    both descend from generation {uuid:016X}: each side's changes \
                         are counted from there"
                    );
                }
                None => {
                    let _ = writeln!(out, "    no common generation: unrelated data");
                }
            }
            let compare = h.compare.as_deref().unwrap_or("no uuid_compare line");
            let _ = writeln!(out, "    DRBD: {compare}; {}", verdict(&h.verdict));
        }
        None => {
            let _ = writeln!(
                out,
                "  the kernel log holds no handshake of this device (rotated, or never connected)"
            );
        }
    }
    match (&r.daemon_detail, &r.daemon_error) {
        (Some(detail), _) => {
            let _ = writeln!(
                out,
                "  tandemd: {detail}; no automatic promote, demote or failover until it is resolved"
            );
        }
        (None, Some(error)) => {
            let _ = writeln!(out, "  tandemd not asked: {error}");
        }
        (None, None) => {
            let _ = writeln!(out, "  tandemd: no split-brain detected");
        }
    }
    for line in &r.journal {
        let _ = writeln!(
            out,
            "  journal {}: {:?}",
            super::ops::format_unix_ms(line.unix_ms),
            line.event
        );
    }
    if r.standing {
        let _ = writeln!(
            out,
            "  next: choose the node whose writes must be kept; docs/runbooks/split-brain.md \
             says how, and how to keep a copy of the other side's data first"
        );
    }
    out
}

fn side(g: &Generations) -> String {
    let role = if g.primary_when_diverged() {
        "made while Primary"
    } else {
        "made while Secondary"
    };
    format!(
        "generation {:016X} ({role}), changed {} KiB since the common generation",
        g.current,
        g.changed_kib()
    )
}

fn verdict(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::SplitBrainUnresolved => "split-brain detected but unresolved, connection dropped",
        Verdict::SplitBrainResolved {
            automatic: true, ..
        } => "split-brain resolved automatically by the after-sb policy",
        Verdict::SplitBrainResolved { .. } => "split-brain resolved by an operator",
        Verdict::NoSplitBrain => "no split-brain at that handshake",
    }
}
