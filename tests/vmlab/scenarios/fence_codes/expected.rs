//! What the kernel is expected to do with each fence-peer exit code (from drbd_nl.c
//! `conn_try_outdate_peer` and `drbd_set_role`, DRBD 8.4.11), what a case saw, the table, and
//! the comparison of the two.

use tandem::config::Fencing;
use tandem::drbd::{DiskState, Role};

/// Where the handler ran.
#[derive(Debug, Clone, PartialEq)]
pub enum Situation {
    /// (a) `drbdadm primary` on a disconnected Secondary.
    Promote,
    /// (b) a Primary lost its connection, with this fencing policy.
    PrimaryLostPeer(Fencing),
}

/// What the kernel is expected to do with one exit code.
pub struct Expect {
    pub situation: Situation,
    pub code: u8,
    /// The node is Primary afterwards (for (a): `drbdadm primary` exited 0).
    primary: bool,
    disk: DiskState,
    peer_disk: DiskState,
    /// A 4 KiB direct write does not complete (I/O suspended by fencing).
    frozen: bool,
    /// How often the kernel ran the handler.
    calls: usize,
    /// Words that must be in the case's kernel log ...
    kernel: &'static [&'static str],
    /// ... and words that must not.
    not_in_kernel: &'static [&'static str],
    /// (a): `drbdadm primary`'s exit code and words of its refusal.
    refusal: Option<(i32, &'static str)>,
}

fn promote(code: u8, primary: bool, disk: DiskState, peer_disk: DiskState) -> Expect {
    Expect {
        situation: Situation::Promote,
        code,
        primary,
        disk,
        peer_disk,
        frozen: false,
        calls: 1,
        kernel: &[],
        not_in_kernel: &[],
        refusal: None,
    }
}

fn lost(fencing: Fencing, code: u8, peer_disk: DiskState, frozen: bool) -> Expect {
    let not_in_kernel: &[&str] = match fencing {
        Fencing::ResourceOnly => &[SUSPENDED],
        _ => &[],
    };
    Expect {
        situation: Situation::PrimaryLostPeer(fencing),
        code,
        primary: true,
        disk: DiskState::UpToDate,
        peer_disk,
        frozen,
        calls: 1,
        kernel: &[],
        not_in_kernel,
        refusal: None,
    }
}

use DiskState::{DUnknown, Inconsistent, Outdated, UpToDate};

const RETURNED_3: &str = "fence-peer helper returned 3 (peer is inconsistent or worse)";
const RETURNED_4: &str = "fence-peer helper returned 4 (peer was fenced)";
const RETURNED_5: &str = "fence-peer helper returned 5 (peer is unreachable, assumed to be dead)";
const RETURNED_6: &str = "fence-peer helper returned 6 (peer is active)";
const OUTDATING_MYSELF: &str = "Peer is primary, outdating myself.";
const RETURNED_7: &str = "fence-peer helper returned 7 (peer was stonithed)";
const SEVEN_NOT_STONITH: &str = "fence-peer() = 7 && fencing != Stonith !!!";
const BROKEN_1: &str = "fence-peer helper broken, returned 1";
/// Fencing froze I/O at the loss (resource-and-stonith) ...
const SUSPENDED: &str = "susp( 0 -> 1 )";
/// ... and let it run again.
const RESUMED: &str = "susp( 1 -> 0 )";
/// Code 6 asks DRBD to outdate the local disk, which a Primary (or a node being promoted
/// without an UpToDate peer) may not have.
const NEEDS_UP_TO_DATE: &str = "State change failed: Need access to UpToDate data";

/// (a), in the order run: codes 1 and 6 leave the node disconnected and Secondary, so 1 needs no
/// reconnect before 6. drbd_set_role tries 4 times while the peer is not outdated.
pub fn promote_expected() -> [Expect; 6] {
    [
        Expect {
            calls: 4,
            kernel: &[BROKEN_1],
            refusal: Some((11, "(-7) Refusing to be Primary while peer is not outdated")),
            ..promote(1, false, UpToDate, DUnknown)
        },
        Expect {
            kernel: &[OUTDATING_MYSELF, RETURNED_6, NEEDS_UP_TO_DATE],
            refusal: Some((17, "(-2) Need access to UpToDate data")),
            ..promote(6, false, Outdated, DUnknown)
        },
        Expect {
            kernel: &[RETURNED_3],
            ..promote(3, true, UpToDate, Inconsistent)
        },
        Expect {
            kernel: &[RETURNED_4],
            ..promote(4, true, UpToDate, Outdated)
        },
        Expect {
            kernel: &[RETURNED_5],
            ..promote(5, true, UpToDate, Outdated)
        },
        Expect {
            kernel: &[SEVEN_NOT_STONITH, RETURNED_7],
            ..promote(7, true, UpToDate, Outdated)
        },
    ]
}

