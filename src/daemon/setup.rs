//! Starting the daemon: journal, adoption of what already runs, the core, the control
//! socket, the events2 child and the peer link.

use super::effects::Effects;
use super::error::DaemonError;
use super::{Daemon, Launch, CONTROL_CHANNEL_CAPACITY, INPUT_CHANNEL_CAPACITY};
use crate::config::{Config, Settings};
use crate::core::{ClusterPause, CoreConfig, DrbdView, JournalEvent, Node, StateKey};
use crate::drbd::ResourceState;
use crate::exec::events2::Events2Supervisor;
use crate::exec::journal::{Compactable, Journal, JournalHandle};
use crate::exec::mount::{self, MountSpec, MountState};
use crate::exec::mysqld::AdoptedMysqld;
use crate::exec::vip;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Messages queued for the peer link; heartbeats are replaced, not piled up, when a path lags.
const PEER_OUT_CAPACITY: usize = 64;

/// Milliseconds to ticks, rounding up so that a timeout is never shorter than configured.
fn ticks(ms: u64, tick_ms: u64) -> u64 {
    ms.div_ceil(tick_ms.max(1))
}

/// The core's limits in ticks, from the plain runtime settings.
pub fn core_config(settings: &Settings, me: &str) -> Result<CoreConfig, DaemonError> {
    let names = settings.node_names();
    let peer = settings.peer_of(me).filter(|_| settings.node(me).is_some());
    let Some(peer) = peer else {
        return Err(DaemonError::NotANode {
            me: me.to_string(),
            nodes: names.join(", "),
        });
    };
    let tick_ms = settings.heartbeat_interval_ms;
    Ok(CoreConfig {
        me: me.to_string(),
        peer: peer.name.clone(),
        drbd: settings.drbd,
        peer_timeout_ticks: ticks(settings.peer_timeout_ms, tick_ms),
        flap_guard_ticks: ticks(settings.flap_guard_ms, tick_ms),
        restart_limit: settings.mysqld_restart_limit,
        restart_window_ticks: ticks(settings.mysqld_restart_window_ms, tick_ms),
        power_fence: settings.power_fence,
        power_status: settings.power_status,
        automatic_failover: settings.automatic_failover,
        fence_delay_ticks: ticks(settings.fence_delay_ms, tick_ms),
        preferred: names.first().is_some_and(|first| first == me),
    })
}

/// The core's view of DRBD from the state model.
pub fn drbd_view(state: &ResourceState) -> DrbdView {
    DrbdView {
        role: state.role.clone(),
        disk: state.disk.clone(),
        peer_role: state.peer_role.clone(),
        peer_disk: state.peer_disk.clone(),
        connection: state.connection.clone(),
    }
}

pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Daemon {
    pub(crate) async fn start(config: Arc<Config>, launch: Launch) -> Result<Daemon, DaemonError> {
        let me = launch.me;
        let core_config = core_config(&config.settings, &me)?;
        let tick_ms = config.settings.heartbeat_interval_ms;
        let path = config.engine.state_dir.join("journal");
        let (journal, report) =
            Journal::<JournalEvent>::open(&path).map_err(|e| DaemonError::Journal {
                path: path.display().to_string(),
                error: e.to_string(),
            })?;
        if let Some(warning) = &report.warning {
            tracing::warn!(%warning, "journal");
        }
        let last_failover_ago = journal
            .state(&StateKey::LastFailover.to_string())
            .map(|entry| ticks(now_ms().saturating_sub(entry.unix_ms), tick_ms));
        let mut core = Node::new(core_config, last_failover_ago);
        let split_brain = journal.state(&StateKey::SplitBrain.to_string());
        if let Some(JournalEvent::SplitBrain { detail }) = split_brain.map(|entry| &entry.event) {
            tracing::warn!(%detail, "the journal holds an unresolved split-brain");
            core.restore_split_brain(detail.clone());
        }
        restore_stale(&journal, &mut core);
        restore_pause(&journal, &mut core);
        let journal = start_writer(journal, &path)?;
        bring_drbd_up(&config).await;
        install_usermode_helper(&config, &launch.config_path);
        adopt(&config, &mut core).await;

        let (inputs_tx, inputs) = mpsc::channel(INPUT_CHANNEL_CAPACITY);
        let (peer_out, _) = tokio::sync::broadcast::channel(PEER_OUT_CAPACITY);
        let link = super::peer_link::LinkConfig::from_config(&config, &me)?;
        let link = super::peer_link::start(link, &peer_out).await?;
        let observe = super::observe::Observer::start(&config, &core, link.paths).await?;
        let replicas = super::replicas::ReplicaMonitor::start(config.clone());
        let effects = Effects {
            config: config.clone(),
            me: me.to_string(),
            inputs: inputs_tx,
            mysqld: Arc::new(Mutex::new(None)),
            health: observe.mysqld.clone(),
        };
        if core.view().active
            || AdoptedMysqld::find(&config.settings.mysqld)
                .ok()
                .flatten()
                .is_some()
        {
            // A running server is adopted into a watcher, exactly as after a start.
            if let Err(e) = effects.start_mysqld().await {
                tracing::warn!(error = %e, "cannot adopt mysqld");
            }
        }
        tokio::spawn(effects.clone().health_monitor());
        let binary = config.settings.mysqld.binary.clone();
        tokio::spawn(async move {
            match crate::exec::mysqld::warm_up(&binary).await {
                Ok(version) => tracing::info!(%version, "mysqld binary warmed"),
                Err(error) => tracing::warn!(%error, "cannot warm the mysqld binary"),
            }
        });
        let listener = crate::control::server::bind(&config.engine.control_socket)
            .map_err(DaemonError::io("bind the control socket"))?;
        let (control_tx, control) = mpsc::channel(CONTROL_CHANNEL_CAPACITY);
        tokio::spawn(crate::control::server::serve(listener, control_tx));
        let events = super::events2_command(&config).map(Events2Supervisor::spawn);
        tracing::info!(node = %me, cluster = %config.settings.cluster, "tandemd started");
        Ok(Daemon {
            drbd: ResourceState::new(config.drbd_resource().unwrap_or_default()),
            config,
            core,
            journal,
            effects,
            inputs,
            peer_in: link.incoming,
            peer_out,
            events,
            control,
            pending_reply: None,
            helper_waiters: HashMap::new(),
            next_call: 1,
            last_reason: String::new(),
            config_path: launch.config_path,
            last_reload: None,
            notify: launch.notify,
            observe,
            replicas,
        })
    }
}

/// Here rather than in the core, which does not depend on `exec`.
impl Compactable for JournalEvent {
    fn state_key(&self) -> Option<String> {
        JournalEvent::state_key(self).map(|key| key.to_string())
    }
}

/// From here on the file belongs to the writer thread; the loop keeps the view in memory.
fn start_writer(
    journal: Journal<JournalEvent>,
    path: &std::path::Path,
) -> Result<JournalHandle<JournalEvent>, DaemonError> {
    journal.spawn_writer().map_err(|e| DaemonError::Journal {
        path: path.display().to_string(),
        error: e.to_string(),
    })
}

/// "This node's data may be stale" records survive a restart until a resync clears them.
fn restore_stale(journal: &Journal<JournalEvent>, core: &mut Node) {
    let names = [core.config().me.clone(), core.config().peer.clone()];
    for name in names {
        let last = journal.state(&StateKey::Stale { node: name }.to_string());
        if let Some(JournalEvent::MayBeStale { node, detail }) = last.map(|entry| &entry.event) {
            tracing::warn!(%node, %detail, "the journal says this node's data may be stale");
            core.restore_stale(node, detail.clone());
        }
    }
}

/// The cluster pause survives a restart: a node that starts while the cluster is paused acts
/// on nothing until a resume. Node-local `Paused` records of older versions are not restored:
/// those versions dropped the pause at a restart, so such a record may be long stale.
fn restore_pause(journal: &Journal<JournalEvent>, core: &mut Node) {
    if let Some(pause) = last_pause(journal) {
        if pause.paused {
            tracing::warn!(by = %pause.by, reason = %pause.reason, epoch = pause.epoch,
                "the journal says the cluster is paused: acting on nothing until `tandem resume`");
        }
        core.restore_pause(pause);
    }
}

