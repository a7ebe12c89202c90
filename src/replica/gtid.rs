//! MariaDB GTID positions: `domain-server-seq` lists such as `0-1-6,1-1-1`, as in
//! `@@gtid_binlog_pos`, `@@gtid_slave_pos` and `Gtid_IO_Pos`; and how far, and whether
//! wrongly, a replica's position is from its source's.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// One GTID: the replication domain, the server that wrote it, its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gtid {
    pub domain: u32,
    pub server: u32,
    pub seq: u64,
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.seq)
    }
}

/// A position: at most one GTID per domain (the last one), by domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GtidPos(pub BTreeMap<u32, Gtid>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{text}\" is not a GTID position (domain-server-seq, comma-separated): {why}")]
pub struct GtidError {
    pub text: String,
    pub why: String,
}

impl FromStr for GtidPos {
    type Err = GtidError;

    /// Empty text is the empty position. Blanks and newlines around entries are ignored
    /// (the server wraps long lists). A domain given twice keeps the higher seq_no.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |why: String| GtidError {
            text: text.to_string(),
            why,
        };
        let mut pos = BTreeMap::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let parts: Vec<&str> = entry.split('-').collect();
            let [domain, server, seq] = parts[..] else {
                return Err(error(format!("\"{entry}\" has not three parts")));
            };
            let number = |part: &str| {
                part.parse::<u64>()
                    .map_err(|_| error(format!("\"{part}\" in \"{entry}\" is not a number")))
            };
            let gtid = Gtid {
                domain: u32::try_from(number(domain)?).map_err(|e| error(e.to_string()))?,
                server: u32::try_from(number(server)?).map_err(|e| error(e.to_string()))?,
                seq: number(seq)?,
            };
            let kept = pos.entry(gtid.domain).or_insert(gtid);
            if gtid.seq > kept.seq {
                *kept = gtid;
            }
        }
        Ok(GtidPos(pos))
    }
}

impl fmt::Display for GtidPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries: Vec<String> = self.0.values().map(Gtid::to_string).collect();
        f.write_str(&entries.join(","))
    }
}

impl GtidPos {
    /// Transactions the replica still has to apply: per domain, the source's seq_no minus
    /// the replica's (a domain the replica lacks counts from 0), summed.
    pub fn behind(source: &GtidPos, replica: &GtidPos) -> u64 {
        source
            .0
            .values()
            .map(|s| {
                let applied = replica.0.get(&s.domain).map_or(0, |r| r.seq);
                s.seq.saturating_sub(applied)
            })
            .sum()
    }

    /// A sentence when the replica has transactions the source never wrote: a domain the
    /// source lacks, a seq_no beyond the source's, or the source's last seq_no from another
    /// server (the same number, a different transaction). `None` when it is a prefix.
    pub fn errant(source: &GtidPos, replica: &GtidPos) -> Option<String> {
        let mut found = Vec::new();
        for r in replica.0.values() {
            match source.0.get(&r.domain) {
                None => found.push(format!("{r} (domain {} is not on the source)", r.domain)),
                Some(s) if r.seq > s.seq => found.push(format!("{r} (the source is at {s})")),
                Some(s) if r.seq == s.seq && r.server != s.server => {
                    found.push(format!("{r} (the source's is {s})"))
                }
                Some(_) => {}
            }
        }
        (!found.is_empty()).then(|| {
            format!(
                "errant transactions: {} not written by the source; this replica diverged \
                 and needs a rebuild (tandem takes no action)",
                found.join(", ")
            )
        })
    }
}