pub const RESOURCE_ONLY: Fencing = Fencing::ResourceOnly;
pub const STONITH: Fencing = Fencing::ResourceAndStonith;

/// (b) with `fencing resource-only`: I/O never stops.
pub fn resource_only_expected() -> [Expect; 6] {
    [
        Expect {
            kernel: &[RETURNED_3],
            ..lost(RESOURCE_ONLY, 3, Inconsistent, false)
        },
        Expect {
            kernel: &[RETURNED_4],
            ..lost(RESOURCE_ONLY, 4, Outdated, false)
        },
        Expect {
            kernel: &[RETURNED_5],
            ..lost(RESOURCE_ONLY, 5, Outdated, false)
        },
        Expect {
            kernel: &[OUTDATING_MYSELF, RETURNED_6, NEEDS_UP_TO_DATE],
            ..lost(RESOURCE_ONLY, 6, DUnknown, false)
        },
        Expect {
            kernel: &[SEVEN_NOT_STONITH, RETURNED_7],
            ..lost(RESOURCE_ONLY, 7, Outdated, false)
        },
        Expect {
            kernel: &[BROKEN_1],
            ..lost(RESOURCE_ONLY, 1, DUnknown, false)
        },
    ]
}

/// (b) with `fencing resource-and-stonith`: I/O freezes at the loss and thaws only when the
/// handler's answer lets DRBD mark the peer outdated (3, 4, 5, 7). Codes 3, 4 and 6 only with
/// `all`: 3 and 4 thaw as 5 and 7 do, and 6 leaves I/O frozen as 1 does.
pub fn stonith_expected(all: bool) -> Vec<Expect> {
    let cases = [
        Expect {
            kernel: &[SUSPENDED, RETURNED_3, RESUMED],
            ..lost(STONITH, 3, Inconsistent, false)
        },
        Expect {
            kernel: &[SUSPENDED, OUTDATING_MYSELF, RETURNED_6, NEEDS_UP_TO_DATE],
            ..lost(STONITH, 6, DUnknown, true)
        },
        Expect {
            kernel: &[SUSPENDED, RETURNED_4, RESUMED],
            ..lost(STONITH, 4, Outdated, false)
        },
        Expect {
            kernel: &[SUSPENDED, RETURNED_5, RESUMED],
            ..lost(STONITH, 5, Outdated, false)
        },
        Expect {
            kernel: &[SUSPENDED, RETURNED_7, RESUMED],
            not_in_kernel: &[SEVEN_NOT_STONITH],
            ..lost(STONITH, 7, Outdated, false)
        },
        Expect {
            kernel: &[SUSPENDED, BROKEN_1],
            ..lost(STONITH, 1, DUnknown, true)
        },
    ];
    cases
        .into_iter()
        .filter(|e| all || ![3, 4, 6].contains(&e.code))
        .collect()
}

/// What one case showed.
pub struct Seen {
    /// `drbdadm primary`'s exit code and stderr ((a) only).
    pub rc: Option<i32>,
    pub drbdadm: String,
    /// Role, disk and peer disk in tandem's model (events2) ...
    pub role: Role,
    pub disk: DiskState,
    pub peer_disk: DiskState,
    /// ... and in /proc/drbd, which must agree.
    pub proc_states: (Option<Role>, Option<DiskState>, Option<DiskState>),
    /// `suspended:` in events2 (tandem's model) and the `s` flag in /proc/drbd.
    pub suspended: (bool, bool),
    /// The 4 KiB direct write completed within the probe ((b) only).
    pub io_completed: Option<bool>,
    /// After `drbdadm resume-io`, the blocked write completed and I/O runs (frozen cases only).
    pub thawed: Option<bool>,
    pub calls: usize,
    /// The kernel log since the case began, timestamps cut.
    pub kernel: Vec<String>,
}

pub fn situation(expect: &Expect) -> String {
    match &expect.situation {
        Situation::Promote => "promote, resource-only".to_string(),
        Situation::PrimaryLostPeer(fencing) => format!("Primary lost peer, {fencing}"),
    }
}

