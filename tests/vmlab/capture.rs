//! Real outputs of the lab's kernels, checked by tandem's parsers the moment they are taken and
//! kept in `RUN/captures/`. With `TANDEM_BLESS=1` a passing run copies them into
//! `tests/fixtures/vmlab/`, where tests/vmlab_fixtures.rs keeps the parsers tested against them
//! on every host run.

use crate::lab::{Lab, Node, RESOURCE};
use std::fs;
use std::path::{Path, PathBuf};
use tandem::drbd::events2::{parse_line, Event};
use tandem::drbd::procfs::{self, ProcDrbd};
use tandem::drbd::words::{parse_drbdadm_cstate, parse_drbdadm_dstate, parse_drbdadm_role};

/// Where blessed captures go.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vmlab")
}

impl Lab {
    /// Keeps `text` as `RUN/captures/LABEL.NODE.KIND` (blessed with the others).
    pub fn keep(&self, node: Node, label: &str, kind: &str, text: &str) {
        let file = self
            .captures
            .join(format!("{label}.{}.{kind}", node.name()));
        fs::write(&file, text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }

    /// `/proc/drbd`, parsed by `drbd::procfs`.
    pub fn capture_proc_drbd(&mut self, node: Node, label: &str) -> ProcDrbd {
        let text = self.sh(node, "cat /proc/drbd");
        let parsed = procfs::parse(&text)
            .unwrap_or_else(|e| panic!("[{}] /proc/drbd does not parse: {e}\n{text}", node.name()));
        assert!(
            parsed.other_lines.is_empty(),
            "/proc/drbd lines tandem does not know: {:?}",
            parsed.other_lines
        );
        self.keep(node, label, "proc-drbd.txt", &text);
        parsed
    }

    /// `drbdadm cstate|dstate|role`, each parsed by `drbd::words`, kept as a transcript.
    pub fn capture_drbdadm(&mut self, node: Node, label: &str) -> String {
        let mut transcript = String::new();
        for command in ["cstate", "dstate", "role"] {
            let output = self.sh(node, &format!("drbdadm {command} {RESOURCE}"));
            let parsed = match command {
                "cstate" => parse_drbdadm_cstate(&output).map(|p| format!("{p:?}")),
                "dstate" => parse_drbdadm_dstate(&output).map(|p| format!("{p:?}")),
                _ => parse_drbdadm_role(&output).map(|p| format!("{p:?}")),
            };
            parsed.unwrap_or_else(|e| panic!("drbdadm {command} output {output:?}: {e}"));
            transcript.push_str(&format!("$ drbdadm {command} {RESOURCE}\n{output}"));
        }
        self.keep(node, label, "drbdadm.txt", &transcript);
        transcript
    }

    /// The kernel log, whose last handshake `drbd::handshake` must read.
    pub fn capture_dmesg(&mut self, node: Node, label: &str) -> String {
        let text = self.sh(node, "dmesg");
        assert!(
            tandem::drbd::handshake::last_handshake(&text, 0).is_some(),
            "[{}] no handshake in dmesg",
            node.name()
        );
        self.keep(node, label, "dmesg.txt", &text);
        text
    }

    /// `drbdsetup events2 --now --statistics`, every line parsed.
    pub fn capture_events2_now(&mut self, node: Node, label: &str) -> Vec<Event> {
        let text = self.sh(
            node,
            &format!("drbdsetup events2 {RESOURCE} --now --statistics"),
        );
        let events = parse_all(&text, node);
        self.keep(node, label, "events2-now.txt", &text);
        events
    }

    /// Starts a raw `drbdsetup events2 --timestamps --statistics all` recording.
    pub fn start_events2_log(&mut self, node: Node, label: &str) -> PathBuf {
        let name = format!("events2-{label}");
        self.spawn(
            node,
            &name,
            "drbdsetup events2 --timestamps --statistics all",
        )
    }

    /// Stops the recording, checks every line parses, and keeps it.
    pub fn finish_events2_log(&mut self, node: Node, label: &str, log: &Path) -> Vec<Event> {
        self.stop(node, &format!("events2-{label}"));
        let text = fs::read_to_string(log).unwrap_or_default();
        let events = parse_all(&text, node);
        self.keep(node, label, "events2.log", &text);
        events
    }

    /// Copies this run's captures into tests/fixtures/vmlab/ (TANDEM_BLESS=1, after a pass).
    pub fn bless_captures(&self) -> std::io::Result<usize> {
        let target = fixtures_dir();
        fs::create_dir_all(&target)?;
        let mut copied = 0;
        for entry in fs::read_dir(&self.captures)?.flatten() {
            fs::copy(entry.path(), target.join(entry.file_name()))?;
            copied += 1;
        }
        Ok(copied)
    }
}

fn parse_all(text: &str, node: Node) -> Vec<Event> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            parse_line(line)
                .unwrap_or_else(|e| panic!("[{}] events2 line does not parse: {e}", node.name()))
        })
        .collect()
}
