//! The DRBD parsers and state model against real DRBD 8.4.11 output captured in the VM lab
//! (`tests/fixtures/drbd84/`), plus property tests that no input makes them panic.

use std::path::PathBuf;

use proptest::prelude::*;
use tandem::drbd::events2::{parse_line, ObjectKind, Verb};
use tandem::drbd::procfs::{self, ProcDrbd};
use tandem::drbd::words::{
    parse_drbdadm_cstate, parse_drbdadm_dstate, parse_drbdadm_role, ConnectionState, DiskState,
    ReplicationState, Role,
};
use tandem::drbd::{Change, ResourceState};

const TRANSCRIPTS: [&str; 3] = [
    "transcript-full.txt",
    "transcript-fast.txt",
    "transcript-minimal.txt",
];
const EVENTS2_VERBS: [&str; 6] = [
    "exists ",
    "create ",
    "change ",
    "destroy ",
    "call ",
    "response ",
];

fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/drbd84", name]
        .iter()
        .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The events2 lines (no timestamps) embedded in a transcript.
fn transcript_events2_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| EVENTS2_VERBS.iter().any(|verb| line.starts_with(verb)))
        .collect()
}

/// The /proc/drbd dumps in a transcript: a `version: 8.4.11 (api…` line and the `srcversion:`
/// and indented lines after it.
fn procfs_dumps(text: &str) -> Vec<String> {
    let mut dumps: Vec<String> = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("version: 8.4.11 (api") {
            dumps.push(String::new());
            inside = true;
        } else if !(line.starts_with("srcversion:") || line.starts_with([' ', '\t'])) {
            inside = false;
        }
        if let (true, Some(dump)) = (inside, dumps.last_mut()) {
            dump.push_str(line);
            dump.push('\n');
        }
    }
    dumps
}

#[test]
fn every_timestamped_events2_line_parses() {
    for (name, count) in [
        ("events2-splitbrain-nodeA.log", 47),
        ("events2-splitbrain-nodeB.log", 59),
    ] {
        let text = fixture(name);
        let events: Vec<_> = text
            .lines()
            .map(|line| parse_line(line).unwrap_or_else(|e| panic!("{name}: {e}")))
            .collect();
        assert_eq!(events.len(), count, "{name}");
        for (line, event) in text.lines().zip(&events) {
            assert!(event.timestamp.is_some(), "{line}");
            assert!(!matches!(event.verb, Verb::Other(_)), "{line}");
            assert!(!matches!(event.kind, ObjectKind::Other(_)), "{line}");
            assert_eq!(event.to_string(), line, "Display gives the line back");
        }
    }
}

#[test]
fn every_events2_line_in_the_transcripts_parses() {
    for (name, count) in TRANSCRIPTS.iter().zip([25, 20, 20]) {
        let text = fixture(name);
        let lines = transcript_events2_lines(&text);
        assert_eq!(lines.len(), count, "{name}");
        for line in lines {
            let event = parse_line(line).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(event.timestamp, None);
            assert_eq!(event.to_string(), line);
        }
    }
    let full = fixture("transcript-full.txt");
    let statistics = transcript_events2_lines(&full)
        .into_iter()
        .find(|line| line.starts_with("exists device") && line.contains("size:"))
        .expect("the --statistics device line");
    let event = parse_line(statistics).unwrap();
    let keys: Vec<&str> = event.fields.iter().map(|(k, _)| k.as_str()).collect();
    let expected = "name volume minor disk size read written al-writes bm-writes upper-pending \
                    lower-pending al-suspended blocked";
    assert_eq!(keys.join(" "), expected);
}

#[test]
fn every_procfs_dump_in_the_transcripts_parses() {
    for (name, count) in TRANSCRIPTS.iter().zip([12, 12, 11]) {
        let dumps = procfs_dumps(&fixture(name));
        assert_eq!(dumps.len(), count, "{name}");
        for (index, dump) in dumps.iter().enumerate() {
            let parsed = procfs::parse(dump).unwrap_or_else(|e| panic!("{name}: {e}\n{dump}"));
            assert_eq!(parsed.version, "8.4.11");
            assert_eq!(parsed.protocol_range, Some((86, 101)));
            assert_eq!(
                parsed.srcversion.as_deref(),
                Some("F73C670A7EC572DB9CF3E5B")
            );
            assert!(parsed.other_lines.is_empty(), "{:?}", parsed.other_lines);
            // The first dump is taken before `drbdadm up`: no minor yet.
            assert_eq!(
                parsed.minors.len(),
                usize::from(index > 0),
                "{name} #{index}"
            );
        }
    }
}

