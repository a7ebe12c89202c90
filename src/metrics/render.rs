//! [`Snapshot`] → OpenMetrics text. A fresh registry per scrape: the snapshot holds the
//! values, so nothing here keeps state between scrapes.

use super::{MysqldSample, Snapshot};
use crate::drbd::ResourceState;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Label sets are small lists of (name, value).
pub(super) type Labels = Vec<(&'static str, String)>;
type GaugeFamily = Family<Labels, Gauge<f64, AtomicU64>>;
type CounterFamily = Family<Labels, Counter<u64>>;

/// Builds one metric family per name, registering it on first use.
pub(super) struct Builder {
    registry: Registry,
}

impl Builder {
    pub(super) fn new() -> Builder {
        Builder {
            registry: Registry::with_prefix("tandem"),
        }
    }

    /// The registry as OpenMetrics text, ending in `# EOF`.
    pub(super) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }

    pub(super) fn gauge(&mut self, name: &str, help: &str, samples: &[(Labels, f64)]) {
        let family = GaugeFamily::default();
        for (labels, value) in samples {
            family.get_or_create(labels).set(*value);
        }
        self.registry.register(name, help, family);
    }

    /// `name` without `_total`: the encoder appends it.
    pub(super) fn counter(&mut self, name: &str, help: &str, samples: &[(Labels, u64)]) {
        let family = CounterFamily::default();
        for (labels, value) in samples {
            family.get_or_create(labels).inc_by(*value);
        }
        self.registry.register(name, help, family);
    }
}

pub(super) fn flag(on: bool) -> f64 {
    if on {
        1.0
    } else {
        0.0
    }
}

/// The snapshot as OpenMetrics text, ending in `# EOF`.
pub fn render(snapshot: &Snapshot) -> Result<String, std::fmt::Error> {
    let mut builder = Builder::new();
    if let Some(drbd) = &snapshot.drbd {
        drbd_states(&mut builder, drbd);
        drbd_amounts(&mut builder, drbd);
        drbd_counters(&mut builder, drbd);
    }
    peer_paths(&mut builder, snapshot);
    tandem_state(&mut builder, snapshot);
    tandem_counters(&mut builder, snapshot);
    mysqld(&mut builder, &snapshot.node, &snapshot.mysqld);
    super::render_replicas::replicas(&mut builder, &snapshot.node, &snapshot.replicas);
    builder.encode()
}

fn drbd_states(b: &mut Builder, drbd: &ResourceState) {
    let state = |label: &'static str, value: String| {
        [(vec![("resource", drbd.name.clone()), (label, value)], 1.0)]
    };
    let help = "1 for the current value of the label";
    b.gauge(
        "drbd_role",
        &format!("DRBD role of this node; {help}"),
        &state("role", drbd.role.to_string()),
    );
    b.gauge(
        "drbd_peer_role",
        &format!("DRBD role of the peer; {help}"),
        &state("role", drbd.peer_role.to_string()),
    );
    b.gauge(
        "drbd_disk_state",
        &format!("Local DRBD disk state; {help}"),
        &state("state", drbd.disk.to_string()),
    );
    b.gauge(
        "drbd_peer_disk_state",
        &format!("The peer's DRBD disk state; {help}"),
        &state("state", drbd.peer_disk.to_string()),
    );
    b.gauge(
        "drbd_connection_state",
        &format!("DRBD connection state; {help}"),
        &state("state", drbd.connection.to_string()),
    );
    b.gauge(
        "drbd_replication_state",
        &format!("DRBD replication state; {help}"),
        &state("state", drbd.replication.to_string()),
    );
    let resource = || vec![("resource", drbd.name.clone())];
    b.gauge(
        "drbd_configured",
        "1 when the DRBD resource exists in the kernel",
        &[(resource(), flag(drbd.configured))],
    );
    b.gauge(
        "drbd_suspended",
        "1 when DRBD suspended I/O (e.g. by fencing): writes hang",
        &[(resource(), flag(drbd.suspended))],
    );
}

