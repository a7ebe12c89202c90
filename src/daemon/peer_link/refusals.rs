//! Refused inbound connections and failed accepts: counted by reason, and logged at most once
//! per [`REFUSAL_LOG_INTERVAL_MS`] per reason, with the number of lines left out since.

use crate::peer::LinkError;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A peer port reachable from a busy network sees scanners, a stray third node or a flood of
/// connections; a warning per refusal would bury the journal and cost more than the refusal.
/// One line per reason per interval, with the count of refusals left out, still says what
/// happens and how often.
pub const REFUSAL_LOG_INTERVAL_MS: u64 = 10_000;

/// The reason under which failed `accept()` calls are counted.
pub const ACCEPT_FAILED: &str = "accept-failed";

#[derive(Debug, Default)]
struct Entry {
    total: u64,
    /// Counted but not logged since the last line for this reason.
    suppressed: u64,
    last_logged: Option<Instant>,
}

/// Counts by reason. Reasons are a fixed set of `&'static str` ([`LinkError::reason`] and
/// [`ACCEPT_FAILED`]), so the map stays small however many connections are refused.
#[derive(Debug, Default)]
pub struct RefusalLog {
    entries: HashMap<&'static str, Entry>,
}

impl RefusalLog {
    /// Counts one event. Returns how many were left out since the last logged one when this
    /// one is to be logged, or `None` when it falls within `interval` of that line.
    pub fn record(
        &mut self,
        reason: &'static str,
        now: Instant,
        interval: Duration,
    ) -> Option<u64> {
        let entry = self.entries.entry(reason).or_default();
        entry.total = entry.total.saturating_add(1);
        let due = entry
            .last_logged
            .is_none_or(|last| now.saturating_duration_since(last) >= interval);
        if !due {
            entry.suppressed = entry.suppressed.saturating_add(1);
            return None;
        }
        entry.last_logged = Some(now);
        Some(std::mem::take(&mut entry.suppressed))
    }

    /// All events of `reason` so far, logged or not.
    pub fn total(&self, reason: &str) -> u64 {
        self.entries.get(reason).map_or(0, |entry| entry.total)
    }
}

/// The link's shared, rate-limited record of refusals.
#[derive(Debug, Clone, Default)]
pub struct Refusals(Arc<Mutex<RefusalLog>>);

impl Refusals {
    /// Counts a refused connection and logs it, unless one of its kind was logged lately.
    pub fn refuse(&self, from: SocketAddr, error: &LinkError) {
        if let Some(suppressed) = self.record(error.reason()) {
            tracing::warn!(%from, %error, suppressed, "peer link: refused a connection");
        }
    }

    /// Counts a failed `accept()` and logs it, unless one was logged lately.
    pub fn accept_failed(&self, error: &std::io::Error, backoff_ms: u64) {
        if let Some(suppressed) = self.record(ACCEPT_FAILED) {
            tracing::warn!(%error, backoff_ms, suppressed, "peer link: accept failed; backing off");
        }
    }

    /// How many connections were refused for `reason` (a [`LinkError::reason`]).
    pub fn count(&self, reason: &str) -> u64 {
        self.lock().total(reason)
    }

    fn record(&self, reason: &'static str) -> Option<u64> {
        let interval = Duration::from_millis(REFUSAL_LOG_INTERVAL_MS);
        self.lock().record(reason, Instant::now(), interval)
    }

    /// A panic while counting leaves the counts usable: they are only counts.
    fn lock(&self) -> std::sync::MutexGuard<'_, RefusalLog> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_reason_per_interval_with_the_count_left_out() {
        let mut log = RefusalLog::default();
        let interval = Duration::from_millis(REFUSAL_LOG_INTERVAL_MS);
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        assert_eq!(log.record("busy", at(0), interval), Some(0));
        assert_eq!(log.record("busy", at(1), interval), None);
        assert_eq!(log.record("busy", at(9_999), interval), None);
        // Another reason has its own line.
        assert_eq!(log.record("wrong-peer", at(2), interval), Some(0));
        assert_eq!(log.record("busy", at(10_000), interval), Some(2));
        assert_eq!(log.record("busy", at(10_001), interval), None);
        assert_eq!(log.record("busy", at(25_000), interval), Some(1));
        assert_eq!((log.total("busy"), log.total("wrong-peer")), (6, 1));
        assert_eq!(log.total("unknown-address"), 0);
    }
}
