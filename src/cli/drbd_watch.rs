//! `tandem drbd watch`: follows the resource through the supervised events2 child
//! (`exec::events2`), folds each event into the state model (`drbd::state`) and prints every
//! change old → new, as the daemon sees it. The initial dump is summed up as one state line
//! rather than a burst of "Unknown → …" changes.

use crate::drbd::{Change, ResourceState};
use crate::exec::events2::{Events2Command, Events2Message, Events2Supervisor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use tokio::signal::unix::{signal, SignalKind};

/// One printed line; `--json` prints it as one JSON object per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum WatchRecord {
    /// The state after DRBD's initial dump (again after each restart of the events2 child).
    State { state: ResourceState },
    /// One change, with DRBD's timestamp of the event that caused it.
    Change {
        timestamp: Option<String>,
        change: Change,
    },
    /// A line the parser did not understand: reported, never dropped.
    Unparsed { line: String, error: String },
    /// The events2 child ended; the state may be stale until it is restarted.
    Exited { status: String, stderr: String },
    /// The child is restarted after this delay.
    Restarting { delay_ms: u64 },
}

/// The watch's state: the model and how many changes were reported.
pub struct Watcher {
    state: ResourceState,
    /// Changes reported after the initial dump.
    pub changes_reported: u64,
}

impl Watcher {
    pub fn new(resource: &str) -> Self {
        Self {
            state: ResourceState::new(resource),
            changes_reported: 0,
        }
    }

    /// The records one supervisor message yields. Pure: tested on captured lines.
    pub fn observe(&mut self, message: Events2Message) -> Vec<WatchRecord> {
        match message {
            Events2Message::Event(event) => {
                let in_initial_dump = !self.state.initial_dump_done;
                let changes = self.state.apply(&event);
                let mut records = Vec::new();
                for change in changes {
                    if change == Change::InitialStateDone {
                        records.push(WatchRecord::State {
                            state: self.state.clone(),
                        });
                    } else if !in_initial_dump {
                        self.changes_reported += 1;
                        records.push(WatchRecord::Change {
                            timestamp: event.timestamp.clone(),
                            change,
                        });
                    }
                }
                records
            }
            Events2Message::Unparsed { line, error } => {
                vec![WatchRecord::Unparsed { line, error }]
            }
            Events2Message::Exited { status, stderr } => {
                vec![WatchRecord::Exited { status, stderr }]
            }
            Events2Message::Restarting { delay_ms } => {
                vec![WatchRecord::Restarting { delay_ms }]
            }
        }
    }
}

/// A one-line summary of a state, for the watch's state lines and for logs.
pub fn summary(state: &ResourceState) -> String {
    if !state.configured {
        return "not configured in the kernel (down)".to_string();
    }
    let mut text = format!(
        "role {}, peer role {}; disk {}, peer disk {}; connection {}, replication {}",
        state.role,
        state.peer_role,
        state.disk,
        state.peer_disk,
        state.connection,
        state.replication
    );
    if let Some(done) = state.sync_done_percent {
        text.push_str(&format!("; sync {done:.1}% done"));
    }
    text
}

/// The text form of a record for resource `resource`.
pub struct Line<'a> {
    pub resource: &'a str,
    pub record: &'a WatchRecord,
}

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resource = self.resource;
        match self.record {
            WatchRecord::State { state } => write!(f, "{resource}: state: {}", summary(state)),
            WatchRecord::Change {
                timestamp: Some(timestamp),
                change,
            } => write!(f, "{timestamp} {resource}: {change}"),
            WatchRecord::Change {
                timestamp: None,
                change,
            } => write!(f, "{resource}: {change}"),
            WatchRecord::Unparsed { line, error } => {
                write!(
                    f,
                    "{resource}: events2 line not understood ({error}): {line}"
                )
            }
            WatchRecord::Exited { status, stderr } => {
                write!(
                    f,
                    "{resource}: drbdsetup events2 ended ({status}): {stderr}"
                )
            }
            WatchRecord::Restarting { delay_ms } => {
                write!(
                    f,
                    "{resource}: restarting drbdsetup events2 in {delay_ms} ms"
                )
            }
        }
    }
}

/// Follows `resource` until SIGTERM/SIGINT, or until `count` changes were printed.
pub async fn run(
    command: Events2Command,
    resource: &str,
    json: bool,
    count: Option<u64>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let (_supervisor, mut messages) = Events2Supervisor::spawn(command);
    let mut watcher = Watcher::new(resource);
    loop {
        let message = tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            message = messages.recv() => message,
        };
        let Some(message) = message else { break };
        for record in watcher.observe(message) {
            if json {
                writeln!(out, "{}", serde_json::to_string(&record)?)?;
            } else {
                writeln!(
                    out,
                    "{}",
                    Line {
                        resource,
                        record: &record
                    }
                )?;
            }
        }
        out.flush()?;
        if count.is_some_and(|count| watcher.changes_reported >= count) {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drbd::{parse_line, ConnectionState};

    fn feed(watcher: &mut Watcher, lines: &str) -> Vec<WatchRecord> {
        lines
            .lines()
            .flat_map(|line| watcher.observe(Events2Message::Event(parse_line(line).unwrap())))
            .collect()
    }

    #[test]
    fn the_initial_dump_is_one_state_line_then_changes_follow() {
        let mut watcher = Watcher::new("r0");
        let dump = "exists resource name:r0 role:Primary suspended:no\n\
            exists connection name:r0 peer-node-id:0 conn-name:peer connection:Connected role:Secondary\n\
            exists device name:r0 volume:0 minor:0 disk:UpToDate\n\
            exists peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 \
            replication:Established peer-disk:UpToDate\n\
            exists -";
        let records = feed(&mut watcher, dump);
        assert_eq!(records.len(), 1);
        let line = Line {
            resource: "r0",
            record: &records[0],
        }
        .to_string();
        assert_eq!(
            line,
            "r0: state: role Primary, peer role Secondary; disk UpToDate, peer disk UpToDate; \
             connection Connected, replication Established"
        );
        let cut = "2026-11-23T19:29:42.655525+00:00 change connection name:r0 peer-node-id:0 \
                   conn-name:peer connection:NetworkFailure role:Unknown";
        let records = feed(&mut watcher, cut);
        assert_eq!(watcher.changes_reported, 2);
        assert_eq!(
            records[0],
            WatchRecord::Change {
                timestamp: Some("2026-11-23T19:29:42.655525+00:00".into()),
                change: Change::Connection {
                    old: ConnectionState::Connected,
                    new: ConnectionState::NetworkFailure
                }
            }
        );
        let text = Line {
            resource: "r0",
            record: &records[0],
        }
        .to_string();
        assert_eq!(
            text,
            "2026-11-23T19:29:42.655525+00:00 r0: connection Connected → NetworkFailure"
        );
        let json = serde_json::to_string(&records[1]).unwrap();
        let back: WatchRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, records[1]);
    }
}
