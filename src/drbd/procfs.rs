//! Parser for DRBD 8.4 `/proc/drbd`, which speaks 8.4 words (`cs:WFConnection`).
//!
//! ```text
//! version: 8.4.11 (api:1/proto:86-101)
//! srcversion: F73C670A7EC572DB9CF3E5B
//!  0: cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----
//!     ns:42092 nr:0 dw:0 dr:44032 al:8 bm:0 lo:0 pe:2 ua:2 ap:0 ep:1 wo:f oos:221140
//!     [==>.................] sync'ed: 17.2% (221140/262100)K
//!     finish: 0:00:10 speed: 20,480 (20,480) K/sec
//! ```
//! Lines the parser does not know (`GIT-hash:`, `act_log:` details, …) are kept in
//! [`ProcDrbd::other_lines`] rather than rejected; a line it knows but cannot read is an error.

use serde::{Deserialize, Serialize};

use super::words::{from_84_cstate, ConnectionState, DiskState, ReplicationState, Role};

/// The whole of `/proc/drbd`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcDrbd {
    /// Kernel module version, e.g. `8.4.11`: tells which vocabulary and features apply.
    pub version: String,
    /// Netlink API version (`api:1`), what drbd-utils must speak.
    pub api_version: Option<u32>,
    /// Supported wire protocol range (`proto:86-101`), for compatibility with the peer.
    pub protocol_range: Option<(u32, u32)>,
    /// Build identity (`srcversion:`), to tell two builds of one version apart.
    pub srcversion: Option<String>,
    /// One entry per minor, in file order.
    pub minors: Vec<MinorStatus>,
    /// Lines not understood, kept verbatim (trimmed) so nothing is silently lost.
    pub other_lines: Vec<String>,
}

/// One minor's status line plus the lines indented under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinorStatus {
    /// Device minor (`/dev/drbdN`).
    pub minor: u32,
    /// The 8.4 `cs:` word verbatim, e.g. `WFConnection`, `Unconfigured`.
    pub cstate: String,
    /// `cstate` in DRBD 9 words (see [`from_84_cstate`]).
    pub connection: ConnectionState,
    /// `cstate` in DRBD 9 words (see [`from_84_cstate`]).
    pub replication: ReplicationState,
    /// Local role (`ro:` left); `None` for an unconfigured minor.
    pub role: Option<Role>,
    /// Peer role (`ro:` right); `None` for an unconfigured minor.
    pub peer_role: Option<Role>,
    /// Local disk (`ds:` left); `None` for an unconfigured minor.
    pub disk: Option<DiskState>,
    /// Peer disk (`ds:` right); `None` for an unconfigured minor.
    pub peer_disk: Option<DiskState>,
    /// Replication protocol letter (`A`, `B`, `C`); absent while there is no network config.
    pub protocol: Option<char>,
    /// The six I/O flags, e.g. `r-----`; the first is `s` while I/O is suspended.
    pub io_flags: Option<String>,
    /// The counters line (`ns:… oos:…`) as key/value pairs in order.
    pub counters: Vec<(String, String)>,
    /// Resync or verify progress, when one runs.
    pub resync: Option<ResyncProgress>,
}

/// The `[==>…] sync'ed:` line and the `finish:` line under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResyncProgress {
    /// True for an online verify (`verified:`), false for a resync (`sync'ed:`).
    pub verify: bool,
    /// Percent done, one decimal as DRBD prints it.
    pub done_percent: f64,
    /// KiB still to sync (DRBD prints MiB above 4 GiB; converted to KiB).
    pub remaining_kib: u64,
    /// KiB to sync in total.
    pub total_kib: u64,
    /// DRBD's estimate of the time left, in seconds.
    pub finish_seconds: Option<u64>,
    /// Current speed, KiB/s.
    pub speed_kib_per_second: Option<u64>,
    /// Average speed since the start, KiB/s (the figure in parentheses).
    pub average_speed_kib_per_second: Option<u64>,
    /// Target rate (`want:`), KiB/s, printed on the sync target and the verify source.
    pub want_kib_per_second: Option<u64>,
    /// DRBD marked the resync `(stalled)`.
    pub stalled: bool,
}

/// Why `/proc/drbd` could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but whitespace.
    #[error("/proc/drbd is empty")]
    Empty,
    /// The first line is not `version: …`.
    #[error("/proc/drbd line {line_number} should be the version line: {line:?}")]
    MissingVersion { line_number: usize, line: String },
    /// A line of a known kind that does not read as that kind.
    #[error("/proc/drbd line {line_number} is a malformed {what} line: {line:?}")]
    Malformed {
        line_number: usize,
        what: &'static str,
        line: String,
    },
    /// A counters, progress or finish line with no minor (or no progress line) above it.
    #[error("/proc/drbd line {line_number} belongs to no minor: {line:?}")]
    Orphan { line_number: usize, line: String },
}

