//! Performs the core's steps with `exec/`, one at a time, each in its own task, and reports
//! the outcome back as an `Input`. Also owns the running mysqld: a watcher task per server
//! turns its exit into `Health::MysqldExited` and stops it on request.

use crate::config::Config;
use crate::core::{Health, Input, Step};
use crate::exec::backup::{self, BackupSpec};
use crate::exec::drbdadm::Drbdadm;
use crate::exec::fence;
use crate::exec::mount::{self, MountSpec, HOLDER_GRACE_MS};
use crate::exec::mysqld::{AdoptedMysqld, MysqldProcess};
use crate::exec::vip;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A stop request to the mysqld watcher and where its outcome goes.
type StopRequest = oneshot::Sender<Result<(), String>>;

/// The running server: the way to ask its watcher to stop it.
#[derive(Debug, Clone)]
pub struct MysqldSlot {
    stop: mpsc::Sender<StopRequest>,
}

/// What step tasks need, cheap to clone.
#[derive(Clone)]
pub struct Effects {
    pub config: Arc<Config>,
    /// This node's name (its backing disk, its name in backups).
    pub me: String,
    pub inputs: mpsc::Sender<Input>,
    pub mysqld: Arc<Mutex<Option<MysqldSlot>>>,
    /// The last health check, for the metrics endpoint.
    pub health: Arc<Mutex<crate::metrics::MysqldSample>>,
}

/// Either the child tandemd started, or one it adopted after a restart.
enum Server {
    Child(Box<MysqldProcess>),
    Adopted(AdoptedMysqld),
}

impl Effects {
    /// Runs `step` in a task; its outcome comes back as `Input::Done`.
    pub fn spawn_step(&self, step: Step) {
        let effects = self.clone();
        tokio::spawn(async move {
            let result = effects.run(step).await;
            if let Err(error) = &result {
                tracing::warn!(%step, %error, "step failed");
            }
            let _ = effects.inputs.send(Input::Done { step, result }).await;
        });
    }

    /// drbdadm for the configured resource, reading role changes back by its minor.
    fn drbdadm(&self) -> Drbdadm {
        let drbdadm = Drbdadm::new(self.config.drbd_resource().unwrap_or_default());
        match &self.config.drbd {
            Some(drbd) => drbdadm.with_minor(drbd.minor),
            None => drbdadm,
        }
    }

    async fn run(&self, step: Step) -> Result<(), String> {
        let config = &self.config;
        let text = |e: &dyn std::fmt::Display| e.to_string();
        match step {
            Step::Promote { force } => self.drbdadm().primary(force).await.map_err(|e| text(&e)),
            Step::Demote => self.drbdadm().secondary().await.map_err(|e| text(&e)),
            Step::ForceDemote => self.drbdadm().force_secondary().await.map_err(|e| text(&e)),
            Step::Disconnect => self.drbdadm().disconnect().await.map_err(|e| text(&e)),
            Step::OutdateLocal => self.drbdadm().outdate().await.map_err(|e| text(&e)),
            Step::Mount => mount::mount(&MountSpec::from_config(config))
                .await
                .map(drop)
                .map_err(|e| text(&e)),
            Step::Umount => {
                let grace = Duration::from_millis(HOLDER_GRACE_MS);
                let killed = mount::umount(&config.settings.filesystem.mountpoint, grace)
                    .await
                    .map_err(|e| text(&e))?;
                for holder in killed {
                    tracing::warn!(%holder, "killed a process holding the filesystem");
                }
                Ok(())
            }
            Step::StartMysqld => self.start_mysqld().await,
            Step::StopMysqld => self.stop_mysqld().await,
            Step::AddVip => self.add_vip().await,
            Step::RemoveVip => vip::remove(&config.settings.vip)
                .await
                .map(|report| tracing::info!(%report, "VIP"))
                .map_err(|e| text(&e)),
            Step::SelfFence => fence::run("self-fence", &config.engine.self_fence_command)
                .await
                .map_err(|e| text(&e)),
            Step::Backup => self.preserve().await,
            Step::Connect => self.drbdadm().connect(false).await.map_err(|e| text(&e)),
            Step::ConnectDiscardMyData => self.drbdadm().connect(true).await.map_err(|e| text(&e)),
        }
    }