fn drbd_amounts(b: &mut Builder, drbd: &ResourceState) {
    let resource = || vec![("resource", drbd.name.clone())];
    let kib_as_bytes = |kib: Option<u64>| kib.map(|kib| kib.saturating_mul(1024));
    let stats = &drbd.statistics;
    let gauges: [(&str, &str, Option<f64>); 9] = [
        (
            "drbd_out_of_sync_bytes",
            "Bytes out of sync with the peer",
            kib_as_bytes(drbd.out_of_sync_kib).map(|v| v as f64),
        ),
        (
            "drbd_resync_done_percent",
            "Resync progress in percent, while a resync runs",
            drbd.sync_done_percent,
        ),
        (
            "drbd_upper_pending",
            "Requests from above waiting for DRBD",
            stats.upper_pending.map(|v| v as f64),
        ),
        (
            "drbd_lower_pending",
            "DRBD's requests waiting for the local disk",
            stats.lower_pending.map(|v| v as f64),
        ),
        (
            "drbd_pending",
            "Requests sent to the peer and not answered yet",
            stats.pending.map(|v| v as f64),
        ),
        (
            "drbd_unacked",
            "The peer's requests this node has not answered yet",
            stats.unacked.map(|v| v as f64),
        ),
        (
            "drbd_blocked",
            "1 when the device blocks I/O (congestion and the like)",
            stats.blocked.map(flag),
        ),
        (
            "drbd_ap_in_flight_bytes",
            "Application bytes in flight to the peer (DRBD 9 only)",
            kib_as_bytes(stats.ap_in_flight_kib).map(|v| v as f64),
        ),
        (
            "drbd_rs_in_flight_bytes",
            "Resync bytes in flight to the peer (DRBD 9 only)",
            kib_as_bytes(stats.rs_in_flight_kib).map(|v| v as f64),
        ),
    ];
    for (name, help, value) in gauges {
        if let Some(value) = value {
            b.gauge(name, help, &[(resource(), value)]);
        }
    }
}

fn drbd_counters(b: &mut Builder, drbd: &ResourceState) {
    let resource = || vec![("resource", drbd.name.clone())];
    let kib_as_bytes = |kib: Option<u64>| kib.map(|kib| kib.saturating_mul(1024));
    let stats = &drbd.statistics;
    let counters: [(&str, &str, Option<u64>); 6] = [
        (
            "drbd_read_bytes",
            "Bytes read from the local disk",
            kib_as_bytes(stats.read_kib),
        ),
        (
            "drbd_written_bytes",
            "Bytes written to the local disk",
            kib_as_bytes(stats.written_kib),
        ),
        (
            "drbd_sent_bytes",
            "Bytes sent to the peer",
            kib_as_bytes(stats.sent_kib),
        ),
        (
            "drbd_received_bytes",
            "Bytes received from the peer",
            kib_as_bytes(stats.received_kib),
        ),
        (
            "drbd_al_writes",
            "Activity-log metadata writes",
            stats.al_writes,
        ),
        ("drbd_bm_writes", "Bitmap metadata writes", stats.bm_writes),
    ];
    for (name, help, value) in counters {
        if let Some(value) = value {
            b.counter(name, help, &[(resource(), value)]);
        }
    }
}

fn peer_paths(b: &mut Builder, s: &Snapshot) {
    let path = |address: &str| {
        vec![
            ("node", s.node.clone()),
            ("peer", s.peer.clone()),
            ("path", address.to_string()),
        ]
    };
    let up: Vec<(Labels, f64)> = s
        .paths
        .iter()
        .map(|p| (path(&p.address), flag(p.up)))
        .collect();
    b.gauge(
        "peer_path_up",
        "1 when an authenticated session to the peer is open on this path",
        &up,
    );
    let rtt: Vec<(Labels, f64)> = s
        .paths
        .iter()
        .filter_map(|p| Some((path(&p.address), p.round_trip_seconds?)))
        .collect();
    b.gauge(
        "peer_path_round_trip_seconds",
        "Smoothed TCP round-trip time to the peer on this path (TCP_INFO)",
        &rtt,
    );
    let pair = || vec![("node", s.node.clone()), ("peer", s.peer.clone())];
    b.gauge(
        "peer_heard",
        "1 when a heartbeat from the peer arrived within the peer timeout",
        &[(pair(), flag(s.peer_heard))],
    );
    b.gauge(
        "peer_heartbeat_gap_max_seconds",
        "Longest silence between two messages of a live peer-link session since tandemd started",
        &[(pair(), s.gaps.max_gap_ms as f64 / 1000.0)],
    );
    b.counter(
        "peer_heartbeat_gaps_over_half_timeout",
        "Silences on a live peer-link session longer than half the peer timeout",
        &[(pair(), s.gaps.over_half_timeout)],
    );
}

