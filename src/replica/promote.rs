//! Disaster promotion (MHA's masterha_master_switch, by GTID): when the DRBD pair is gone,
//! one replica becomes the primary and the others follow it. The pure part: which replica
//! is the most advanced, whether the chosen one may be promoted, who can follow it, and what
//! may be lost.

use super::gtid::GtidPos;
use std::fmt;

/// One replica as read just before the promotion: its `@@gtid_current_pos` after its relay
/// log was applied, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    pub pos: Result<GtidPos, String>,
}

/// What the promotion will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub primary: String,
    pub primary_pos: GtidPos,
    /// Repointed at the new primary with `MASTER_USE_GTID=slave_pos`; it sends them what
    /// they miss.
    pub followers: Vec<String>,
    /// Replicas with transactions the new primary lacks (only with `--force`): they cannot
    /// follow it without diverging; each needs `tandem replica rebuild`.
    pub left_behind: Vec<(String, String)>,
    /// Replicas that could not be read: not repointed.
    pub unreachable: Vec<(String, String)>,
}

/// Why the promotion does not go ahead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromoteRefusal {
    #[error("there is no [[replica]] named \"{name}\"; the configured replicas are {known}")]
    UnknownReplica { name: String, known: String },
    #[error("{name} cannot be read, so it cannot be promoted: {error}")]
    CandidateUnreachable { name: String, error: String },
    #[error(
        "{name} is behind {ahead} by {by} transaction(s) ({ahead} at {ahead_pos}, {name} at \
         {pos}): promoting {name} loses them and {ahead} cannot follow it; promote {ahead}, \
         or add --force to accept the loss"
    )]
    Behind {
        name: String,
        ahead: String,
        by: u64,
        ahead_pos: String,
        pos: String,
    },
    #[error(
        "the DRBD pair may still be serving: {}; a promotion now makes two primaries; make \
         sure both nodes are down, or add --force (asks for confirmation)",
        .0.join("; ")
    )]
    PairMayBeAlive(Vec<String>),
}

/// Transactions `other` has that `me` lacks (per domain, beyond `me`'s seq_no).
fn ahead_by(other: &GtidPos, me: &GtidPos) -> u64 {
    GtidPos::behind(other, me)
}

/// The replica no other is ahead of (the first such, by configuration order); among
/// diverged replicas, the one with the most transactions.
pub fn most_advanced(candidates: &[Candidate]) -> Option<&Candidate> {
    let readable: Vec<(&Candidate, &GtidPos)> = candidates
        .iter()
        .filter_map(|c| c.pos.as_ref().ok().map(|p| (c, p)))
        .collect();
    let total = |p: &GtidPos| p.0.values().map(|g| g.seq).sum::<u64>();
    readable
        .iter()
        .find(|(_, mine)| readable.iter().all(|(_, other)| ahead_by(other, mine) == 0))
        .or_else(|| readable.iter().max_by_key(|(_, p)| total(p)))
        .map(|(c, _)| *c)
}

/// Checks the chosen replica against the others and plans the promotion.
pub fn plan(candidates: &[Candidate], name: &str, force: bool) -> Result<Plan, PromoteRefusal> {
    let Some(chosen) = candidates.iter().find(|c| c.name == name) else {
        let known: Vec<&str> = candidates.iter().map(|c| c.name.as_str()).collect();
        return Err(PromoteRefusal::UnknownReplica {
            name: name.to_string(),
            known: known.join(", "),
        });
    };
    let pos = chosen
        .pos
        .clone()
        .map_err(|error| PromoteRefusal::CandidateUnreachable {
            name: name.to_string(),
            error,
        })?;
    let mut out = Plan {
        primary: name.to_string(),
        primary_pos: pos.clone(),
        followers: Vec::new(),
        left_behind: Vec::new(),
        unreachable: Vec::new(),
    };
    for other in candidates.iter().filter(|c| c.name != name) {
        let other_pos = match &other.pos {
            Ok(p) => p,
            Err(e) => {
                out.unreachable.push((other.name.clone(), e.clone()));
                continue;
            }
        };
        let by = ahead_by(other_pos, &pos);
        if by > 0 && !force {
            return Err(PromoteRefusal::Behind {
                name: name.to_string(),
                ahead: other.name.clone(),
                by,
                ahead_pos: other_pos.to_string(),
                pos: pos.to_string(),
            });
        }
        match GtidPos::errant(&pos, other_pos) {
            Some(why) => out.left_behind.push((other.name.clone(), why)),
            None => out.followers.push(other.name.clone()),
        }
    }
    Ok(out)
}

/// What the promotion may lose, in one sentence: measured against the pair's last position
/// when it could be read, else unknown.
pub fn may_be_lost(pair_pos: Option<&GtidPos>, new: &GtidPos) -> String {
    match pair_pos {
        None => format!(
            "may be lost: unknown: the pair is unreachable; whatever the old primary committed \
             after {} is not on {}",
            shown(new),
            "the new primary"
        ),
        Some(pair) => match GtidPos::behind(pair, new) {
            0 => format!(
                "nothing is lost: the new primary has every transaction the pair reported \
                 ({})",
                shown(pair)
            ),
            n => format!(
                "lost: {n} transaction(s): the pair was at {}, the new primary is at {}",
                shown(pair),
                shown(new)
            ),
        },
    }
}

fn shown(pos: &GtidPos) -> String {
    if pos.0.is_empty() {
        "the empty position".to_string()
    } else {
        pos.to_string()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "new primary: {} at {}",
            self.primary,
            shown(&self.primary_pos)
        )?;
        for name in &self.followers {
            writeln!(f, "  {name} follows it (MASTER_USE_GTID=slave_pos)")?;
        }
        for (name, why) in &self.left_behind {
            writeln!(f, "  {name} is left alone and needs a rebuild: {why}")?;
        }
        for (name, why) in &self.unreachable {
            writeln!(
                f,
                "  {name} could not be read and is not repointed: {why}; point it at the new \
                 primary when it is back, or rebuild it"
            )?;
        }
        Ok(())
    }
}
