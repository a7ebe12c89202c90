//! The parsers against real outputs captured in the VM lab (DRBD 8.4.11 in the guests,
//! drbd-utils 9.22), kept in tests/fixtures/vmlab/ by `TANDEM_BLESS=1 cargo test --test vmlab`.
//! Every line of every capture must parse, and each capture's state must read as its label
//! says.

use std::fs;
use std::path::{Path, PathBuf};
use tandem::drbd::events2::parse_line;
use tandem::drbd::procfs;
use tandem::drbd::words::{parse_drbdadm_cstate, parse_drbdadm_dstate, parse_drbdadm_role};
use tandem::drbd::{ReplicationState, ResourceState};

/// The captures whose file name ends with `kind` (or with any of `|`-separated kinds).
fn captures(kind: &str) -> Vec<(String, String)> {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vmlab");
    let mut found: Vec<(String, String)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| kind.split('|').any(|k| name.ends_with(k)))
        .map(|name| {
            let text = fs::read_to_string(dir.join(&name)).unwrap();
            (name, text)
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no *{kind} capture in {}", dir.display());
    found
}

#[test]
fn every_captured_events2_line_parses_and_folds_into_the_model() {
    for (name, text) in captures("events2-now.txt|events2.log") {
        let mut state = ResourceState::new("r0");
        let mut helpers = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let event = parse_line(line).unwrap_or_else(|e| panic!("{name}: {line:?}: {e}"));
            helpers.extend(event.helper().map(str::to_string));
            state.apply(&event);
        }
        assert!(state.configured, "{name}: the resource is not in the dump");
        if name.starts_with("fence-frozen") {
            // I/O frozen by `fencing resource-and-stonith` after a failed fence-peer.
            assert!(
                state.suspended,
                "{name}: suspended:fencing is not read as suspended"
            );
        }
        if name.starts_with("split-brain.") {
            // The real split-brain story: both helpers, in DRBD's order.
            let first = helpers.iter().position(|h| h == "initial-split-brain");
            let then = helpers.iter().position(|h| h == "split-brain");
            assert!(first.is_some() && first < then, "{name}: {helpers:?}");
        }
    }
}

#[test]
fn every_captured_proc_drbd_parses_with_no_unknown_line() {
    for (name, text) in captures("proc-drbd.txt") {
        let parsed = procfs::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            parsed.other_lines.is_empty(),
            "{name}: {:?}",
            parsed.other_lines
        );
        if name.starts_with("down.") {
            assert!(parsed.minor(0).is_none(), "{name}: a minor while down");
            continue;
        }
        let minor = parsed
            .minor(0)
            .unwrap_or_else(|| panic!("{name}: no minor 0"));
        if name.starts_with("fence-frozen") {
            assert!(
                minor.suspended(),
                "{name}: the `s` I/O flag is not read as suspended"
            );
        }
        if name.starts_with("syncing.") {
            assert_eq!(minor.replication, ReplicationState::SyncSource, "{name}");
            let resync = minor
                .resync
                .as_ref()
                .expect("a progress line while syncing");
            assert!(resync.done_percent < 100.0, "{name}: {resync:?}");
        }
    }
}

#[test]
fn every_captured_drbdadm_output_parses() {
    for (name, text) in captures("drbdadm.txt") {
        let mut lines = text.lines();
        while let Some(command) = lines.next() {
            let output = format!("{}\n", lines.next().unwrap_or_default());
            let parsed = match command.split_whitespace().nth(2) {
                Some("cstate") => parse_drbdadm_cstate(&output).map(|p| format!("{p:?}")),
                Some("dstate") => parse_drbdadm_dstate(&output).map(|p| format!("{p:?}")),
                Some("role") => parse_drbdadm_role(&output).map(|p| format!("{p:?}")),
                other => panic!("{name}: unexpected command {other:?}"),
            };
            parsed.unwrap_or_else(|e| panic!("{name}: {command}: {output:?}: {e}"));
        }
        if name.starts_with("connected-uptodate.") {
            assert!(text.contains("Connected\n") && text.contains("UpToDate/UpToDate"));
        }
    }
}

#[test]
fn captured_split_brain_kernel_logs_show_both_sides_diverged_as_primary() {
    use tandem::drbd::handshake::{last_handshake, Verdict};
    let logs = captures("split-brain.vm-a.dmesg.txt|split-brain.vm-b.dmesg.txt");
    assert_eq!(logs.len(), 2, "one kernel log per node");
    let [(_, a), (_, b)] = [&logs[0], &logs[1]].map(|(name, text)| {
        let handshake = last_handshake(text, 0).unwrap_or_else(|| panic!("{name}: no handshake"));
        (name.clone(), handshake)
    });
    for handshake in [&a, &b] {
        assert_eq!(handshake.verdict, Verdict::SplitBrainUnresolved);
        assert!(handshake.local.primary_when_diverged() && handshake.peer.primary_when_diverged());
    }
    // What each node logged about its peer is what the peer logged about itself.
    assert_eq!(a.peer.current, b.local.current);
    assert_eq!(b.peer.current, a.local.current);
    assert_eq!(a.common_ancestor(), b.common_ancestor());
}
