//! The replica series: one sample per replica, labelled `replica`, from the active node's
//! last check (a standby node has none).

use super::render::{flag, Builder, Labels};
use crate::replica::ReplicaStatus;

pub(super) fn replicas(b: &mut Builder, node: &str, replicas: &[ReplicaStatus]) {
    if replicas.is_empty() {
        return;
    }
    let labels = |r: &ReplicaStatus| -> Labels {
        vec![("node", node.to_string()), ("replica", r.name.clone())]
    };
    let up: Vec<(Labels, f64)> = replicas.iter().map(|r| (labels(r), flag(r.up()))).collect();
    b.gauge(
        "replica_up",
        "1 when the replica's IO and SQL threads run without error (replicating or lagging)",
        &up,
    );
    let lag: Vec<(Labels, f64)> = replicas
        .iter()
        .filter_map(|r| Some((labels(r), r.lag_seconds? as f64)))
        .collect();
    b.gauge(
        "replica_lag_seconds",
        "Seconds_Behind_Master of the replica (absent while a thread does not run)",
        &lag,
    );
    let behind: Vec<(Labels, f64)> = replicas
        .iter()
        .filter_map(|r| Some((labels(r), r.gtid_behind? as f64)))
        .collect();
    b.gauge(
        "replica_gtid_behind",
        "Transactions the source wrote that the replica has not applied (per-domain GTID distance, summed)",
        &behind,
    );
}