pub fn print_table(rows: &[(&Expect, Seen)]) {
    println!(
        "    {:<40} {:>4} {:>4} {:<9} {:<8} {:<12} {:<24} {:>5}  kernel",
        "situation", "exit", "rc", "role", "disk", "pdsk", "I/O", "calls"
    );
    let order = |code: u8| [3, 4, 5, 6, 7, 1].iter().position(|c| *c == code);
    let rank = |e: &Expect| match &e.situation {
        Situation::Promote => 0,
        Situation::PrimaryLostPeer(Fencing::ResourceAndStonith) => 2,
        Situation::PrimaryLostPeer(_) => 1,
    };
    let mut sorted: Vec<&(&Expect, Seen)> = rows.iter().collect();
    sorted.sort_by_key(|(e, _)| (rank(e), order(e.code)));
    for (expect, seen) in sorted {
        let io = match (seen.io_completed, seen.thawed) {
            (None, _) => "-".to_string(),
            (Some(true), _) => "flows".to_string(),
            (Some(false), Some(true)) => "FROZEN; resume-io thaws".to_string(),
            (Some(false), _) => "FROZEN; resume-io fails".to_string(),
        };
        println!(
            "    {:<40} {:>4} {:>4} {:<9} {:<8} {:<12} {:<24} {:>5}  {}",
            situation(expect),
            expect.code,
            seen.rc.map_or("-".to_string(), |rc| rc.to_string()),
            seen.role.to_string(),
            seen.disk.to_string(),
            seen.peer_disk.to_string(),
            io,
            seen.calls,
            headline(&seen.kernel, &seen.drbdadm)
        );
    }
}

/// The kernel's verdict lines of a case, each once, and drbdadm's refusal.
fn headline(kernel: &[String], drbdadm: &str) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for line in kernel {
        let line = line
            .split_once(": ")
            .map_or(line.as_str(), |(_, rest)| rest);
        let verdict = ["fence-peer", "outdating myself", "State change failed"]
            .iter()
            .any(|w| line.contains(w))
            && !line.starts_with("helper command");
        if verdict && !seen.contains(&line) {
            seen.push(line);
        }
    }
    let refusal = drbdadm.lines().find(|l| l.contains("State change failed"));
    let refusal = refusal.map(|l| format!("drbdadm: {}", l.trim()));
    seen.iter()
        .map(|l| l.to_string())
        .chain(refusal)
        .collect::<Vec<_>>()
        .join(" | ")
}

pub fn mismatches(expect: &Expect, seen: &Seen) -> Vec<String> {
    let case = format!("{} exit {}", situation(expect), expect.code);
    let mut checks = state_checks(expect, seen);
    if let Some(rc) = seen.rc {
        let (want, words) = expect.refusal.unwrap_or((0, ""));
        let said = seen.drbdadm.clone();
        checks.push(("drbdadm's exit code".into(), rc == want, rc.to_string()));
        checks.push((
            format!("drbdadm says `{words}`"),
            said.contains(words),
            said,
        ));
    }
    let log = seen.kernel.join("\n");
    for words in expect.kernel {
        let what = format!("kernel says `{words}`");
        checks.push((what, log.contains(words), log.clone()));
    }
    for words in expect.not_in_kernel {
        let what = format!("kernel silent on `{words}`");
        checks.push((what, !log.contains(words), log.clone()));
    }
    checks
        .into_iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(what, _, got)| format!("{case}: {what}: got {got}"))
        .collect()
}

/// (what, as expected, what was seen) for the role, disks, calls and I/O.
fn state_checks(expect: &Expect, seen: &Seen) -> Vec<(String, bool, String)> {
    let role = if expect.primary {
        Role::Primary
    } else {
        Role::Secondary
    };
    let model = (
        Some(seen.role.clone()),
        Some(seen.disk.clone()),
        Some(seen.peer_disk.clone()),
    );
    let frozen = (expect.frozen, expect.frozen);
    let mut checks = vec![
        ("role", seen.role == role, seen.role.to_string()),
        ("disk", seen.disk == expect.disk, seen.disk.to_string()),
        (
            "peer disk",
            seen.peer_disk == expect.peer_disk,
            seen.peer_disk.to_string(),
        ),
        ("calls", seen.calls == expect.calls, seen.calls.to_string()),
        (
            "/proc/drbd agrees",
            seen.proc_states == model,
            format!("{:?}", seen.proc_states),
        ),
        (
            "suspended (events2, /proc/drbd)",
            seen.suspended == frozen,
            format!("{:?}", seen.suspended),
        ),
    ];
    if let Some(completed) = seen.io_completed {
        checks.push((
            "I/O flows",
            completed != expect.frozen,
            completed.to_string(),
        ));
        let thawed = seen.thawed.unwrap_or(true);
        checks.push(("resume-io thaws", thawed, format!("{:?}", seen.thawed)));
    }
    checks
        .into_iter()
        .map(|(what, ok, got)| (what.to_string(), ok, got))
        .collect()
}
