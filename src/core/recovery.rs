//! Policy after a failure, read by `decide()` from the facts the handlers recorded: the
//! mysqld restart budget and when it is spent (give the service away), the escalation of a
//! failed stop chain (demote --force, then self-fence), and the backoffs before retrying a
//! start, a stop chain or a power fence.

use super::deadline::{pending, Deadline};
use super::{Node, Step};

/// A failing power fence or stop chain is retried after 1, 2, 4, … peer timeouts, at most
/// 32: soon enough to recover from a transient fault, rare enough not to hammer a BMC or
/// reboot-loop a node.
pub const MAX_BACKOFF_DOUBLINGS: u32 = 5;

/// After a failed start step (rolled back), the next start waits this many peer timeouts:
/// long enough for the peer to take the service if it can, short enough to retry soon.
pub const START_RETRY_PEER_TIMEOUTS: u64 = 2;

impl Node {
    /// Exponential backoff for a failing power fence or stop chain: one peer timeout, then
    /// doubling up to 2^[`MAX_BACKOFF_DOUBLINGS`] peer timeouts.
    pub(crate) fn backoff_ticks(&self, failures: u32) -> u64 {
        self.cfg.peer_timeout_ticks.max(1) << failures.min(MAX_BACKOFF_DOUBLINGS)
    }

    /// mysqld failed more often within the restart window than the restart limit allows:
    /// restarting it here again would only fail again, so the service goes to the peer.
    pub(crate) fn local_failure(&self) -> Option<String> {
        if !self.restart_budget_spent() {
            return None;
        }
        let failures = self.mysqld_failures.len();
        let what = self.mysqld_failure.as_deref().unwrap_or("mysqld failed");
        Some(format!(
            "{what}, and it failed {failures} times within the restart window"
        ))
    }

    /// More mysqld failures within the window than `restart_limit` allows restarts.
    pub(crate) fn restart_budget_spent(&self) -> bool {
        self.mysqld_failures.len() > self.cfg.restart_limit
    }

    /// This node owes the peer a Handover once its services are down: the operator or the
    /// peer asked for it, or a local failure gives the service away.
    pub(crate) fn owes_handover(&self) -> bool {
        self.handover_owed || self.restart_budget_spent()
    }

    /// The next, harder step after a failed stop step: a failed demote is forced (DRBD 9
    /// only; 8.4 reports failure), anything else that failed to stop ends in a self-fence;
    /// after a failed self-fence nothing is harder (the chain waits for its backoff).
    pub(crate) fn escalation(&self) -> Option<Step> {
        match self.stop_failed? {
            Step::Demote if self.cfg.drbd => Some(Step::ForceDemote),
            Step::SelfFence => None,
            _ => Some(Step::SelfFence),
        }
    }

    /// The whole stop chain, self-fence included, failed: not before this tick again.
    pub(crate) fn stop_retry(&self) -> Option<Deadline> {
        let at = self.stop_chain_failed_at?;
        let wait = self.backoff_ticks(self.stop_failures.saturating_sub(1));
        pending(Some(Deadline::after(at, wait)), self.now)
    }

    /// The power fence failed: not before this tick again (a BMC that failed is not
    /// hammered).
    pub(crate) fn power_fence_retry(&self) -> Option<Deadline> {
        let at = self.power_fence_failed_at?;
        let wait = self.backoff_ticks(self.power_fence_failures.saturating_sub(1));
        pending(Some(Deadline::after(at, wait)), self.now)
    }

    /// A start step failed and was rolled back: no new start before this tick.
    pub(crate) fn start_retry(&self) -> Option<Deadline> {
        let at = self.start_failed_at?;
        let wait = self.cfg.peer_timeout_ticks * START_RETRY_PEER_TIMEOUTS;
        pending(Some(Deadline::after(at, wait)), self.now)
    }
}
