//! `--bench-mysqld`: what mariadbd's start costs inside a guest, after a crash, per option set.
//! MariaDB runs on the DRBD filesystem (as the engine runs it) and is killed with SIGKILL after
//! a burst of writes, then started again with each option set in turn; each start is timed from
//! the spawn until `mariadb-admin ping` answers (what tandem's readiness probe waits for), and
//! the server's own error log gives the split. Figures for docs/operations.md, not pass/fail.

use crate::env::LabEnv;
use crate::lab::{Lab, Node, MOUNTPOINT};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;

/// Starts per option set; the median is printed.
const STARTS_PER_SET: usize = 3;

/// Before a start: nothing (a warm page cache), or the page cache emptied (the survivor of a
/// failover has never read the new mount's files), then warmed as tandemd warms it.
const WARM: &str = "";
const COLD: &str = "sync; echo 3 > /proc/sys/vm/drop_caches";
/// tandemd's warm-up (exec/mysqld/warm.rs): `mariadbd --version`.
const COLD_VERSION: &str = "sync; echo 3 > /proc/sys/vm/drop_caches; mariadbd --version >/dev/null";
/// A fuller warm-up, tried and measured: also reading the binary and its libraries whole.
const COLD_WARMED: &str = "sync; echo 3 > /proc/sys/vm/drop_caches; mariadbd --version \
     >/dev/null; cat /usr/sbin/mariadbd $(ldd /usr/sbin/mariadbd | awk '$3 ~ /^\\// {print $3}') \
     >/dev/null";
const SMALL_IBTMP1: &str = "--innodb-temp-data-file-path=ibtmp1:1M:autoextend";

/// The option sets compared (name, what runs before the start, options on top of the lab's
/// engine options).
const SETS: [(&str, &str, &str); 9] = [
    ("lab defaults", WARM, ""),
    ("small ibtmp1", WARM, SMALL_IBTMP1),
    (
        "small ibtmp1, no buffer pool load",
        WARM,
        "--innodb-temp-data-file-path=ibtmp1:1M:autoextend \
         --innodb-buffer-pool-load-at-startup=OFF",
    ),
    (
        "small ibtmp1, no buffer pool load, no io_uring",
        WARM,
        "--innodb-temp-data-file-path=ibtmp1:1M:autoextend \
         --innodb-buffer-pool-load-at-startup=OFF --innodb-use-native-aio=OFF",
    ),
    ("small ibtmp1, cold cache", COLD, SMALL_IBTMP1),
    (
        "small ibtmp1, cold, --version warm-up",
        COLD_VERSION,
        SMALL_IBTMP1,
    ),
    (
        "small ibtmp1, cold, binary+libs read",
        COLD_WARMED,
        SMALL_IBTMP1,
    ),
    (
        "cold, + no buffer pool load, no native AIO",
        COLD_VERSION,
        "--innodb-temp-data-file-path=ibtmp1:1M:autoextend \
         --innodb-buffer-pool-load-at-startup=OFF --innodb-use-native-aio=OFF",
    ),
    (
        "cold, + one I/O and purge thread each, no AHI",
        COLD_VERSION,
        "--innodb-temp-data-file-path=ibtmp1:1M:autoextend \
         --innodb-buffer-pool-load-at-startup=OFF --innodb-use-native-aio=OFF \
         --innodb-read-io-threads=1 --innodb-write-io-threads=1 --innodb-purge-threads=1 \
         --innodb-adaptive-hash-index=OFF",
    ),
];

/// The guest script: start with OPTS, time until ping answers, write a burst, SIGKILL.
const START_AND_CRASH: &str = r#"
D=__MOUNT__/mysql
S=/run/mysqld/bench.sock
mkdir -p /run/mysqld && chown mysql /run/mysqld
__PRE__
t0=$(date +%s%N)
__AHEAD__
__WRAP__ mariadbd --no-defaults --user=mysql --datadir=$D --socket=$S --skip-networking \
  --innodb-buffer-pool-size=32M --innodb-log-file-size=8M --log-error=$D/bench.err \
  __OPTS__ >/dev/null 2>&1 &
