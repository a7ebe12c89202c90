//! The daemon loop: one inbox, one core, effects outside.
//!
//! 1. Inputs arrive: DRBD events (events2 child), peer messages (peer link), operator and
//!    helper requests (control socket), step outcomes and mysqld exits (effect tasks), ticks.
//! 2. Each becomes `core.step(input)` (or `core.tick()`).
//! 3. `core.ready()` says what to do and why; the reason is logged when it changes.
//! 4. The actions are performed: steps and fences in tasks, messages to the peer, journal
//!    records (in memory at once; written and fsynced by the journal's own thread, never on
//!    this one), replies to the control socket.
//! 5. `core.advance()` records what was asked.

mod effects;
mod error;
pub mod log;
mod observe;
pub mod peer_link;
mod reload;
pub mod replicas;
mod setup;

use crate::config::Config;
use crate::control::server::Envelope;
use crate::control::{ClusterStatus, ControlRequest, ControlResponse, HistoryLine, ReloadReport};
use crate::core::{Action, Helper, Input, JournalEvent, Node, PeerMessage};
use crate::drbd::ResourceState;
use crate::exec::events2::{Events2Command, Events2Message, Events2Supervisor};
use crate::exec::journal::JournalHandle;
use crate::exec::notify::Notifier;
use effects::Effects;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};

pub use error::DaemonError;
pub use setup::last_pause;

/// Inputs from effect tasks; a handful per step, so a small bound suffices.
const INPUT_CHANNEL_CAPACITY: usize = 64;
/// Operator requests waiting for the loop.
const CONTROL_CHANNEL_CAPACITY: usize = 16;
/// How long a stopping daemon waits for the journal thread to write what is queued: long
/// enough for a healthy disk to write a full queue, short enough that a stuck disk does not
/// keep tandemd from exiting.
const JOURNAL_CLOSE_TIMEOUT_MS: u64 = 5_000;

/// How tandemd was started.
pub struct Launch {
    /// The config file, re-read on `SIGHUP`.
    pub config_path: PathBuf,
    /// This node's name.
    pub me: String,
    /// systemd's notify socket, when started as a `Type=notify` service.
    pub notify: Option<Notifier>,
}

/// Runs the daemon until SIGTERM or SIGINT; SIGHUP reloads the config.
pub async fn run(config: Config, launch: Launch) -> Result<(), DaemonError> {
    let config = Arc::new(config);
    let mut daemon = Daemon::start(config.clone(), launch).await?;
    let mut terminate = signal(SignalKind::terminate()).map_err(DaemonError::io("signals"))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(DaemonError::io("signals"))?;
    let mut hangup = signal(SignalKind::hangup()).map_err(DaemonError::io("signals"))?;
    // The tick length is restart-only (config/reload.rs), so this interval never changes.
    let tick_ms = config.settings.heartbeat_interval_ms;
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(tick_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watchdog = daemon
        .notify
        .as_ref()
        .and_then(Notifier::watchdog_interval)
        .map(tokio::time::interval);
    daemon.notify("READY=1");
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => daemon.reload(),
            _ = ticker.tick() => daemon.on_tick(),
            _ = next_tick(&mut watchdog) => daemon.notify("WATCHDOG=1"),
            Some(input) = daemon.inputs.recv() => daemon.on_input(input),
            Some(message) = daemon.peer_in.recv() => daemon.core.step(Input::Peer(message)),
            Some(event) = recv_events(&mut daemon.events) => daemon.on_drbd(event),
            Some(envelope) = daemon.control.recv() => daemon.on_control(envelope),
        }
        daemon.drive();
    }
    daemon.notify("STOPPING=1");
    tracing::info!("stopping; services keep running and are adopted at the next start");
    close_journal(daemon.journal).await;
    Ok(())
}

/// Lets the journal thread write what is queued, for at most [`JOURNAL_CLOSE_TIMEOUT_MS`].
async fn close_journal(journal: JournalHandle<JournalEvent>) {
    let timeout = std::time::Duration::from_millis(JOURNAL_CLOSE_TIMEOUT_MS);
    let closed = tokio::task::spawn_blocking(move || journal.close(timeout)).await;
    if !matches!(closed, Ok(true)) {
        tracing::error!(
            timeout_ms = JOURNAL_CLOSE_TIMEOUT_MS,
            "the journal thread did not finish writing; queued records may be lost"
        );
    }
}