fn find_dump(name: &str, cstate: &str) -> ProcDrbd {
    procfs_dumps(&fixture(name))
        .iter()
        .filter_map(|dump| procfs::parse(dump).ok())
        .find(|parsed| parsed.minor(0).is_some_and(|minor| minor.cstate == cstate))
        .expect("a dump in that state")
}

#[test]
fn procfs_values_of_selected_dumps() {
    let sync = find_dump("transcript-full.txt", "SyncSource");
    let minor = sync.minor(0).unwrap();
    assert_eq!(minor.out_of_sync_kib(), Some(221140));
    let resync = minor.resync.as_ref().unwrap();
    assert_eq!(resync.done_percent, 17.2);
    assert_eq!((resync.remaining_kib, resync.total_kib), (221140, 262100));
    assert_eq!(resync.finish_seconds, Some(10));
    assert_eq!(resync.speed_kib_per_second, Some(20480));
    let state = ResourceState::from_procfs("r0", minor);
    assert_eq!(state.sync_done_percent, Some(17.2));
    assert_eq!(state.replication, ReplicationState::SyncSource);

    let partitioned = find_dump("transcript-full.txt", "WFConnection");
    let minor = partitioned.minor(0).unwrap();
    assert_eq!(minor.connection, ConnectionState::Connecting);
    assert_eq!(minor.protocol, Some('C'));
    assert_eq!(minor.peer_role, Some(Role::Unknown));
    assert_eq!(minor.out_of_sync_kib(), Some(4));

    let split = find_dump("transcript-full.txt", "StandAlone");
    let minor = split.minor(0).unwrap();
    assert_eq!(
        (minor.protocol, minor.io_flags.as_deref()),
        (None, Some("r-----"))
    );
    assert_eq!(minor.peer_disk, Some(DiskState::DUnknown));
    assert_eq!(minor.out_of_sync_kib(), Some(80));
    assert_eq!(minor.counter("dw"), Some(459691));
}

#[test]
fn protocol_letters_of_the_throughput_runs() {
    let text = fixture("transcript-fast.txt");
    let mut letters = Vec::new();
    for line in text.lines().filter(|line| line.starts_with("protocol ")) {
        let (_, minor_line) = line.split_once(':').unwrap();
        let dump = format!("version: 8.4.11 (api:1/proto:86-101)\n{minor_line}\n");
        let parsed = procfs::parse(&dump).unwrap();
        letters.push(parsed.minor(0).unwrap().protocol);
    }
    assert_eq!(letters, [Some('C'), Some('B'), Some('A')]);
}

#[test]
fn drbdadm_outputs_in_the_transcripts_parse() {
    let mut seen = 0;
    for name in TRANSCRIPTS {
        let text = fixture(name);
        for line in text.lines().filter(|line| line.starts_with("cstate=")) {
            let mut parts = line.split(' ').map(|part| part.split_once('=').unwrap().1);
            let (cstate, dstate, role) = (parts.next(), parts.next(), parts.next());
            parse_drbdadm_cstate(cstate.unwrap()).unwrap();
            parse_drbdadm_dstate(dstate.unwrap()).unwrap();
            parse_drbdadm_role(role.unwrap()).unwrap();
            seen += 1;
        }
    }
    assert_eq!(seen, 12);
    assert_eq!(
        parse_drbdadm_cstate("StandAlone\n"),
        Ok((ConnectionState::StandAlone, ReplicationState::Off))
    );
    assert_eq!(
        parse_drbdadm_role("Secondary/Secondary\n"),
        Ok((Role::Secondary, Role::Secondary))
    );
}

fn replay(name: &str) -> (ResourceState, Vec<Change>) {
    let mut state = ResourceState::new("r0");
    let mut changes = Vec::new();
    for line in fixture(name).lines() {
        changes.extend(state.apply(&parse_line(line).unwrap()));
    }
    (state, changes)
}

