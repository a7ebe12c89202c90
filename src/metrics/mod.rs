//! The Prometheus metrics: a plain [`Snapshot`] of what the daemon knows, rendered into the
//! OpenMetrics text format by `prometheus-client`. Rendering is pure; the daemon fills the
//! snapshot (daemon/observe.rs) and `exec/metrics_http.rs` serves it.
//!
//! The DRBD metrics follow drbd-reactor's prometheus plugin: states as one series per
//! resource with the state as a label and the value 1, counters in bytes.

mod classic;
mod render;
mod render_proxy;
mod render_replicas;
#[cfg(test)]
mod tests;

pub use classic::to_classic_text;
pub use render::render;
pub use render_proxy::{render_proxy, ProxySample};

use crate::drbd::ResourceState;
use serde::Serialize;

/// The media type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The media type of [`to_classic_text`]'s output.
pub const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything the endpoint shows, copied out of the daemon at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// This node's and its peer's names: labels on every tandem series.
    pub node: String,
    pub peer: String,
    /// The DRBD resource's state model; `None` with shared-disk storage.
    pub drbd: Option<ResourceState>,
    /// One entry per configured path to the peer.
    pub paths: Vec<PathSample>,
    /// A heartbeat from the peer arrived within the peer timeout.
    pub peer_heard: bool,
    /// The current decision.
    pub decision: DecisionSample,
    /// Each layer of the service chain (DRBD Primary, mount, mysqld, VIP) and whether it is up.
    pub services: Vec<(String, bool)>,
    pub paused: bool,
    pub split_brain: bool,
    pub mysqld: MysqldSample,
    /// The journal file's size; `None` when it cannot be read.
    pub journal_bytes: Option<u64>,
    /// The replica monitor's last check (daemon/replicas.rs); empty on a standby node.
    pub replicas: Vec<crate::replica::ReplicaStatus>,
    pub counters: Counters,
    pub hooks: HookCounters,
    pub gaps: HeartbeatGaps,
}

/// One path of the peer link, as its outbound dialer sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PathSample {
    /// The peer's address on this path, `host:port`.
    pub address: String,
    /// An authenticated outbound session is open on it.
    pub up: bool,
    /// The kernel's smoothed TCP round-trip time of that session (TCP_INFO), in seconds.
    pub round_trip_seconds: Option<f64>,
}

/// The longest silence between two messages from the peer on a live peer-link session, since
/// tandemd started: how close the link runs to the peer timeout (a gap beyond it is a
/// false "peer silent"). Heartbeats go every `heartbeat_interval_ms`; a gap well above that
/// is a stall of the network, the peer's scheduler, or this host's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct HeartbeatGaps {
    pub max_gap_ms: u64,
    /// Gaps longer than half the peer timeout.
    pub over_half_timeout: u64,
    pub peer_timeout_ms: u64,
}

/// The current decision and when it began.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DecisionSample {
    /// The sentence, as in `tandem status` (`why:`).
    pub reason: String,
    /// Where the node stands (its mode, e.g. `Active`), a small fixed set of values.
    pub mode: String,
    /// When the sentence last changed.
    pub since_unix_ms: u64,
}

/// mysqld as the health monitor last saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MysqldSample {
    /// tandemd watches a running server and its last `SELECT 1` succeeded.
    pub up: bool,
    /// How long the last `SELECT 1` took, in seconds (also when it failed).
    pub select_seconds: Option<f64>,
}

/// Events counted since tandemd started (Prometheus handles the reset at a restart).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub failovers: u64,
    pub switchovers: u64,
    pub fences: u64,
    pub promotions: u64,
    pub demotions: u64,
    pub refusals: u64,
    pub step_failures: u64,
    pub split_brains: u64,
    pub mysqld_exits: u64,
    /// Decisions taken: how often the decision's sentence changed.
    pub decisions: u64,
}

/// The notification hook's runs (exec/hook.rs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HookCounters {
    /// Runs that exited 0.
    pub succeeded: u64,
    /// Runs that exited non-zero, could not start, or were killed at the timeout.
    pub failed: u64,
    /// Of the failed runs, those killed at the timeout.
    pub timed_out: u64,
    /// Events dropped because the hook's queue was full (the hook is slower than events).
    pub dropped: u64,
}