    /// Copies this node's backing device before a split-brain resolution discards it.
    async fn preserve(&self) -> Result<(), String> {
        let config = &self.config;
        let device = config
            .settings
            .node(&self.me)
            .and_then(|node| node.backing_disk.clone())
            .ok_or_else(|| format!("node {} has no backing_disk to preserve", self.me))?;
        let minor = config.drbd.as_ref().map_or(0, |d| d.minor);
        let generations = crate::exec::dmesg::read()
            .await
            .ok()
            .and_then(|log| crate::drbd::handshake::last_handshake(&log, minor))
            .map(|handshake| handshake.local);
        let spec = BackupSpec {
            resource: config.drbd_resource().unwrap_or_default().to_string(),
            node: self.me.clone(),
            device,
            dir: config.settings.split_brain_backup_dir.clone(),
            generations,
            before_read_back: None,
        };
        let preserved = backup::preserve(spec).await.map_err(|e| e.to_string())?;
        for why in &preserved.passed_over {
            tracing::warn!(%why, "split-brain: an earlier copy is kept but not reused");
        }
        let manifest = &preserved.manifest;
        tracing::warn!(
            image = %manifest.image.display(),
            bytes = manifest.bytes,
            sha256 = %manifest.sha256,
            reused = preserved.reused,
            "split-brain: this node's data is preserved (read back and verified) before DRBD \
             discards it"
        );
        Ok(())
    }

    /// Adopts a running server if there is one, else starts one; either way a watcher task
    /// takes charge of it.
    pub async fn start_mysqld(&self) -> Result<(), String> {
        // The node's own server options ([replication] adds the source's) without spans.
        let cfg = &crate::config::MysqldSettings::from(&self.config.mysqld_for(&self.me));
        if let Some(replication) = &self.config.replication {
            crate::exec::replica::prepare_binlog_dir(replication.binlog_dir.get_ref(), &cfg.user)?;
        }
        let server = match AdoptedMysqld::find(cfg).map_err(|e| e.to_string())? {
            Some(adopted) => {
                tracing::info!(pid = adopted.pid, "adopted a running mysqld");
                Server::Adopted(adopted)
            }
            None => Server::Child(Box::new(
                MysqldProcess::start(cfg).await.map_err(|e| e.to_string())?,
            )),
        };
        self.watch(server);
        self.announce_vip_if_held();
        Ok(())
    }

    /// Adds the VIP with its first gratuitous ARP; the others follow in their own task, so
    /// that the step (and the failover) does not wait out their intervals.
    async fn add_vip(&self) -> Result<(), String> {
        let settings = &self.config.settings.vip;
        let report = vip::add_first_announced(settings)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(%report, "VIP");
        let vip = settings.clone();
        tokio::spawn(async move {
            if let Err(error) = vip::announce_rest(&vip).await {
                tracing::warn!(%error, "the VIP's further gratuitous ARPs failed");
            }
        });
        Ok(())
    }