#[test]
fn replaying_node_a_yields_the_split_brain_story() {
    let (state, changes) = replay("events2-splitbrain-nodeA.log");
    let text: Vec<String> = changes.iter().map(ToString::to_string).collect();
    let expected = [
        "role Unknown → Primary",
        "connection StandAlone → Connected",
        "peer role Unknown → Secondary",
        "disk DUnknown → UpToDate",
        "replication Off → Established",
        "peer disk DUnknown → UpToDate",
        "initial state dump done",
        "connection Connected → NetworkFailure",
        "peer role Secondary → Unknown",
        "replication Established → Off",
        "peer disk UpToDate → DUnknown",
        "connection NetworkFailure → Unconnected",
        "connection Unconnected → Connecting",
        "connection Connecting → Connected",
        "helper initial-split-brain called",
        "helper initial-split-brain returned 0",
        "helper split-brain called",
        "helper split-brain returned 0",
        "connection Connected → Disconnecting",
        "connection Disconnecting → StandAlone",
        "peer-device destroyed",
        "connection destroyed",
        "connection created",
        "peer-device created",
        "connection StandAlone → Unconnected",
        "connection Unconnected → Connecting",
        "connection Connecting → Connected",
        "helper initial-split-brain called",
        "helper initial-split-brain returned 0",
        "peer role Unknown → Secondary",
        "replication Off → WFBitMapS",
        "peer disk DUnknown → Consistent",
        "helper before-resync-source called",
        "helper before-resync-source returned 0",
        "replication WFBitMapS → SyncSource",
        "peer disk Consistent → Inconsistent",
        "replication SyncSource → Established",
        "peer disk Inconsistent → UpToDate",
        "role Primary → Secondary",
        "peer role Secondary → Primary",
        "peer role Primary → Secondary",
        "connection Connected → Disconnecting",
        "peer role Secondary → Unknown",
        "replication Established → Off",
        "peer disk UpToDate → DUnknown",
        "connection Disconnecting → StandAlone",
        "peer-device destroyed",
        "connection destroyed",
        "disk UpToDate → Failed",
        "disk Failed → Diskless",
        "device destroyed",
        "role Secondary → Unknown",
        "resource destroyed",
    ];
    assert_eq!(text, expected);

    let split_brain = changes
        .iter()
        .position(|c| matches!(c, Change::HelperCalled { name } if name == "split-brain"))
        .expect("split-brain helper called");
    let standalone = changes
        .iter()
        .position(|c| {
            matches!(
                c,
                Change::Connection {
                    new: ConnectionState::StandAlone,
                    ..
                }
            )
        })
        .expect("connection went StandAlone");
    assert!(split_brain < standalone);
    assert_eq!(
        changes[standalone],
        Change::Connection {
            old: ConnectionState::Disconnecting,
            new: ConnectionState::StandAlone
        }
    );
    assert!(!state.configured && state.initial_dump_done);
}

#[test]
fn replaying_node_b_sees_itself_outdated_then_resynced() {
    let (_, changes) = replay("events2-splitbrain-nodeB.log");
    let text: Vec<String> = changes.iter().map(ToString::to_string).collect();
    let order = [
        "role Secondary → Primary",
        "helper split-brain called",
        "connection Connected → NetworkFailure",
        "helper split-brain returned 0",
        "connection Disconnecting → StandAlone",
        "disk UpToDate → Outdated",
        "replication WFBitMapT → WFSyncUUID",
        "disk Outdated → Inconsistent",
        "replication WFSyncUUID → SyncTarget",
        "disk Inconsistent → UpToDate",
        "connection Connecting → Disconnecting",
    ];
    // Each change occurs after the one before it (the first NetworkFailure is the partition).
    let mut from = 0;
    for wanted in order {
        let found = text[from..].iter().position(|t| t == wanted);
        from += 1 + found.unwrap_or_else(|| panic!("{wanted} after #{from} in {text:#?}"));
    }
}

/// Every fixture line: events2 lines and the lines of every /proc/drbd dump.
fn fixture_lines() -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for name in [
        "events2-splitbrain-nodeA.log",
        "events2-splitbrain-nodeB.log",
    ] {
        lines.extend(fixture(name).lines().map(str::to_string));
    }
    for name in TRANSCRIPTS {
        let text = fixture(name);
        lines.extend(
            transcript_events2_lines(&text)
                .into_iter()
                .map(str::to_string),
        );
        lines.extend(
            procfs_dumps(&text)
                .iter()
                .flat_map(|d| d.lines().map(str::to_string)),
        );
    }
    lines
}