pid=$!
# At most 300 probes (each a process start: well over 30 s under TCG), then the log says why.
n=0
until mariadb-admin --socket=$S ping >/dev/null 2>&1; do
  sleep 0.02; n=$((n + 1))
  if [ $n -gt 300 ]; then tail -30 $D/bench.err; ps -ef | grep -v grep | grep mariadbd; kill -9 $pid; exit 1; fi
done
t1=$(date +%s%N)
# The server's CPU time so far (user + system, in clock ticks): the rest of the start waited.
echo cpu $(cut -d" " -f14,15 /proc/$(cat $D/$(hostname).pid)/stat)
mariadb --socket=$S -e "CREATE DATABASE IF NOT EXISTS b; CREATE TABLE IF NOT EXISTS b.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB; INSERT INTO b.t (v) SELECT REPEAT('x', 200) FROM seq_1_to_2000"
# Under a wrapper (strace), $pid is the wrapper: the server's pid file names the server.
kill -9 $(cat $D/$(hostname).pid) $pid; wait $pid 2>/dev/null
echo $(( (t1 - t0) / 1000000 ))
"#;

pub fn run(env: &LabEnv) -> ExitCode {
    let mut lab = match Lab::start(env) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("bench: FAILED: the guests did not come up: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| measure(&mut lab)));
    lab.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => {
            eprintln!("bench: FAILED (see the message above)");
            ExitCode::FAILURE
        }
    }
}

fn measure(lab: &mut Lab) {
    prepare(lab);
    if std::env::var("TANDEM_VMLAB_BENCH_MYSQLD").as_deref() == Ok("cold") {
        crate::bench_mysqld_cold::compare(lab);
        return;
    }
    println!("\nmariadbd start after SIGKILL, in vm-a (ms until ping answers):");
    for (name, pre, opts) in SETS {
        let mut times: Vec<u64> = (0..STARTS_PER_SET)
            .map(|_| start_and_crash(lab, pre, opts, ""))
            .collect();
        times.sort_unstable();
        println!(
            "  {name:<48} median {:>5} ms  ({times:?})",
            times[times.len() / 2]
        );
    }
    let log = lab.sh(Node::A, &format!("tail -25 {MOUNTPOINT}/mysql/bench.err"));
    println!("\nthe last start's error log:\n{log}");
    stalls(lab);
    processes(lab);
}

/// DRBD up, vm-a Primary, a fresh filesystem with the template datadir, and one crash, so
/// that every timed start recovers from one.
pub fn prepare(lab: &mut Lab) {
    lab.baseline();
    lab.tandem_ok(Node::A, "drbd primary");
    let template = lab.env.mariadb_template.clone();
    lab.sh(
        Node::A,
        &format!(
            "mkfs.ext4 -q -F /dev/drbd0 && mount /dev/drbd0 {MOUNTPOINT} && \
             cp -a {} {MOUNTPOINT}/mysql && chown -R mysql:mysql {MOUNTPOINT}/mysql",
            template.display()
        ),
    );
    start_and_crash(lab, WARM, "", "");
}

/// The system calls after which a cold start waited longest.
const STALL_REPORT_LINES: usize = 25;

/// One cold start under strace: the longest gaps between the server's system calls (file
/// opens, reads, fsyncs), to show where a failover's mysqld phase waits.
fn stalls(lab: &mut Lab) {
    let trace = "/tmp/bench-mysqld.strace";
    let wrap = format!(
        "strace -f -ttt -e trace=openat,read,pread64,pwrite64,fsync,fdatasync,io_uring_enter,\
         execve,mmap,clone,clone3 -o {trace}"
    );
    let took = start_and_crash(lab, COLD_WARMED, SMALL_IBTMP1, &wrap);
    println!(
        "\na cold start (binary and libraries read first) under strace took {took} ms; its longest waits (s, then the call before):"
    );
    let script = format!(
        "awk '{{ t = $2; if (p != \"\") printf \"%.3f %s\\n\", t - p, prev; p = t; prev = $0 }}' {trace} \
         | sort -rn | head -{STALL_REPORT_LINES} | cut -c1-200"
    );
    println!("{}", lab.sh(Node::A, &script));
}

