//! Counters that `drbdsetup events2 --statistics` carries on device, peer-device and
//! connection lines. They move every second during I/O, so they update the state without
//! reporting a [`super::Change`]; the metrics endpoint reads them.

use serde::{Deserialize, Serialize};

use crate::drbd::events2::{Event, ObjectKind};

/// The latest value of each counter DRBD reported; `None` until a line carried it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statistics {
    /// KiB read from the local disk (device `read:`).
    pub read_kib: Option<u64>,
    /// KiB written to the local disk (device `written:`).
    pub written_kib: Option<u64>,
    /// Activity-log and bitmap metadata writes (device `al-writes:`, `bm-writes:`).
    pub al_writes: Option<u64>,
    pub bm_writes: Option<u64>,
    /// Requests from above waiting for DRBD, and DRBD's requests waiting for the disk
    /// (device `upper-pending:`, `lower-pending:`).
    pub upper_pending: Option<u64>,
    pub lower_pending: Option<u64>,
    /// Whether the activity log is suspended, and whether the device blocks I/O for
    /// congestion or the like (device `al-suspended:`, `blocked:` other than `no`).
    pub al_suspended: Option<bool>,
    pub blocked: Option<bool>,
    /// KiB received from and sent to the peer (peer-device `received:`, `sent:`).
    pub received_kib: Option<u64>,
    pub sent_kib: Option<u64>,
    /// Requests sent to the peer and not answered yet, and the peer's requests this node has
    /// not answered yet (peer-device `pending:`, `unacked:`).
    pub pending: Option<u64>,
    pub unacked: Option<u64>,
    /// Application and resync bytes in flight to the peer (connection `ap-in-flight:`,
    /// `rs-in-flight:`; DRBD 9 only).
    pub ap_in_flight_kib: Option<u64>,
    pub rs_in_flight_kib: Option<u64>,
}

impl Statistics {
    /// Takes the counters that `event` carries; the others keep their last value.
    pub fn absorb(&mut self, event: &Event) {
        let number = |key| event.field(key).and_then(|v| v.parse::<u64>().ok());
        let flag = |key| event.field(key).map(|v| v != "no");
        let take = |slot: &mut Option<u64>, key| {
            if let Some(value) = number(key) {
                *slot = Some(value);
            }
        };
        match event.kind {
            ObjectKind::Device => {
                take(&mut self.read_kib, "read");
                take(&mut self.written_kib, "written");
                take(&mut self.al_writes, "al-writes");
                take(&mut self.bm_writes, "bm-writes");
                take(&mut self.upper_pending, "upper-pending");
                take(&mut self.lower_pending, "lower-pending");
                self.al_suspended = flag("al-suspended").or(self.al_suspended);
                self.blocked = flag("blocked").or(self.blocked);
            }
            ObjectKind::PeerDevice => {
                take(&mut self.received_kib, "received");
                take(&mut self.sent_kib, "sent");
                take(&mut self.pending, "pending");
                take(&mut self.unacked, "unacked");
            }
            ObjectKind::Connection => {
                take(&mut self.ap_in_flight_kib, "ap-in-flight");
                take(&mut self.rs_in_flight_kib, "rs-in-flight");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drbd::events2::parse_line;

    #[test]
    fn device_and_peer_device_counters_from_a_real_84_dump() {
        // tests/fixtures/drbd84/transcript-full.txt, `drbdsetup events2 --now --statistics`.
        let mut stats = Statistics::default();
        for line in [
            "exists device name:r0 volume:0 minor:0 disk:UpToDate size:262100 read:55296 \
             written:0 al-writes:8 bm-writes:0 upper-pending:0 lower-pending:2 \
             al-suspended:no blocked:no",
            "exists peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 \
             replication:SyncSource peer-disk:Inconsistent resync-suspended:no received:0 \
             sent:55112 out-of-sync:208852 pending:2 unacked:3",
        ] {
            stats.absorb(&parse_line(line).expect("a real line parses"));
        }
        assert_eq!(stats.read_kib, Some(55296));
        assert_eq!(stats.written_kib, Some(0));
        assert_eq!(stats.al_writes, Some(8));
        assert_eq!(stats.lower_pending, Some(2));
        assert_eq!(stats.blocked, Some(false));
        assert_eq!(stats.sent_kib, Some(55112));
        assert_eq!(stats.received_kib, Some(0));
        assert_eq!((stats.pending, stats.unacked), (Some(2), Some(3)));
        assert_eq!(stats.ap_in_flight_kib, None);
    }

    #[test]
    fn a_line_without_counters_keeps_the_last_values() {
        let mut stats = Statistics::default();
        let with = "change peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 sent:10";
        let without = "change peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 \
                       replication:Established";
        stats.absorb(&parse_line(with).expect("parses"));
        stats.absorb(&parse_line(without).expect("parses"));
        assert_eq!(stats.sent_kib, Some(10));
    }
}
