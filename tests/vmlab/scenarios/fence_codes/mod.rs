//! What the DRBD 8.4 kernel does with each exit code of the fence-peer handler, measured on the
//! lab's real kernel. The handler is a two-line script that counts its call and exits with the
//! code under test: no tandem in the path, so this measures the kernel (`conn_try_outdate_peer`
//! in drbd_nl.c), not tandem's answer.
//!
//! - (a) Promote: vm-b is Secondary, UpToDate, disconnected by `drbdadm disconnect` (peer disk
//!   DUnknown), `fencing resource-only`; `drbdadm primary` runs the handler.
//! - (b) Connection loss: vm-a is Primary and connected; the replication link is cut, so vm-a
//!   runs the handler; with `fencing resource-only` and with `resource-and-stonith`. A 4 KiB
//!   direct write tells whether I/O is frozen; frozen I/O is thawed with `drbdadm resume-io`.
//!   Under resource-and-stonith, codes 3, 4 and 6 run only with `TANDEM_VMLAB_FENCE_ALL=1`, to
//!   keep the scenario within its 120 s budget.
//!
//! Each case is one guest script that arms the handler, acts and reports (the handler's calls,
//! /proc/drbd, events2, the kernel log since the case began); the host folds the events2 dump
//! into tandem's model. The table is printed, then every row is checked against
//! expected.rs: the test fails if the kernel behaves otherwise. docs/decisions.md ("DRBD 8.4
//! fence-peer exit codes (measured)") holds the table.

mod expected;

use crate::files::config_path;
use crate::lab::{Lab, Link, Node, NODES, RESOURCE};
use expected::{Expect, Seen, Situation, RESOURCE_ONLY, STONITH};
use std::collections::HashMap;
use std::time::Instant;
use tandem::config::Fencing;
use tandem::drbd::events2::parse_line;
use tandem::drbd::procfs;
use tandem::drbd::ResourceState;

/// Where the handler, the code under test and the call count live in each guest.
const DIR: &str = "/srv/fence-codes";
/// The handler DRBD runs (through `drbdadm fence-peer`, which runs it with `/bin/sh -c`).
const HANDLER: &str = "echo called >> /srv/fence-codes/calls\n\
                       exit \"$(cat /srv/fence-codes/code)\"\n";
/// Waits in the guest, reading /proc/drbd, until Connected and UpToDate/UpToDate. A reconnect
/// and the resync of a few blocks take ~2–4 s under TCG; the cap (~45 s) stays under the
/// lab's command timeout.
const WAIT_IN_SYNC: &str =
    "i=0; until grep -q 'cs:Connected .*ds:UpToDate/UpToDate' /proc/drbd; do\n  \
     i=$((i+1)); [ $i -lt 450 ] || { cat /proc/drbd >&2; exit 1; }; sleep 0.1\n\
     done\n";
/// vm-b's state for (a): disconnected Secondary, its disk UpToDate, the peer's unknown.
const PROMOTE_START: &str = "cs:StandAlone ro:Secondary/Unknown ds:UpToDate/DUnknown";
/// Tenths of a second a 4 KiB direct write may take before I/O counts as frozen; it takes
/// ~0.1 s when I/O flows.
const IO_PROBE_TENTHS: u32 = 20;
/// Tenths of a second until the Primary has run the handler after the cut: it sees the cut
/// after ~1–2 s (ping-int 1, ping-timeout 0.5 s) and runs it at once; TCG may stretch that.
const HELPER_TENTHS: u32 = 300;
/// `TANDEM_VMLAB_FENCE_ALL=1` also runs codes 3, 4 and 6 under resource-and-stonith (~20 s more);
/// by default they are left out to keep the scenario near its 120 s budget.
const ALL_CODES_ENV: &str = "TANDEM_VMLAB_FENCE_ALL";