/// What starting a process costs in the guest: DRBD's fence-peer handler is one (the shim,
/// then `tandem helper`), on the failover's critical path. Without a tandemd to ask, the
/// handler fails at once after its start, which is what is timed.
fn processes(lab: &mut Lab) {
    let helper = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/kernel-helpers/tandem-kernel-helper"
    );
    println!("\nprocess starts in vm-a (ms, 3 runs, `date` calls included):");
    for (name, command) in [
        ("sh -c :", "sh -c :".to_string()),
        (
            "fence-peer handler, no tandemd",
            format!("DRBD_RESOURCE=r0 sh {helper} fence-peer"),
        ),
        // What DRBD's usermode helper and tandem's promote run: the drbd-utils 9 wrapper,
        // which finds the 8.4 module and runs drbdadm-84, which runs drbdsetup-84.
        ("drbdadm role r0", "drbdadm role r0".to_string()),
        (
            "/lib/drbd/drbdadm-84 role r0",
            "/lib/drbd/drbdadm-84 role r0".to_string(),
        ),
        (
            "/lib/drbd/drbdsetup-84 role 0",
            "/lib/drbd/drbdsetup-84 role 0".to_string(),
        ),
    ] {
        let script = format!(
            "for i in 1 2 3; do t0=$(date +%s%N); {command} >/dev/null 2>&1; \
             t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); done"
        );
        let out = lab.sh(Node::A, &script);
        let times: Vec<&str> = out.lines().map(str::trim).collect();
        println!("  {name:<34} {}", times.join(" "));
    }
    let dry = lab.sh(
        Node::A,
        "drbdadm -d primary r0 2>&1; drbdadm -d fence-peer r0 2>&1 | head -3",
    );
    println!("\nwhat `drbdadm primary r0` and `drbdadm fence-peer r0` run (-d):\n{dry}");
}

fn start_and_crash(lab: &mut Lab, pre: &str, opts: &str, wrap: &str) -> u64 {
    start_and_crash_ahead(lab, pre, "", opts, wrap).ms
}

/// One timed start.
pub struct Start {
    /// From the spawn until `mariadb-admin ping` answers.
    pub ms: u64,
    /// The server's CPU time (user + system) by then.
    pub cpu_ms: u64,
}

/// Clock ticks per second in the guests' /proc (USER_HZ).
const TICKS_PER_SECOND: u64 = 100;

/// Runs `ahead` in the background just before the server, as tandemd would right after the
/// mount; `wrap` (e.g. strace) runs the server.
pub fn start_and_crash_ahead(
    lab: &mut Lab,
    pre: &str,
    ahead: &str,
    opts: &str,
    wrap: &str,
) -> Start {
    let script = START_AND_CRASH
        .replace("__MOUNT__", MOUNTPOINT)
        .replace("__PRE__", pre)
        .replace("__AHEAD__", ahead)
        .replace("__WRAP__", wrap)
        .replace("__OPTS__", opts);
    let out = lab.sh(Node::A, &script);
    let ticks: u64 = out
        .lines()
        .find_map(|line| line.strip_prefix("cpu "))
        .map(|cpu| {
            cpu.split_whitespace()
                .filter_map(|t| t.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or_else(|| panic!("no CPU time from the guest: {out}"));
    let ms = out
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .unwrap_or_else(|| panic!("no timing from the guest: {out}"));
    Start {
        ms,
        cpu_ms: ticks * 1000 / TICKS_PER_SECOND,
    }
}