    /// The VIP came up before mysqld (see core::Layer): clients learnt the MAC then. Once the
    /// server is ready it is announced again, so that a neighbour cache that missed the first
    /// burst, or a client that gave up on it, lands here now. Only if the address is on this
    /// host's interface: a gratuitous ARP for an address not held would steal it. In its own
    /// task, off the step's path; a failure is logged (the first burst already went out).
    fn announce_vip_if_held(&self) {
        let vip = self.config.settings.vip.clone();
        tokio::spawn(async move {
            match vip::present(&vip).await {
                Ok(true) => match vip::send_gratuitous_arps(&vip).await {
                    Ok(sent) => tracing::info!(sent, "VIP announced again: mysqld is ready"),
                    Err(error) => tracing::warn!(%error, "announcing the VIP again failed"),
                },
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "could not tell whether the VIP is held"),
            }
        });
    }

    fn watch(&self, server: Server) {
        let pid = match &server {
            Server::Child(child) => child.pid(),
            Server::Adopted(adopted) => adopted.pid,
        };
        tracing::info!(pid, "watching mysqld");
        let (stop_tx, stop_rx) = mpsc::channel(1);
        if let Ok(mut slot) = self.mysqld.lock() {
            *slot = Some(MysqldSlot { stop: stop_tx });
        }
        let stop_timeout = Duration::from_millis(self.config.settings.mysqld.stop_timeout_ms);
        let effects = self.clone();
        tokio::spawn(async move { effects.watcher(server, stop_rx, stop_timeout).await });
    }

    async fn watcher(
        self,
        server: Server,
        mut stop_rx: mpsc::Receiver<StopRequest>,
        stop_timeout: Duration,
    ) {
        let exited = match server {
            Server::Child(mut child) => tokio::select! {
                exit = child.wait_exit() => Some(match exit {
                    Ok(exit) => exit.to_string(),
                    Err(e) => e.to_string(),
                }),
                Some(reply) = stop_rx.recv() => {
                    let result = child.stop().await.map(drop).map_err(|e| e.to_string());
                    let _ = reply.send(result);
                    None
                }
            },
            Server::Adopted(adopted) => tokio::select! {
                _ = adopted.wait_exit() => Some("(adopted) exited".to_string()),
                Some(reply) = stop_rx.recv() => {
                    let result = adopted.stop(stop_timeout).await.map(drop).map_err(|e| e.to_string());
                    let _ = reply.send(result);
                    None
                }
            },
        };
        if let Ok(mut slot) = self.mysqld.lock() {
            *slot = None;
        }
        if let Some(how) = exited {
            tracing::warn!(%how, "mysqld exited");
            let _ = self
                .inputs
                .send(Input::Health(Health::MysqldExited(how)))
                .await;
        }
    }

    async fn stop_mysqld(&self) -> Result<(), String> {
        // Taken out of the slot: a server being stopped is no longer health-checked.
        let slot = self.mysqld.lock().ok().and_then(|mut s| s.take());
        let Some(slot) = slot else {
            return Ok(()); // not running: nothing to stop
        };
        let (reply_tx, reply_rx) = oneshot::channel();
        if slot.stop.send(reply_tx).await.is_err() {
            return Ok(()); // the watcher saw it exit meanwhile
        }
        reply_rx
            .await
            .unwrap_or_else(|_| Err("the mysqld watcher went away".into()))
    }

    /// Runs the power-fence command; its outcome comes back as `Input::PowerFenced`.
    pub fn spawn_power_fence(&self) {
        let effects = self.clone();
        tokio::spawn(async move {
            let command = &effects.config.engine.power_fence_command;
            let result = fence::run("power-fence", command)
                .await
                .map_err(|e| e.to_string());
            let _ = effects.inputs.send(Input::PowerFenced(result)).await;
        });
    }

    /// Runs the core's DRBD probe (core/probe.rs) and logs what DRBD made of it. Nothing
    /// comes back as an input: a role or connection it changed arrives through events2.
    pub fn spawn_drbd_probe(&self) {
        let effects = self.clone();
        tokio::spawn(async move {
            match effects.drbdadm().probe_primary().await {
                Err(refusal) => tracing::info!(
                    %refusal,
                    "DRBD refused the probe's promote (expected while the peer is Primary and \
                     Connected, or not proven off)"
                ),
                Ok(role) => tracing::warn!(
                    %role,
                    "DRBD accepted the probe's promote: the peer was proven off (fence-peer \
                     answered) or had become Secondary"
                ),
            }
        });
    }

    /// Runs the power-status command; its reading comes back as `Input::PeerPower`.
    pub fn spawn_power_status(&self) {
        let effects = self.clone();
        tokio::spawn(async move {
            let command = effects
                .config
                .engine
                .power_status_command
                .as_ref()
                .map(|c| c.get_ref().clone());
            let power = fence::power_status(&command).await;
            tracing::info!(?power, "the peer's power status");
            let _ = effects.inputs.send(Input::PeerPower(power)).await;
        });
    }
}

/// How often the running mysqld is asked `SELECT 1`.
const HEALTH_INTERVAL_MS: u64 = 1_000;
/// Consecutive failed checks before mysqld counts as hung: one slow answer under load is
/// not a reason to restart a database.
const HEALTH_FAILURES_BEFORE_HUNG: u32 = 3;

impl Effects {
    fn record_health(&self, up: bool, select_seconds: Option<f64>) {
        if let Ok(mut sample) = self.health.lock() {
            *sample = crate::metrics::MysqldSample { up, select_seconds };
        }
    }

    /// Checks the watched mysqld with `SELECT 1` forever; reports a hung server once per
    /// streak of failures.
    pub async fn health_monitor(self) {
        let mut failures = 0u32;
        let mut interval = tokio::time::interval(Duration::from_millis(HEALTH_INTERVAL_MS));
        loop {
            interval.tick().await;
            let watched = self.mysqld.lock().map(|s| s.is_some()).unwrap_or(false);
            if !watched {
                failures = 0;
                self.record_health(false, None);
                continue;
            }
            let started = std::time::Instant::now();
            let checked = crate::exec::mysqld::health(&self.config.settings.mysqld).await;
            self.record_health(checked.is_ok(), Some(started.elapsed().as_secs_f64()));
            match checked {
                Ok(()) => failures = 0,
                Err(error) => {
                    failures += 1;
                    tracing::warn!(%error, failures, "mysqld health check failed");
                    if failures == HEALTH_FAILURES_BEFORE_HUNG {
                        let why = format!("{failures} health checks in a row failed: {error}");
                        let health = Health::MysqldUnhealthy(why);
                        let _ = self.inputs.send(Input::Health(health)).await;
                    }
                }
            }
        }
    }
}