pub fn run(lab: &mut Lab) {
    let started = Instant::now();
    let (promote, resource_only, stonith) = (
        expected::promote_expected(),
        expected::resource_only_expected(),
        expected::stonith_expected(std::env::var(ALL_CODES_ENV).is_ok_and(|v| v == "1")),
    );
    install_handler(lab, &RESOURCE_ONLY);
    let mut rows = Vec::new();
    for expect in &promote {
        rows.push((expect, promote_case(lab, expect.code)));
    }
    let promoted = started.elapsed();
    lab.heal(Link::Replication);
    lab.sh(Node::B, &reconnect_script());
    for expect in &resource_only {
        rows.push((expect, loss_case(lab, &RESOURCE_ONLY, expect.code)));
    }
    install_handler(lab, &STONITH);
    for expect in &stonith {
        rows.push((expect, loss_case(lab, &STONITH, expect.code)));
    }
    let lost = started.elapsed() - promoted;
    restore(lab);
    keep_kernel_logs(lab, &rows);
    println!(
        "    (a) {} promote cases {:.1} s, (b) {} connection-loss cases {:.1} s",
        promote.len(),
        promoted.as_secs_f64(),
        resource_only.len() + stonith.len(),
        lost.as_secs_f64()
    );
    expected::print_table(&rows);
    let wrong: Vec<String> = rows
        .iter()
        .flat_map(|(e, s)| expected::mismatches(e, s))
        .collect();
    assert!(
        wrong.is_empty(),
        "the kernel differs from the expectation:\n{}",
        wrong.join("\n")
    );
}

/// The handler script on both nodes, and the lab's resource rendered with it as fence-peer,
/// `fencing` set, and `connect-int 1` (a healed link reconnects in ~1 s, not DRBD's 10 s);
/// `drbdadm adjust` applies it to the live resource. DRBD's own usermode helper (drbdadm) is
/// put back in case an engine scenario's tandemd made `tandem-drbd-helper` it in this boot:
/// this scenario measures the kernel with drbdadm running the handler.
fn install_handler(lab: &mut Lab, fencing: &Fencing) {
    let script = format!(
        "set -e\nmkdir -p {DIR}\n\
         printf %s /sbin/drbdadm > /sys/module/drbd/parameters/usermode_helper\n\
         cat > {DIR}/fence-peer.sh <<'EOF'\n{HANDLER}EOF\n\
         tandem drbd render | sed \
           -e 's|^\\( *fence-peer \\).*|\\1\"/bin/sh {DIR}/fence-peer.sh\";|' \
           -e 's|fencing dont-care;|fencing {fencing};|' \
           -e 's|protocol C;|protocol C; connect-int 1;|' > /etc/drbd.d/{RESOURCE}.res\n\
         grep -q '{DIR}/fence-peer.sh' /etc/drbd.d/{RESOURCE}.res\n\
         drbdadm adjust {RESOURCE}\n\
         show=$(drbdsetup show {RESOURCE})\n\
         echo \"$show\" | grep -q 'fencing[[:space:]]*{fencing};' && exit 0\n\
         echo \"$show\" >&2; exit 1\n"
    );
    lab.both(|_, guest| guest.sh(&script));
}

/// The code the handler answers, its call count zeroed, and a mark in the kernel log.
fn arm(code: u8, mark: &str) -> String {
    format!("echo {code} > {DIR}/code && : > {DIR}/calls && echo '{mark}' > /dev/kmsg\n")
}

/// Prints the handler's calls, /proc/drbd, events2 and the kernel log since `mark`, each after
/// a `== NAME` line.
fn report(mark: &str) -> String {
    format!(
        "echo '== calls'; cat {DIR}/calls\n\
         echo '== proc'; cat /proc/drbd\n\
         echo '== events2'; drbdsetup events2 {RESOURCE} --now --statistics\n\
         echo '== kernel'; dmesg | sed -n '/{mark}/,$p'\n"
    )
}

/// Link up, vm-b Secondary, connected and in sync (vm-b's script).
fn reconnect_script() -> String {
    format!(
        "set -e\n\
         if grep -q 'ro:Primary/' /proc/drbd; then drbdadm secondary {RESOURCE}; fi\n\
         if grep -q 'cs:StandAlone' /proc/drbd; then drbdadm connect {RESOURCE}; fi\n\
         {WAIT_IN_SYNC}"
    )
}

