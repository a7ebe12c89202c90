//! Time in the core is ticks. A [`Deadline`] is a tick from which something may happen again
//! (a retry, a restart): one type, one comparison, instead of bare `Option<u64>`s compared by
//! hand with a mix of `<` and `<=`.

/// "Not before tick `at`."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub at: u64,
}

impl Deadline {
    /// `ticks` from `now`.
    pub fn after(now: u64, ticks: u64) -> Self {
        Self { at: now + ticks }
    }

    /// Still in the future at `now`: whatever it guards must wait.
    pub fn pending(self, now: u64) -> bool {
        now < self.at
    }
}

/// A deadline that may not be set: pending only if set and in the future.
pub fn pending(deadline: Option<Deadline>, now: u64) -> Option<Deadline> {
    deadline.filter(|d| d.pending(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_pending_until_its_tick() {
        let d = Deadline::after(10, 5);
        assert!(d.pending(14));
        assert!(!d.pending(15));
        assert_eq!(pending(Some(d), 12), Some(d));
        assert_eq!(pending(Some(d), 15), None);
        assert_eq!(pending(None, 0), None);
    }
}