fn all_dumps() -> Vec<String> {
    TRANSCRIPTS
        .iter()
        .flat_map(|name| procfs_dumps(&fixture(name)))
        .collect()
}

/// Applies edits (position, action, character) to `text`, on char boundaries.
fn mutate(text: &str, edits: &[(prop::sample::Index, u8, char)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (index, action, c) in edits {
        let at = index.index(chars.len() + 1);
        match action % 4 {
            0 => chars.insert(at, *c),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            2 if at < chars.len() => chars[at] = *c,
            _ => chars.truncate(at),
        }
    }
    chars.into_iter().collect()
}

fn edits() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, char)>> {
    let interesting = prop_oneof![
        any::<char>(),
        prop::sample::select(vec![
            ':', ' ', '\n', '\t', '/', '%', '(', ')', '-', '0', '9', ','
        ]),
    ];
    prop::collection::vec(
        (any::<prop::sample::Index>(), any::<u8>(), interesting),
        1..6,
    )
}

proptest! {
    #[test]
    fn parsers_never_panic_on_arbitrary_text(text in any::<String>()) {
        let _ = parse_line(&text);
        let _ = procfs::parse(&text);
        let _ = parse_drbdadm_role(&text);
        let _ = parse_drbdadm_cstate(&text);
    }

    #[test]
    fn parsers_never_panic_on_structured_noise(text in "[a-zA-Z0-9:/%(),.'\\[\\]=> \t\n-]{0,300}") {
        let _ = procfs::parse(&format!("version: 8.4.11 (api:1/proto:86-101)\n{text}"));
        let _ = parse_line(&text);
    }

    #[test]
    fn mutated_fixture_lines_never_panic_and_round_trip(
        line in prop::sample::select(fixture_lines()),
        edits in edits(),
    ) {
        let mutated = mutate(&line, &edits);
        if let Ok(event) = parse_line(&mutated) {
            prop_assert_eq!(parse_line(&event.to_string()), Ok(event.clone()));
            let mut state = ResourceState::new("r0");
            let _ = state.apply(&event);
        }
    }

    #[test]
    fn mutated_procfs_dumps_never_panic(
        dump in prop::sample::select(all_dumps()),
        edits in edits(),
    ) {
        let mutated = mutate(&dump, &edits);
        if let Ok(parsed) = procfs::parse(&mutated) {
            for minor in &parsed.minors {
                let _ = ResourceState::from_procfs("r0", minor);
            }
        }
    }
}

/// Every split-brain handshake in the captured kernel logs (each transcript holds both nodes'
/// dmesg around the split): both sides were Primary when they diverged, from one common
/// generation, and DRBD dropped the connection; the later manual resolution is read too.
#[test]
fn split_brain_handshakes_in_the_captured_kernel_logs() {
    use tandem::drbd::handshake::{last_handshake, Verdict};
    for name in TRANSCRIPTS {
        let text = fixture(name);
        // Cut the transcript before each `self` line: each piece's last handshake is that one.
        let starts: Vec<usize> = text
            .match_indices("] block drbd0: self ")
            .map(|(at, _)| at)
            .collect();
        assert!(!starts.is_empty(), "{name}: no handshake");
        let mut unresolved = 0;
        for (i, start) in starts.iter().enumerate() {
            let line_start = text[..*start].rfind('\n').map_or(0, |n| n + 1);
            let end = starts.get(i + 1).map_or(text.len(), |next| {
                text[..*next].rfind('\n').map_or(*next, |n| n + 1)
            });
            let piece = &text[line_start..end];
            let handshake = last_handshake(piece, 0)
                .unwrap_or_else(|| panic!("{name}: handshake does not parse:\n{piece}"));
            if handshake.verdict == Verdict::SplitBrainUnresolved {
                unresolved += 1;
                assert!(handshake.local.primary_when_diverged(), "{name}");
                assert!(handshake.peer.primary_when_diverged(), "{name}");
                assert!(handshake.common_ancestor().is_some(), "{name}");
                assert!(
                    handshake.local.bits > 0 && handshake.peer.bits > 0,
                    "{name}"
                );
            }
        }
        assert_eq!(
            unresolved, 2,
            "{name}: one unresolved split-brain seen from each node"
        );
    }
}