/// (a): vm-b, Secondary, UpToDate, disconnected, runs `drbdadm primary`.
fn promote_case(lab: &mut Lab, code: u8) -> Seen {
    lab.heal(Link::Replication);
    let ready = format!(
        "grep -q '{PROMOTE_START}' /proc/drbd && exit 0\n\
         {reconnect}\
         drbdadm disconnect {RESOURCE}\n\
         i=0; until grep -q '{PROMOTE_START}' /proc/drbd; do\n  \
           i=$((i+1)); [ $i -lt 300 ] || {{ cat /proc/drbd >&2; exit 1; }}; sleep 0.1\n\
         done\n",
        reconnect = reconnect_script()
    );
    lab.sh(Node::B, &ready);
    let mark = format!("tandem-vmlab fence-codes: promote code {code}");
    let out = lab.sh(
        Node::B,
        &format!(
            "{arm}drbdadm primary {RESOURCE} 2>{DIR}/drbdadm.err; rc=$?\n\
             echo '== rc'; echo $rc; echo '== drbdadm'; cat {DIR}/drbdadm.err\n{report}",
            arm = arm(code, &mark),
            report = report(&mark)
        ),
    );
    seen(&Sections::parse(&out))
}

/// (b): vm-a, Primary and connected, loses the replication link. After the previous case's
/// heal, vm-b reconnects by itself (connect-int 1); vm-a's first script waits for that.
fn loss_case(lab: &mut Lab, fencing: &Fencing, code: u8) -> Seen {
    lab.heal(Link::Replication);
    let mark = format!("tandem-vmlab fence-codes: Primary lost peer, {fencing}, code {code}");
    lab.sh(
        Node::A,
        &format!(
            "set -e\n{WAIT_IN_SYNC}\
             grep -q 'ro:Primary/' /proc/drbd || drbdadm primary {RESOURCE}\n{}",
            arm(code, &mark)
        ),
    );
    lab.cut(Link::Replication);
    let out = lab.sh(
        Node::A,
        &format!(
            "returned() {{ [ -s {DIR}/calls ] && \
               dmesg | sed -n '/{mark}/,$p' | grep -q 'fence-peer helper'; }}\n\
             i=0; until returned; do\n  \
               i=$((i+1)); [ $i -lt {HELPER_TENTHS} ] || exit 1; sleep 0.1\n\
             done\n\
             rm -f {DIR}/dd.rc\n\
             setsid sh -c 'dd if=/dev/zero of=/dev/drbd0 bs=4096 count=1 seek=15000 \
               oflag=direct 2>/dev/null; echo $? > {DIR}/dd.rc' </dev/null >/dev/null 2>&1 &\n\
             {wait_dd}{report}",
            wait_dd = wait_for_write(IO_PROBE_TENTHS),
            report = report(&mark)
        ),
    );
    let sections = Sections::parse(&out);
    let mut seen = seen(&sections);
    let completed = sections.io_completed();
    seen.io_completed = Some(completed);
    if !completed {
        let label = format!("fence-frozen-{fencing}-{code}");
        lab.keep(Node::A, &label, "proc-drbd.txt", sections.get("proc"));
        lab.keep(Node::A, &label, "events2-now.txt", sections.get("events2"));
        let after = thaw(lab, &mark);
        seen.thawed = Some(after.io_completed == Some(true) && after.suspended == (false, false));
        seen.kernel = after.kernel;
    }
    lab.heal(Link::Replication);
    seen
}

/// Waits up to `tenths` for the probe write's exit code, then prints `== io` and it, or
/// `blocked`.
fn wait_for_write(tenths: u32) -> String {
    format!(
        "i=0; while [ ! -s {DIR}/dd.rc ] && [ $i -lt {tenths} ]; do sleep 0.1; i=$((i+1)); done\n\
         echo '== io'; cat {DIR}/dd.rc 2>/dev/null || echo blocked\n"
    )
}