impl ProcDrbd {
    /// The entry for minor `minor`.
    pub fn minor(&self, minor: u32) -> Option<&MinorStatus> {
        self.minors.iter().find(|status| status.minor == minor)
    }
}

impl MinorStatus {
    /// A counter's value, e.g. `counter("ns")`; `None` if absent or not a number.
    pub fn counter(&self, key: &str) -> Option<u64> {
        self.counters
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.parse().ok())
    }

    /// KiB out of sync (`oos:`).
    pub fn out_of_sync_kib(&self) -> Option<u64> {
        self.counter("oos")
    }

    /// False for `cs:Unconfigured` (the minor is down).
    pub fn is_configured(&self) -> bool {
        self.cstate != "Unconfigured"
    }

    /// True while I/O is suspended (first I/O flag `s`).
    pub fn suspended(&self) -> bool {
        self.io_flags
            .as_deref()
            .is_some_and(|flags| flags.starts_with('s'))
    }
}

/// Parses the text of `/proc/drbd`. Never panics.
pub fn parse(text: &str) -> Result<ProcDrbd, ParseError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line))
        .filter(|(_, line)| !line.trim().is_empty());
    let (line_number, first) = lines.next().ok_or(ParseError::Empty)?;
    let mut proc_drbd = parse_version(line_number, first.trim())?;
    for (line_number, raw) in lines {
        parse_body_line(&mut proc_drbd, line_number, raw.trim())?;
    }
    Ok(proc_drbd)
}

fn parse_body_line(
    proc_drbd: &mut ProcDrbd,
    line_number: usize,
    line: &str,
) -> Result<(), ParseError> {
    let malformed = |what| ParseError::Malformed {
        line_number,
        what,
        line: line.to_string(),
    };
    let orphan = || ParseError::Orphan {
        line_number,
        line: line.to_string(),
    };
    if let Some(srcversion) = line.strip_prefix("srcversion:") {
        proc_drbd.srcversion = Some(srcversion.trim().to_string());
    } else if is_minor_line(line) {
        let status = parse_minor(line).ok_or_else(|| malformed("minor status"))?;
        proc_drbd.minors.push(status);
    } else if line.starts_with("ns:") {
        let counters = parse_counters(line).ok_or_else(|| malformed("counters"))?;
        proc_drbd.minors.last_mut().ok_or_else(orphan)?.counters = counters;
    } else if line.starts_with('[') {
        let progress = parse_progress(line).ok_or_else(|| malformed("resync progress"))?;
        proc_drbd.minors.last_mut().ok_or_else(orphan)?.resync = Some(progress);
    } else if line.starts_with("finish:") {
        let minor = proc_drbd.minors.last_mut().ok_or_else(orphan)?;
        let progress = minor.resync.as_mut().ok_or_else(orphan)?;
        parse_finish(line, progress).ok_or_else(|| malformed("resync finish"))?;
    } else {
        proc_drbd.other_lines.push(line.to_string());
    }
    Ok(())
}

/// `version: 8.4.11 (api:1/proto:86-101)`.
fn parse_version(line_number: usize, line: &str) -> Result<ProcDrbd, ParseError> {
    let missing = || ParseError::MissingVersion {
        line_number,
        line: line.to_string(),
    };
    let rest = line.strip_prefix("version:").ok_or_else(missing)?.trim();
    let mut words = rest.split_whitespace();
    let version = words.next().ok_or_else(missing)?.to_string();
    let (mut api_version, mut protocol_range) = (None, None);
    let details = words.collect::<Vec<_>>().join(" ");
    let details = details.trim_start_matches('(').trim_end_matches(')');
    for part in details.split('/').filter(|part| !part.is_empty()) {
        let parsed = match part.split_once(':') {
            Some(("api", value)) => value.parse().ok().map(|api| api_version = Some(api)),
            Some(("proto", value)) => parse_range(value).map(|range| protocol_range = Some(range)),
            _ => Some(()),
        };
        parsed.ok_or_else(|| ParseError::Malformed {
            line_number,
            what: "version",
            line: line.to_string(),
        })?;
    }
    Ok(ProcDrbd {
        version,
        api_version,
        protocol_range,
        srcversion: None,
        minors: Vec::new(),
        other_lines: Vec::new(),
    })
}

fn parse_range(text: &str) -> Option<(u32, u32)> {
    let (low, high) = text.split_once('-')?;
    Some((low.parse().ok()?, high.parse().ok()?))
}

