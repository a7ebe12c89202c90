//! Replica health, polled by the proxy itself: every [`HEALTH_INTERVAL_MS`] it reads each
//! `[[replica]]`'s SHOW SLAVE STATUS with that replica's own credentials (the same reading
//! tandemd's monitor makes, `exec/replica.rs`) and drains a replica that errs, stops
//! replicating or lags beyond `max_lag_s` (`proxy/health.rs`). Polling directly rather than
//! reading tandemd's status keeps the proxy working on a host without tandemd and reacts
//! within a second instead of tandemd's two.

use crate::config::credentials;
use crate::config::Config;
use crate::exec::replica::{self as sql, ReplicaEndpoint};
use crate::proxy::health;
use crate::replica::slave_status;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often every replica is read; a replica that falls behind is drained within this
/// (plus the read's own bound, `REPLICA_QUERY_TIMEOUT_MS`).
pub const HEALTH_INTERVAL_MS: u64 = 1_000;

/// One replica as the sessions see it.
#[derive(Debug)]
pub struct ReplicaSlot {
    pub name: String,
    pub address: String,
    healthy: AtomicBool,
    /// Sessions reading from it now: a new session picks the least busy healthy replica.
    pub sessions: AtomicUsize,
    /// Times it went from serving to drained (the proxy's metrics).
    drains: AtomicU64,
    reason: Mutex<String>,
}

impl ReplicaSlot {
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub fn drains(&self) -> u64 {
        self.drains.load(Ordering::Relaxed)
    }

    fn set(&self, verdict: Result<(), String>) {
        let healthy = verdict.is_ok();
        let reason = verdict.err().unwrap_or_default();
        let was = self.healthy.swap(healthy, Ordering::Relaxed);
        if was && !healthy {
            self.drains.fetch_add(1, Ordering::Relaxed);
        }
        let mut last = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        if was != healthy || *last != reason {
            if healthy {
                tracing::info!(replica = %self.name, "replica serves reads");
            } else {
                tracing::warn!(replica = %self.name, %reason, "replica drained");
            }
            *last = reason;
        }
    }
}

pub type Replicas = Arc<Vec<ReplicaSlot>>;

/// The slots, all drained until their first good reading.
pub fn slots(config: &Config) -> Replicas {
    Arc::new(
        config
            .replica
            .iter()
            .map(|r| ReplicaSlot {
                name: r.name.get_ref().clone(),
                address: format!("{}:{}", r.host.get_ref(), r.port.get_ref()),
                healthy: AtomicBool::new(false),
                sessions: AtomicUsize::new(0),
                drains: AtomicU64::new(0),
                reason: Mutex::new("not read yet".to_string()),
            })
            .collect(),
    )
}

/// The least busy healthy replica not in `excluded`, if any.
pub fn pick(replicas: &[ReplicaSlot], excluded: &[usize]) -> Option<usize> {
    replicas
        .iter()
        .enumerate()
        .filter(|(i, r)| r.healthy() && !excluded.contains(i))
        .min_by_key(|(_, r)| r.sessions.load(Ordering::Relaxed))
        .map(|(i, _)| i)
}

/// The poll task: runs until the process ends.
pub async fn poll(config: Arc<Config>, replicas: Replicas, max_lag_s: u64) {
    let endpoints: Vec<Result<ReplicaEndpoint, String>> = config
        .replica
        .iter()
        .map(|r| {
            credentials::load(r.credentials_file.get_ref())
                .map(|credentials| ReplicaEndpoint {
                    host: r.host.get_ref().clone(),
                    port: *r.port.get_ref(),
                    credentials,
                })
                .map_err(|e| e.to_string())
        })
        .collect();
    let mut ticker = tokio::time::interval(Duration::from_millis(HEALTH_INTERVAL_MS));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let checks = endpoints.iter().map(|endpoint| check(endpoint, max_lag_s));
        let verdicts = futures_util::future::join_all(checks).await;
        for (slot, verdict) in replicas.iter().zip(verdicts) {
            slot.set(verdict);
        }
    }
}

async fn check(endpoint: &Result<ReplicaEndpoint, String>, max_lag_s: u64) -> Result<(), String> {
    let endpoint = endpoint.as_ref().map_err(String::clone)?;
    let reading = sql::read(endpoint).await.map_err(|e| e.to_string())?;
    let status = match &reading.row {
        Some(row) => Some(slave_status::parse(row).map_err(|e| e.to_string())?),
        None => None,
    };
    health::assess(status.as_ref(), max_lag_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(name: &str, healthy: bool, sessions: usize) -> ReplicaSlot {
        ReplicaSlot {
            name: name.to_string(),
            address: format!("{name}:3306"),
            healthy: AtomicBool::new(healthy),
            sessions: AtomicUsize::new(sessions),
            drains: AtomicU64::new(0),
            reason: Mutex::new(String::new()),
        }
    }

    #[test]
    fn a_session_picks_the_least_busy_healthy_replica() {
        let slots = [
            slot("r1", true, 3),
            slot("r2", false, 0),
            slot("r3", true, 1),
        ];
        assert_eq!(pick(&slots, &[]), Some(2));
        assert_eq!(pick(&slots, &[2]), Some(0));
        slots[2].set(Err("7 s behind (bound 5 s)".to_string()));
        assert_eq!(pick(&slots, &[]), Some(0));
        slots[0].set(Err("unreachable".to_string()));
        assert_eq!(pick(&slots, &[]), None);
        slots[1].set(Ok(()));
        assert_eq!(pick(&slots, &[]), Some(1));
    }
}
