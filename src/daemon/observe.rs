//! What the daemon tells the outside without being asked: the metrics snapshot (published
//! for `exec/metrics_http.rs`) and the notification hook's events (queued for
//! `exec/hook.rs`). Nothing here waits: publishing replaces a value, queueing never blocks.

use super::peer_link::PathStats;
use super::setup::now_ms;
use crate::config::Config;
use crate::core::{Health, JournalEvent, Node};
use crate::drbd::{Change, ResourceState};
use crate::exec::hook::{self, HookEvent, HookSender, HookSpec};
use crate::exec::metrics_http;
use crate::metrics::{Counters, DecisionSample, MysqldSample, Snapshot};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The daemon's outward view; disabled parts cost nothing.
pub struct Observer {
    /// `Some` when `[metrics]` is configured.
    snapshot: Option<watch::Sender<Arc<Snapshot>>>,
    /// `Some` when `[hooks]` is configured.
    hooks: Option<HookSender>,
    counters: Counters,
    decision_since_ms: u64,
    paths: PathStats,
    /// The health monitor's last `SELECT 1` (daemon/effects.rs).
    pub mysqld: Arc<Mutex<MysqldSample>>,
}

impl Observer {
    /// Starts the metrics listener and the hook runner that the config asks for. A metrics
    /// address that cannot be bound stops tandemd: the operator asked for it.
    pub async fn start(
        config: &Config,
        core: &Node,
        paths: PathStats,
    ) -> Result<Observer, super::DaemonError> {
        let (me, peer) = (&core.config().me, &core.config().peer);
        let hooks = config.settings.hooks.as_ref().map(|hooks| {
            hook::spawn(HookSpec {
                command: hooks.command.clone(),
                timeout_ms: hooks.timeout_ms,
                node: me.clone(),
                peer: peer.clone(),
                cluster: config.settings.cluster.clone(),
            })
        });
        let mut snapshot = None;
        if let Some(address) = config.settings.metrics_listen {
            let listener =
                metrics_http::bind(address)
                    .await
                    .map_err(|e| super::DaemonError::Io {
                        what: "listen on the [metrics] address",
                        error: format!("{address}: {e}"),
                    })?;
            let (sender, receiver) = watch::channel(Arc::new(Snapshot::default()));
            let source = metrics_http::Source {
                snapshot: receiver,
                journal: config.engine.state_dir.join("journal"),
            };
            tokio::spawn(metrics_http::serve(listener, source));
            tracing::info!(%address, "metrics: serving GET /metrics");
            snapshot = Some(sender);
        }
        Ok(Observer {
            snapshot,
            hooks,
            counters: Counters::default(),
            decision_since_ms: now_ms(),
            paths,
            mysqld: Arc::new(Mutex::new(MysqldSample::default())),
        })
    }

    fn hook(&self, event: &str, reason: String, role: &str, extra: Vec<(&str, String)>) {
        if let Some(hooks) = &self.hooks {
            hooks.send(HookEvent {
                event: event.to_string(),
                reason,
                role: role.to_string(),
                unix_ms: now_ms(),
                extra: extra.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            });
        }
    }

    /// A new decision sentence.
    pub fn decision(&mut self, reason: &str, role: &str) {
        self.counters.decisions += 1;
        self.decision_since_ms = now_ms();
        self.hook("decision", reason.to_string(), role, Vec::new());
    }

    /// A journal record: counted, and given to the hook as its own event.
    pub fn journal(&mut self, event: &JournalEvent, role: &str) {
        let c = &mut self.counters;
        let (name, reason, extra): (&str, String, Vec<(&str, String)>) = match event {
            JournalEvent::Promoted { reason } => {
                (bump(&mut c.promotions, "promoted"), reason.clone(), vec![])
            }
            JournalEvent::Demoted { reason } => {
                (bump(&mut c.demotions, "demoted"), reason.clone(), vec![])
            }
            JournalEvent::FailoverStarted { reason } => {
                (bump(&mut c.failovers, "failover"), reason.clone(), vec![])
            }
            JournalEvent::SwitchoverStarted { to } => (
                bump(&mut c.switchovers, "switchover"),
                format!("switchover to {to}"),
                vec![("TANDEM_TARGET", to.clone())],
            ),
            JournalEvent::Fenced { how, result } => (
                bump(&mut c.fences, "fence"),
                format!("{how}: {result}"),
                vec![
                    ("TANDEM_FENCE", how.clone()),
                    ("TANDEM_RESULT", result.clone()),
                ],
            ),
            JournalEvent::Refused { request, reason } => (
                bump(&mut c.refusals, "refused"),
                reason.clone(),
                vec![("TANDEM_REQUEST", request.clone())],
            ),
            JournalEvent::StepFailed { step, error } => (
                bump(&mut c.step_failures, "step-failed"),
                error.clone(),
                vec![("TANDEM_STEP", step.to_string())],
            ),
            JournalEvent::SplitBrain { detail } => (
                bump(&mut c.split_brains, "split-brain"),
                detail.clone(),
                vec![],
            ),
            JournalEvent::SplitBrainResolved => ("split-brain-resolved", String::new(), vec![]),
            JournalEvent::Resolve { keep, what } => (
                "split-brain-resolve",
                what.clone(),
                vec![("TANDEM_KEEP", keep.clone())],
            ),
            JournalEvent::MayBeStale { node, detail } => (
                "may-be-stale",
                detail.clone(),
                vec![("TANDEM_STALE_NODE", node.clone())],
            ),
            JournalEvent::StaleCleared { node } => (
                "stale-cleared",
                String::new(),
                vec![("TANDEM_STALE_NODE", node.clone())],
            ),
            JournalEvent::Paused => ("paused", String::new(), vec![]),
            JournalEvent::Resumed => ("resumed", String::new(), vec![]),
            JournalEvent::PauseChanged { pause, .. } => (
                if pause.paused { "paused" } else { "resumed" },
                pause.reason.clone(),
                vec![("TANDEM_PAUSED_BY", pause.by.clone())],
            ),
        };
        self.hook(name, reason, role, extra);
    }

