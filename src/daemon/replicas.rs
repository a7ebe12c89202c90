//! The replica monitor: a task of its own, so that a slow or dead replica never delays the
//! engine loop. While this node is active (told by the loop through a watch channel), every
//! [`REPLICA_CHECK_INTERVAL_MS`] it reads the source's GTID position and each replica (all
//! at once, each bounded by exec/replica.rs's timeouts), points a replica at the VIP when it
//! is not so configured, and publishes the assessments as a snapshot for `tandem status` and
//! the metrics. On a standby node it checks nothing and the snapshot is empty.

use crate::config::credentials::{self, Credentials};
use crate::config::{Config, Replica};
use crate::exec::replica::{self as sql, ReplicaEndpoint, ReplicaSqlError};
use crate::replica::{self, ReplicaState, ReplicaStatus, SourceTarget};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How often replicas are checked. Lag and errors show within this; more often would only
/// add connections to every replica.
pub const REPLICA_CHECK_INTERVAL_MS: u64 = 2_000;

/// The snapshot of the last check, shared with the status and metrics readers.
pub type ReplicaSnapshot = Arc<Mutex<Vec<ReplicaStatus>>>;

/// The loop's end of the monitor.
pub struct ReplicaMonitor {
    active: watch::Sender<bool>,
    pub snapshot: ReplicaSnapshot,
}

impl ReplicaMonitor {
    /// Starts the task when replicas are configured; otherwise the snapshot stays empty.
    pub fn start(config: Arc<Config>) -> ReplicaMonitor {
        let (active, watching) = watch::channel(false);
        let snapshot: ReplicaSnapshot = Arc::new(Mutex::new(Vec::new()));
        if !config.replica.is_empty() && config.replication.is_some() {
            tokio::spawn(run(config, watching, snapshot.clone()));
        }
        ReplicaMonitor { active, snapshot }
    }

    /// Tells the task whether this node is active (serves through the VIP).
    pub fn set_active(&self, active: bool) {
        self.active
            .send_if_modified(|now| std::mem::replace(now, active) != active);
    }