/// True for a minor status line: it starts with `N:`.
fn is_minor_line(line: &str) -> bool {
    line.split_once(':')
        .is_some_and(|(number, _)| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
}

/// ` 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----`, or `0: cs:Unconfigured`.
fn parse_minor(line: &str) -> Option<MinorStatus> {
    let (number, rest) = line.split_once(':')?;
    let minor = number.parse().ok()?;
    let mut tokens = rest.split_whitespace();
    let cstate = tokens.next()?.strip_prefix("cs:")?.to_string();
    let (connection, replication) = from_84_cstate(&cstate);
    let mut status = MinorStatus {
        minor,
        cstate,
        connection,
        replication,
        role: None,
        peer_role: None,
        disk: None,
        peer_disk: None,
        protocol: None,
        io_flags: None,
        counters: Vec::new(),
        resync: None,
    };
    if !status.is_configured() {
        return tokens.next().is_none().then_some(status);
    }
    let (role, peer_role) = pair(tokens.next()?.strip_prefix("ro:")?)?;
    let (disk, peer_disk) = pair(tokens.next()?.strip_prefix("ds:")?)?;
    status.role = Some(Role::from_word(role));
    status.peer_role = Some(Role::from_word(peer_role));
    status.disk = Some(DiskState::from_word(disk));
    status.peer_disk = Some(DiskState::from_word(peer_disk));
    let mut token = tokens.next();
    if let Some(letter) = token.and_then(protocol_letter) {
        status.protocol = Some(letter);
        token = tokens.next();
    }
    status.io_flags = token.map(str::to_string);
    tokens.next().is_none().then_some(status)
}

fn pair(text: &str) -> Option<(&str, &str)> {
    let (left, right) = text.split_once('/')?;
    (!left.is_empty() && !right.is_empty()).then_some((left, right))
}

fn protocol_letter(token: &str) -> Option<char> {
    let mut chars = token.chars();
    let letter = chars.next()?;
    (letter.is_ascii_uppercase() && chars.next().is_none()).then_some(letter)
}

/// `ns:0 nr:0 dw:0 … wo:f oos:262100`: every token `key:value`.
fn parse_counters(line: &str) -> Option<Vec<(String, String)>> {
    line.split_whitespace()
        .map(|token| {
            let (key, value) = token.split_once(':')?;
            (!key.is_empty()).then(|| (key.to_string(), value.to_string()))
        })
        .collect()
}

/// `[==>.................] sync'ed: 17.2% (221140/262100)K` (or `verified:`, or `…)M`).
fn parse_progress(line: &str) -> Option<ResyncProgress> {
    let (_, rest) = line.split_once(']')?;
    let rest = rest.trim_start();
    let (verify, rest) = match rest.strip_prefix("sync'ed:") {
        Some(rest) => (false, rest),
        None => (true, rest.strip_prefix("verified:")?),
    };
    let (percent, rest) = rest.split_once('%')?;
    let done_percent: f64 = percent.trim().parse().ok()?;
    if !(0.0..=100.0).contains(&done_percent) {
        return None;
    }
    let rest = rest.trim().strip_prefix('(')?;
    let (amounts, unit) = rest.split_once(')')?;
    let kib_per_unit = match unit.trim() {
        "K" => 1,
        "M" => 1024,
        _ => return None,
    };
    let (remaining, total) = amounts.split_once('/')?;
    let to_kib = |text: &str| text.trim().parse::<u64>().ok()?.checked_mul(kib_per_unit);
    Some(ResyncProgress {
        verify,
        done_percent,
        remaining_kib: to_kib(remaining)?,
        total_kib: to_kib(total)?,
        finish_seconds: None,
        speed_kib_per_second: None,
        average_speed_kib_per_second: None,
        want_kib_per_second: None,
        stalled: false,
    })
}

/// `finish: 0:00:10 speed: 20,480 (20,480) K/sec`, optionally with `(a -- b)`, `want: N`
/// and `(stalled)`.
fn parse_finish(line: &str, progress: &mut ResyncProgress) -> Option<()> {
    let mut tokens = line.split_whitespace().peekable();
    while let Some(token) = tokens.next() {
        match token {
            "finish:" => progress.finish_seconds = Some(duration_seconds(tokens.next()?)?),
            "speed:" => progress.speed_kib_per_second = Some(grouped_number(tokens.next()?)?),
            "want:" => progress.want_kib_per_second = Some(grouped_number(tokens.next()?)?),
            "(stalled)" => progress.stalled = true,
            "K/sec" => {}
            _ if token.starts_with('(') => {
                let mut last = token;
                while !last.ends_with(')') {
                    last = tokens.next()?;
                }
                let average = last.trim_start_matches('(').trim_end_matches(')');
                progress.average_speed_kib_per_second = Some(grouped_number(average)?);
            }
            _ => return None,
        }
    }
    progress.finish_seconds.map(|_| ())
}

/// `H:MM:SS` → seconds.
fn duration_seconds(text: &str) -> Option<u64> {
    let mut parts = text.split(':');
    let hours: u64 = parts.next()?.parse().ok()?;
    let minutes: u64 = parts.next()?.parse().ok()?;
    let seconds: u64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    hours
        .checked_mul(3600)?
        .checked_add(minutes.checked_mul(60)?)?
        .checked_add(seconds)
}

/// `20,480` → 20480.
fn grouped_number(text: &str) -> Option<u64> {
    let digits: String = text.chars().filter(|&c| c != ',').collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests;