    /// DRBD state changes worth a hook: role, disks, connection, and the end of a resync.
    pub fn drbd(&mut self, changes: &[Change], role: &str) {
        for change in changes {
            if let Some(name) = drbd_event(change) {
                self.hook(name, change.to_string(), role, vec![]);
            }
        }
    }

    /// A start or stop step finished (e.g. `start mysqld` after a crash: the restart).
    pub fn step(&mut self, step: &crate::core::Step, result: &Result<(), String>, role: &str) {
        let (outcome, reason) = match result {
            Ok(()) => ("ok", format!("{step} done")),
            Err(error) => ("failed", format!("{step} failed: {error}")),
        };
        let extra = vec![
            ("TANDEM_STEP", step.to_string()),
            ("TANDEM_RESULT", outcome.to_string()),
        ];
        self.hook("step", reason, role, extra);
    }

    /// mysqld exited or hung: the core restarts it (or hands over), the hook hears it first.
    pub fn health(&mut self, health: &Health, role: &str) {
        self.counters.mysqld_exits += 1;
        let (name, why) = match health {
            Health::MysqldExited(how) => ("mysqld-exited", how.clone()),
            Health::MysqldUnhealthy(why) => ("mysqld-unhealthy", why.clone()),
        };
        self.hook(name, why, role, vec![]);
    }

    /// Replaces the metrics snapshot, when metrics are on.
    /// The peer link's heartbeat gaps, for `tandem status`.
    pub fn heartbeat_gaps(&self) -> crate::metrics::HeartbeatGaps {
        self.paths.gaps()
    }

    pub fn publish(
        &self,
        core: &Node,
        drbd: Option<&ResourceState>,
        replicas: &super::replicas::ReplicaSnapshot,
    ) {
        let Some(sender) = &self.snapshot else { return };
        let status = core.status();
        let snapshot = Snapshot {
            node: status.node.clone(),
            peer: status.peer.clone(),
            drbd: drbd.cloned(),
            paths: self.paths.snapshot(),
            gaps: self.paths.gaps(),
            peer_heard: status.peer_heard,
            decision: DecisionSample {
                reason: status.reason.clone(),
                mode: status.mode.map(|m| format!("{m:?}")).unwrap_or_default(),
                since_unix_ms: self.decision_since_ms,
            },
            services: status.services.clone(),
            paused: status.paused,
            split_brain: status.split_brain.is_some(),
            mysqld: self.mysqld.lock().map(|m| m.clone()).unwrap_or_default(),
            journal_bytes: None,
            replicas: replicas.lock().map(|r| r.clone()).unwrap_or_default(),
            counters: self.counters.clone(),
            hooks: self
                .hooks
                .as_ref()
                .map(HookSender::counters)
                .unwrap_or_default(),
        };
        sender.send_replace(Arc::new(snapshot));
    }
}

/// Counts one more and names the hook event.
fn bump<'a>(counter: &mut u64, name: &'a str) -> &'a str {
    *counter += 1;
    name
}

/// The hook event a DRBD change is, if any (counters and progress are not events).
fn drbd_event(change: &Change) -> Option<&'static str> {
    match change {
        Change::Replication { old, new } if old.is_syncing() && !new.is_syncing() => {
            Some("resync-done")
        }
        Change::Role { .. } | Change::PeerRole { .. } => Some("drbd-role"),
        Change::Disk { .. } | Change::PeerDisk { .. } => Some("drbd-disk"),
        Change::Connection { .. } => Some("drbd-connection"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drbd::parse_line;

    #[test]
    fn the_end_of_a_resync_is_an_event_and_progress_is_not() {
        let mut state = ResourceState::new("r0");
        let mut events = Vec::new();
        // events2 lines in the form drbd-utils 9 prints for DRBD 8.4: a resync that finishes.
        for line in [
            "exists peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 \
             replication:SyncTarget peer-disk:UpToDate out-of-sync:1024",
            "change peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 out-of-sync:512",
            "change peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 \
             replication:Established out-of-sync:0",
            "change device name:r0 volume:0 minor:0 disk:UpToDate",
        ] {
            let changes = state.apply(&parse_line(line).expect("parses"));
            events.extend(changes.iter().filter_map(drbd_event));
        }
        assert_eq!(events, ["drbd-disk", "resync-done", "drbd-disk"]);
    }
}