/// `drbdadm resume-io` on vm-a, and what followed: did the blocked write complete, does I/O
/// run again?
fn thaw(lab: &mut Lab, mark: &str) -> Seen {
    let out = lab.sh(
        Node::A,
        &format!(
            "drbdadm resume-io {RESOURCE}\n{}{}",
            wait_for_write(100),
            report(mark)
        ),
    );
    let sections = Sections::parse(&out);
    Seen {
        io_completed: Some(sections.io_completed()),
        ..seen(&sections)
    }
}

/// The `== NAME` sections of a case's output.
struct Sections(HashMap<String, String>);

impl Sections {
    fn parse(out: &str) -> Sections {
        let mut sections = HashMap::new();
        let mut name = String::new();
        for line in out.lines() {
            if let Some(next) = line.strip_prefix("== ") {
                name = next.to_string();
                continue;
            }
            let text: &mut String = sections.entry(name.clone()).or_default();
            text.push_str(line);
            text.push('\n');
        }
        Sections(sections)
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    fn io_completed(&self) -> bool {
        match self.get("io").trim() {
            "0" => true,
            "blocked" => false,
            other => panic!("the probe write failed: {other}"),
        }
    }
}

/// Reads a case's report: events2 folded into tandem's model, /proc/drbd parsed by tandem.
fn seen(sections: &Sections) -> Seen {
    let mut state = ResourceState::new(RESOURCE);
    for line in sections.get("events2").lines().filter(|l| !l.is_empty()) {
        let event = parse_line(line).unwrap_or_else(|e| panic!("events2 {line:?}: {e}"));
        state.apply(&event);
    }
    let proc_drbd = procfs::parse(sections.get("proc")).unwrap_or_else(|e| panic!("{e}"));
    let minor = proc_drbd
        .minor(0)
        .unwrap_or_else(|| panic!("no minor 0 in {}", sections.get("proc")));
    let kernel = sections.get("kernel").lines().skip(1); // the mark
    Seen {
        rc: sections.0.get("rc").map(|rc| rc.trim().parse().unwrap()),
        drbdadm: sections.get("drbdadm").to_string(),
        proc_states: (
            minor.role.clone(),
            minor.disk.clone(),
            minor.peer_disk.clone(),
        ),
        suspended: (state.suspended, minor.suspended()),
        role: state.role,
        disk: state.disk,
        peer_disk: state.peer_disk,
        io_completed: None,
        thawed: None,
        calls: sections.get("calls").lines().count(),
        kernel: kernel
            .map(|line| match line.split_once("] ") {
                Some((stamp, rest)) if stamp.starts_with('[') => rest.to_string(),
                _ => line.to_string(),
            })
            .collect(),
    }
}

/// Back to the lab's resource (its fence-peer, `fencing dont-care`, default connect-int), both
/// Secondary, in sync.
fn restore(lab: &mut Lab) {
    lab.heal(Link::Replication);
    lab.sh(Node::B, &reconnect_script());
    let config = config_path(&lab.run_dir, 'C');
    let script = format!(
        "set -e\n{WAIT_IN_SYNC}\
         if grep -q 'ro:Primary/' /proc/drbd; then drbdadm secondary {RESOURCE}; fi\n\
         cp {} /etc/tandem/tandem.toml && tandem drbd render > /etc/drbd.d/{RESOURCE}.res\n\
         drbdadm adjust {RESOURCE}\n\
         ! drbdsetup show {RESOURCE} | grep -q fencing\n",
        config.display()
    );
    for node in NODES {
        lab.sh(node, &script);
    }
    lab.wait_in_sync(std::time::Duration::from_secs(60));
}

/// The kernel's words per case, one file per node, into the run's captures (and, blessed,
/// tests/fixtures/vmlab/fence-codes.NODE.kernel.txt).
fn keep_kernel_logs(lab: &mut Lab, rows: &[(&Expect, Seen)]) {
    for node in NODES {
        let mut text = String::new();
        for (expect, seen) in rows {
            let on_b = expect.situation == Situation::Promote;
            if on_b == (node == Node::B) {
                let case = expected::situation(expect);
                text.push_str(&format!("## {case}, exit code {}\n", expect.code));
                text.extend(seen.kernel.iter().map(|l| format!("{l}\n")));
            }
        }
        lab.keep(node, "fence-codes", "kernel.txt", &text);
    }
}