    pub fn statuses(&self) -> Vec<ReplicaStatus> {
        self.snapshot.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

async fn run(config: Arc<Config>, active: watch::Receiver<bool>, snapshot: ReplicaSnapshot) {
    let mut ticker = tokio::time::interval(Duration::from_millis(REPLICA_CHECK_INTERVAL_MS));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_actions: HashMap<String, String> = HashMap::new();
    loop {
        ticker.tick().await;
        if !*active.borrow() {
            if let Ok(mut s) = snapshot.lock() {
                s.clear();
            }
            continue;
        }
        let statuses = check_all(&config, &mut last_actions).await;
        // A round can outlast this node's turn as active (a switchover while it ran): a
        // standby publishes nothing, so that its status never shows replicas it does not feed.
        let still_active = *active.borrow();
        if let Ok(mut s) = snapshot.lock() {
            *s = if still_active { statuses } else { Vec::new() };
        }
    }
}

/// One round: the source's position, then every replica concurrently.
async fn check_all(
    config: &Config,
    last_actions: &mut HashMap<String, String>,
) -> Vec<ReplicaStatus> {
    let source_pos = match sql::source_binlog_pos(&config.mysqld).await {
        Ok(pos) => Some(pos),
        Err(error) => {
            tracing::warn!(%error, "replicas: cannot read the source's @@gtid_binlog_pos");
            None
        }
    };
    let target = source_target(config);
    let checks = config
        .replica
        .iter()
        .map(|r| check_one(r, &target, source_pos.as_deref()));
    let mut statuses = futures_util::future::join_all(checks).await;
    for status in &mut statuses {
        match status.last_action.clone() {
            Some(action) => {
                last_actions.insert(status.name.clone(), action);
            }
            None => status.last_action = last_actions.get(&status.name).cloned(),
        }
    }
    statuses
}

/// The VIP, the source's port and the replication account, or why there is none.
fn source_target(config: &Config) -> Result<SourceTarget, String> {
    let replication = config
        .replication
        .as_ref()
        .ok_or_else(|| "no [replication] table".to_string())?;
    let Credentials { user, password } = credentials::load(replication.credentials_file.get_ref())
        .map_err(|e| format!("the replication account's credentials file cannot be used: {e}"))?;
    Ok(SourceTarget {
        host: config.vip.address.get_ref().ip.to_string(),
        port: config.mysqld.port,
        user,
        password,
    })
}

/// Reads one replica, configures it if it needs it (and nothing speaks against it), assesses.
async fn check_one(
    replica: &Replica,
    target: &Result<SourceTarget, String>,
    source_pos: Option<&str>,
) -> ReplicaStatus {
    let name = replica.name.get_ref().as_str();
    let address = format!("{}:{}", replica.host.get_ref(), replica.port.get_ref());
    let now = super::setup::now_ms();
    let credentials = match credentials::load(replica.credentials_file.get_ref()) {
        Ok(credentials) => credentials,
        Err(e) => {
            let error = format!("its credentials file cannot be used: {e}");
            return ReplicaStatus::empty(name, &address, ReplicaState::Error, Some(error), now);
        }
    };
    let endpoint = ReplicaEndpoint {
        host: replica.host.get_ref().clone(),
        port: *replica.port.get_ref(),
        credentials,
    };
    let mut status = match read_and_assess(name, &address, &endpoint, source_pos).await {
        Ok(assessed) => assessed,
        Err(status) => return *status,
    };
    let configure = match target {
        Ok(target) => {
            replica::needs_configure(status.1.as_ref(), status.2, target).then_some(target)
        }
        Err(error) => {
            append_error(&mut status.0, error.clone());
            None
        }
    };
    let Some(target) = configure else {
        return status.0;
    };
    if status
        .0
        .error
        .as_deref()
        .is_some_and(|e| e.contains("errant"))
    {
        return status.0;
    }
    let was = status
        .0
        .source
        .clone()
        .unwrap_or_else(|| "no source".into());
    let action = match sql::configure(&endpoint, target).await {
        Ok(()) => format!("pointed at {}:{} (was: {was})", target.host, target.port),
        Err(e) => format!("could not point it at {}:{}: {e}", target.host, target.port),
    };
    tracing::info!(replica = name, %action, "replicas");
    let mut after = match read_and_assess(name, &address, &endpoint, source_pos).await {
        Ok((after, _, _)) => after,
        Err(after) => *after,
    };
    after.last_action = Some(action);
    after
}

/// The assessment, the parsed row and the replica's `slave_net_timeout`.
type Assessed = (ReplicaStatus, Option<replica::SlaveStatus>, Option<u64>);

async fn read_and_assess(
    name: &str,
    address: &str,
    endpoint: &ReplicaEndpoint,
    source_pos: Option<&str>,
) -> Result<Assessed, Box<ReplicaStatus>> {
    let now = super::setup::now_ms();
    let reading = sql::read(endpoint).await.map_err(|e| {
        let state = match e {
            ReplicaSqlError::Login { .. } => ReplicaState::Error,
            _ => ReplicaState::Unreachable,
        };
        Box::new(ReplicaStatus::empty(
            name,
            address,
            state,
            Some(e.to_string()),
            now,
        ))
    })?;
    let slave = match reading.row.as_ref().map(replica::slave_status::parse) {
        None => None,
        Some(Ok(slave)) => Some(slave),
        Some(Err(e)) => {
            let error = Some(e.to_string());
            let status = ReplicaStatus::empty(name, address, ReplicaState::Error, error, now);
            return Err(Box::new(status));
        }
    };
    let assessed = replica::assess(
        name,
        address,
        replica::Reading {
            status: slave.as_ref(),
            gtid_slave_pos: &reading.gtid_slave_pos,
            gtid_current_pos: &reading.gtid_current_pos,
            source_binlog_pos: source_pos,
        },
        now,
    );
    Ok((assessed, slave, reading.net_timeout_s))
}

fn append_error(status: &mut ReplicaStatus, error: String) {
    status.error = Some(match status.error.take() {
        Some(before) => format!("{before}; {error}"),
        None => error,
    });
}