async fn next_tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => drop(interval.tick().await),
        None => std::future::pending().await,
    }
}

async fn recv_events(
    events: &mut Option<(Events2Supervisor, mpsc::Receiver<Events2Message>)>,
) -> Option<Events2Message> {
    match events {
        Some((_, rx)) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The loop's state.
pub(crate) struct Daemon {
    pub config: Arc<Config>,
    pub core: Node,
    pub journal: JournalHandle<JournalEvent>,
    pub effects: Effects,
    pub inputs: mpsc::Receiver<Input>,
    pub peer_in: mpsc::Receiver<PeerMessage>,
    pub peer_out: tokio::sync::broadcast::Sender<PeerMessage>,
    pub events: Option<(Events2Supervisor, mpsc::Receiver<Events2Message>)>,
    pub drbd: ResourceState,
    pub control: mpsc::Receiver<Envelope>,
    /// The operator request whose reply the core is about to give.
    pub pending_reply: Option<oneshot::Sender<ControlResponse>>,
    /// DRBD helper calls waiting for the core's exit code, by call id.
    pub helper_waiters: HashMap<u64, oneshot::Sender<ControlResponse>>,
    pub next_call: u64,
    pub last_reason: String,
    /// Re-read on `SIGHUP`.
    pub config_path: PathBuf,
    pub last_reload: Option<ReloadReport>,
    pub notify: Option<Notifier>,
    /// Metrics snapshot and notification hooks.
    pub observe: observe::Observer,
    /// The replica monitor's task and its last snapshot.
    pub replicas: replicas::ReplicaMonitor,
}

impl Daemon {
    fn notify(&self, state: &str) {
        if let Some(notify) = &self.notify {
            notify.send(state);
        }
    }

    fn on_tick(&mut self) {
        self.core.tick();
        let _ = self.peer_out.send(PeerMessage::Heartbeat(self.core.view()));
        self.publish();
    }

    /// This node's role for hooks: DRBD's, or with shared-disk storage whether it holds the
    /// mount (as in its heartbeat).
    fn role(&self) -> String {
        self.core.view().role.to_string()
    }

    fn publish(&self) {
        self.replicas.set_active(self.core.view().active);
        let drbd = self.config.drbd.is_some().then_some(&self.drbd);
        self.observe
            .publish(&self.core, drbd, &self.replicas.snapshot);
    }

    fn on_input(&mut self, input: Input) {
        let role = self.role();
        match &input {
            Input::Health(health) => self.observe.health(health, &role),
            Input::Done { step, result } => self.observe.step(step, result, &role),
            _ => {}
        }
        self.core.step(input);
    }

    fn on_drbd(&mut self, message: Events2Message) {
        match message {
            Events2Message::Event(event) => {
                let changes = self.drbd.apply(&event);
                for change in &changes {
                    tracing::info!(resource = %self.drbd.name, "DRBD {change}");
                }
                if self.drbd.initial_dump_done {
                    let role = self.role();
                    self.observe.drbd(&changes, &role);
                    self.core.step(Input::Drbd(setup::drbd_view(&self.drbd)));
                }
            }
            Events2Message::Unparsed { line, error } => {
                tracing::warn!(%line, %error, "events2 line not understood");
            }
            Events2Message::Exited { status, stderr } => {
                tracing::warn!(%status, %stderr, "drbdsetup events2 ended; DRBD state may be stale");
            }
            Events2Message::Restarting { delay_ms } => {
                tracing::info!(delay_ms, "restarting drbdsetup events2");
            }
        }
    }

    fn on_control(&mut self, (request, answer): Envelope) {
        match request {
            ControlRequest::Status => {
                let status = ClusterStatus {
                    cluster: self.config.settings.cluster.clone(),
                    local: self.core.status(),
                    peer: self.core.peer_view(),
                    sync_percent: self.sync_percent(),
                    last_reload: self.last_reload.clone(),
                    replicas_configured: self.config.replica.len(),
                    replicas: self.replicas.statuses(),
                    heartbeat_gaps: self.observe.heartbeat_gaps(),
                };
                let _ = answer.send(ControlResponse::Status(Box::new(status)));
            }
            ControlRequest::History { limit } => {
                let lines = self
                    .journal
                    .view()
                    .last_n(limit)
                    .map(|entry| HistoryLine {
                        unix_ms: entry.unix_ms,
                        event: entry.event.clone(),
                        unwritten: self.journal.is_unwritten(entry.seq),
                    })
                    .collect();
                let _ = answer.send(ControlResponse::History(lines));
            }
            ControlRequest::Core(request) => {
                self.pending_reply = Some(answer);
                self.core.step(Input::Control(request));
            }
            ControlRequest::Helper { name } => self.on_helper(&name, answer),
        }
    }

    /// Resync progress for `tandem status`: DRBD 8.4's events2 carries none while a resync
    /// runs (the model derives a figure only from what events2 reported), /proc/drbd does.
    fn sync_percent(&self) -> Option<f64> {
        if !self.drbd.replication.is_syncing() {
            return None;
        }
        let minor = self.config.drbd.as_ref().map_or(0, |d| d.minor);
        crate::exec::host::read_proc_drbd()
            .ok()
            .and_then(|text| crate::drbd::procfs::parse(&text).ok())
            .and_then(|proc_drbd| Some(proc_drbd.minor(minor)?.resync.as_ref()?.done_percent))
            .or(self.drbd.sync_done_percent)
    }

    fn on_helper(&mut self, name: &str, answer: oneshot::Sender<ControlResponse>) {
        let call = self.next_call;
        self.next_call += 1;
        let helper = match name {
            "fence-peer" => Helper::FencePeer { call },
            "unfence-peer" | "after-resync-target" => Helper::UnfencePeer { call },
            "split-brain" => Helper::SplitBrain { call },
            other => {
                // initial-split-brain, pri-lost-after-sb: noted, nothing to decide.
                tracing::warn!(helper = other, "DRBD helper called");
                let _ = answer.send(ControlResponse::Helper { code: 0 });
                return;
            }
        };
        tracing::info!(helper = name, call, "DRBD helper called");
        self.helper_waiters.insert(call, answer);
        self.core.step(Input::Helper(helper));
    }

    /// Steps 3–5 of the loop.
    fn drive(&mut self) {
        let ready = self.core.ready();
        if ready.reason != self.last_reason {
            tracing::info!(reason = %ready.reason, "decision");
            if let Some(notify) = &self.notify {
                notify.status(&ready.reason);
            }
            self.last_reason = ready.reason.clone();
            let role = self.role();
            self.observe.decision(&ready.reason, &role);
        }
        self.core.advance(&ready);
        let decided = !ready.actions.is_empty();
        for action in ready.actions {
            self.perform(action);
        }
        if decided {
            self.publish();
        }
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Run(step) => {
                tracing::info!(%step, "running");
                self.effects.spawn_step(step);
            }
            Action::PowerFencePeer => {
                tracing::warn!("power-fencing the peer");
                self.effects.spawn_power_fence();
            }
            Action::QueryPeerPower => {
                tracing::info!("asking the peer's power status");
                self.effects.spawn_power_status();
            }
            Action::ProbeDrbdPeer => {
                tracing::info!("probing DRBD's peer: a promote DRBD refuses while it is Primary");
                self.effects.spawn_drbd_probe();
            }
            Action::Send(message) => {
                // This node's view as of now goes first: the peer decides on the message at
                // once, and its last heartbeat may be up to a tick old (a Handover read
                // against a view that still shows this node busy would wait for the next
                // tick). Same order on every path, so the view always arrives first.
                let _ = self.peer_out.send(PeerMessage::Heartbeat(self.core.view()));
                let _ = self.peer_out.send(message);
            }
            Action::AnswerHelper { call, code } => {
                if let Some(waiter) = self.helper_waiters.remove(&call) {
                    let _ = waiter.send(ControlResponse::Helper { code });
                }
            }
            Action::Journal(event) => {
                tracing::info!(?event, "journal");
                let role = self.role();
                self.observe.journal(&event, &role);
                if let Err(e) = self.journal.record(event) {
                    tracing::error!(error = %e, "cannot write the journal");
                }
            }
            Action::Reply(reply) => {
                if let Some(answer) = self.pending_reply.take() {
                    let _ = answer.send(ControlResponse::Reply(reply));
                }
            }
        }
    }
}

/// The events2 command for this config, if tandem drives DRBD.
fn events2_command(config: &Config) -> Option<Events2Command> {
    config.drbd_resource().map(Events2Command::drbdsetup)
}