/// The last cluster pause state the journal holds (paused or resumed), if any.
pub fn last_pause(journal: &Journal<JournalEvent>) -> Option<ClusterPause> {
    match journal
        .state(&StateKey::Pause.to_string())
        .map(|entry| &entry.event)
    {
        Some(JournalEvent::PauseChanged { pause, .. }) => Some(pause.clone()),
        _ => None,
    }
}

/// A node that booted has its DRBD resource down (nothing else brings it up): tandemd runs
/// `drbdadm adjust` so that the events2 stream, and the core, get a state. A resource that
/// is up is left alone. Failure is logged and tandemd goes on: the core then waits for
/// DRBD's state and says so.
async fn bring_drbd_up(config: &Config) {
    let Some(resource) = config.drbd_resource() else {
        return;
    };
    let drbdadm = crate::exec::drbdadm::Drbdadm::new(resource);
    match drbdadm.role().await {
        Err(crate::exec::drbdadm::DrbdError::NotConfigured { .. }) => {
            tracing::warn!(%resource, "the DRBD resource is down: bringing it up (drbdadm adjust)");
            match drbdadm.adjust().await {
                Ok(()) => tracing::info!(%resource, "the DRBD resource is up"),
                Err(error) => {
                    tracing::error!(%resource, %error, "cannot bring the DRBD resource up")
                }
            }
        }
        Err(error) => tracing::warn!(%resource, %error, "cannot read the DRBD role at start"),
        Ok(_) => {}
    }
}

/// Makes `tandem-drbd-helper` DRBD's usermode helper (`[drbd] usermode_helper`), so that
/// DRBD's fence-peer call before a promote reaches tandemd without drbdadm's process chain.
/// Any failure leaves DRBD's own helper, which reaches tandemd through the handler shim.
fn install_usermode_helper(config: &Config, config_path: &std::path::Path) {
    use crate::exec::usermode_helper::{give_back, install, Installed};
    let Some(drbd) = config.drbd.as_ref() else {
        return;
    };
    let ours = drbd.usermode_helper.get_ref();
    if ours.as_os_str().is_empty() {
        match give_back() {
            Ok(true) => tracing::info!(
                "DRBD's usermode helper is /sbin/drbdadm again ([drbd] usermode_helper = \"\")"
            ),
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "cannot give DRBD its usermode helper back"),
        }
        return;
    }
    if config_path != std::path::Path::new(crate::config::DEFAULT_PATH) {
        tracing::warn!(
            config = %config_path.display(),
            "DRBD's usermode helper is left as it is: tandem-drbd-helper reads {}, and this \
             tandemd runs with another config",
            crate::config::DEFAULT_PATH
        );
        return;
    }
    match install(ours) {
        Ok(Installed::Replaced { was }) => tracing::info!(
            helper = %ours.display(),
            %was,
            "DRBD's usermode helper is now tandem's: fence-peer for this resource is answered \
             without drbdadm, every other call goes on to drbdadm"
        ),
        Ok(Installed::Already) => {
            tracing::info!(helper = %ours.display(), "DRBD's usermode helper is tandem's")
        }
        Err(error) => tracing::warn!(%error, "DRBD's usermode helper is left as it is"),
    }
}

/// Tells the core what already runs here: a mounted filesystem, a live mysqld, the VIP.
async fn adopt(config: &Config, core: &mut Node) {
    let mounted = matches!(
        mount::state(&MountSpec::from_config(config)),
        Ok(MountState::Mounted)
    );
    let mysqld = AdoptedMysqld::find(&config.settings.mysqld)
        .ok()
        .flatten()
        .is_some();
    let vip = vip::present(&config.settings.vip).await.unwrap_or(false);
    if mounted || mysqld || vip {
        tracing::info!(mounted, mysqld, vip, "adopting what is already running");
    }
    core.adopt(mounted, mysqld, vip);
}
