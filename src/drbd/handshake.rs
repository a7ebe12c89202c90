//! DRBD 8.4's connection handshake as the kernel logs it, parsed from `dmesg` text. When a
//! connection is made, DRBD prints both sides' generation UUIDs and how many 4 KiB blocks each
//! changed (`bits`), then its verdict:
//!
//! ```text
//! block drbd0: drbd_sync_handshake:
//! block drbd0: self 964D83CF204B0747:48B65319264C561B:A2621A4F5BB31689:A2611A4F5BB31689 bits:12 flags:0
//! block drbd0: peer 9F2283E0547672EB:48B65319264C561A:A2621A4F5BB31688:A2611A4F5BB31689 bits:11 flags:0
//! block drbd0: uuid_compare()=100 by rule 90
//! block drbd0: Split-Brain detected but unresolved, dropping connection!
//! ```
//!
//! One node's kernel log therefore tells what both sides did during a split: whether each was
//! Primary when its data diverged (bit 0 of a current UUID), whether they diverged from the
//! same data (the bitmap UUIDs), and how much each changed. Pure: text in, facts out.

use serde::{Deserialize, Serialize};

/// One side's generation identifiers, as in `self`/`peer` handshake lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generations {
    /// The current data generation.
    pub current: u64,
    /// The generation the out-of-sync bitmap is relative to: the common ancestor of a split.
    pub bitmap: u64,
    pub history: [u64; 2],
    /// 4 KiB blocks this side changed against `bitmap`.
    pub bits: u64,
}

impl Generations {
    /// Bit 0 of a generation UUID records whether the node was Primary when DRBD made it: a
    /// current UUID made during a split says who wrote as Primary.
    pub fn primary_when_diverged(&self) -> bool {
        self.current & 1 == 1
    }

    /// KiB this side changed since the common ancestor.
    pub fn changed_kib(&self) -> u64 {
        self.bits.saturating_mul(4)
    }
}

/// What the kernel decided at the end of a handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// `Split-Brain detected but unresolved, dropping connection!`
    SplitBrainUnresolved,
    /// `Split-Brain detected, … solved. Sync from this|peer node`: resolved (an automatic
    /// policy, or an operator's `--discard-my-data`); `kept_local` is true when this node's
    /// data won.
    SplitBrainResolved { automatic: bool, kept_local: bool },
    /// No split-brain line followed the handshake.
    NoSplitBrain,
}

/// The last handshake of one DRBD minor in a kernel log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handshake {
    /// The kernel timestamp (seconds since boot) of the `self` line.
    pub at_s: Option<f64>,
    pub local: Generations,
    pub peer: Generations,
    /// `uuid_compare()=N by rule R`, as DRBD printed it.
    pub compare: Option<String>,
    pub verdict: Verdict,
}

impl Handshake {
    /// Both sides' data descend from the same generation (bit 0, a role flag, aside).
    pub fn common_ancestor(&self) -> Option<u64> {
        (self.local.bitmap & !1 == self.peer.bitmap & !1 && self.local.bitmap != 0)
            .then_some(self.local.bitmap & !1)
    }
}

/// The last handshake of `/dev/drbd{minor}` in `dmesg` text, if the log still holds one.
pub fn last_handshake(dmesg: &str, minor: u32) -> Option<Handshake> {
    let prefix = format!("block drbd{minor}: ");
    let mut last: Option<Handshake> = None;
    let mut local: Option<(Option<f64>, Generations)> = None;
    for line in dmesg.lines() {
        let Some(at) = line.find(&prefix) else {
            continue;
        };
        let text = &line[at + prefix.len()..];
        if let Some(rest) = text.strip_prefix("self ") {
            local = generations(rest).map(|g| (timestamp(line), g));
        } else if let Some(rest) = text.strip_prefix("peer ") {
            if let (Some((at_s, mine)), Some(peer)) = (local.take(), generations(rest)) {
                last = Some(Handshake {
                    at_s,
                    local: mine,
                    peer,
                    compare: None,
                    verdict: Verdict::NoSplitBrain,
                });
            }
        } else if let Some(handshake) = last.as_mut() {
            if text.starts_with("uuid_compare()=") && handshake.compare.is_none() {
                handshake.compare = Some(text.trim().to_string());
            } else if let Some(verdict) = verdict(text) {
                if handshake.verdict == Verdict::NoSplitBrain {
                    handshake.verdict = verdict;
                }
            }
        }
    }
    last
}

/// `UUID:UUID:UUID:UUID bits:N flags:F`
fn generations(text: &str) -> Option<Generations> {
    let mut words = text.split_whitespace();
    let uuids: Vec<u64> = words
        .next()?
        .split(':')
        .map(|u| u64::from_str_radix(u, 16).ok())
        .collect::<Option<_>>()?;
    let [current, bitmap, first, second] = uuids[..] else {
        return None;
    };
    let bits = words
        .find_map(|w| w.strip_prefix("bits:"))
        .and_then(|b| b.parse().ok())?;
    Some(Generations {
        current,
        bitmap,
        history: [first, second],
        bits,
    })
}

fn verdict(text: &str) -> Option<Verdict> {
    if text.starts_with("Split-Brain detected but unresolved") {
        return Some(Verdict::SplitBrainUnresolved);
    }
    let rest = text.strip_prefix("Split-Brain detected")?;
    let kept_local = if rest.contains("Sync from this node") {
        true
    } else if rest.contains("Sync from peer node") {
        false
    } else {
        return None;
    };
    Some(Verdict::SplitBrainResolved {
        automatic: rest.contains("automatically solved"),
        kept_local,
    })
}

/// `[  110.926731] …` → 110.926731
fn timestamp(line: &str) -> Option<f64> {
    let inner = line.trim_start().strip_prefix('[')?;
    inner.split(']').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests;