fn tandem_state(b: &mut Builder, s: &Snapshot) {
    let node = || vec![("node", s.node.clone())];
    let decision = vec![
        ("node", s.node.clone()),
        ("mode", s.decision.mode.clone()),
        ("reason", s.decision.reason.clone()),
    ];
    b.gauge(
        "decision_info",
        "The current decision: its sentence and the node's mode as labels, value 1",
        &[(decision, 1.0)],
    );
    b.gauge(
        "decision_timestamp_seconds",
        "When the current decision was taken (Unix time)",
        &[(node(), s.decision.since_unix_ms as f64 / 1000.0)],
    );
    let services: Vec<(Labels, f64)> = s
        .services
        .iter()
        .map(|(layer, up)| {
            (
                vec![("node", s.node.clone()), ("service", layer.clone())],
                flag(*up),
            )
        })
        .collect();
    b.gauge(
        "service_up",
        "1 when this layer of the service chain is up here",
        &services,
    );
    let vip = s.services.iter().any(|(layer, up)| layer == "Vip" && *up);
    b.gauge(
        "vip_present",
        "1 when the virtual IP is on this node",
        &[(node(), flag(vip))],
    );
    b.gauge(
        "paused",
        "1 while tandem is paused (acts only on operator commands)",
        &[(node(), flag(s.paused))],
    );
    b.gauge(
        "split_brain",
        "1 while a DRBD split-brain stands",
        &[(node(), flag(s.split_brain))],
    );
    if let Some(bytes) = s.journal_bytes {
        b.gauge(
            "journal_size_bytes",
            "Size of the journal file",
            &[(node(), bytes as f64)],
        );
    }
}

fn tandem_counters(b: &mut Builder, s: &Snapshot) {
    let node = || vec![("node", s.node.clone())];
    let c = &s.counters;
    let counters = [
        (
            "failovers",
            "Automatic failovers begun by this node",
            c.failovers,
        ),
        (
            "switchovers",
            "Switchovers begun by this node",
            c.switchovers,
        ),
        (
            "fences",
            "Fencing attempts by this node (power or DRBD outdate)",
            c.fences,
        ),
        ("promotions", "Times this node became active", c.promotions),
        (
            "demotions",
            "Times this node stopped being active",
            c.demotions,
        ),
        ("refusals", "Operator requests refused", c.refusals),
        (
            "step_failures",
            "Start or stop steps that failed",
            c.step_failures,
        ),
        ("split_brains", "Split-brains detected", c.split_brains),
        (
            "mysqld_exits",
            "Times mysqld exited or was found hung",
            c.mysqld_exits,
        ),
        (
            "decisions",
            "Decisions taken (changes of the decision's sentence)",
            c.decisions,
        ),
    ];
    for (name, help, value) in counters {
        b.counter(name, help, &[(node(), value)]);
    }
    let h = &s.hooks;
    let hooks = [("succeeded", h.succeeded), ("failed", h.failed)];
    let runs: Vec<(Labels, u64)> = hooks
        .iter()
        .map(|(result, n)| {
            (
                vec![("node", s.node.clone()), ("result", result.to_string())],
                *n,
            )
        })
        .collect();
    b.counter("hook_runs", "Notification hook runs by result", &runs);
    b.counter(
        "hook_timeouts",
        "Notification hook runs killed at the timeout",
        &[(node(), h.timed_out)],
    );
    b.counter(
        "hook_dropped_events",
        "Events not given to the hook because its queue was full",
        &[(node(), h.dropped)],
    );
}

fn mysqld(b: &mut Builder, node: &str, m: &MysqldSample) {
    let node = || vec![("node", node.to_string())];
    b.gauge(
        "mysqld_up",
        "1 when mysqld runs here and answered its last SELECT 1",
        &[(node(), flag(m.up))],
    );
    if let Some(seconds) = m.select_seconds {
        b.gauge(
            "mysqld_select_seconds",
            "How long the last health check (SELECT 1) took",
            &[(node(), seconds)],
        );
    }
}
