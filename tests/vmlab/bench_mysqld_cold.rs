//! `--bench-mysqld` with `TANDEM_VMLAB_BENCH_MYSQLD=cold`: a failover's start (after SIGKILL,
//! the page cache emptied, then warmed as tandemd warms it) with the VM lab engine's options
//! and variants of them. The variants run interleaved, one start each per round, so that a
//! host loaded by something else slows them all alike; then one start of some variants runs
//! under strace, for a breakdown into phases.
//!
//! - `TANDEM_VMLAB_BENCH_ROUNDS=N`: rounds (default 5);
//! - `TANDEM_VMLAB_BENCH_ONLY=0,1,…`: only these variants (by their index in [`variants`]);
//! - `TANDEM_VMLAB_BENCH_TRACE=0,1,…`: the variants traced (default the first two).
//!
//! Each start also prints the server's CPU time until it answered; under TCG the guest has one
//! vCPU, which the server shares with the probe loop's `mariadb-admin` processes.

use crate::bench_mysqld::start_and_crash_ahead;
use crate::lab::{Lab, Node};

const ROUNDS_DEFAULT: usize = 5;

/// What a failover's survivor has: an empty page cache, then tandemd's warm-up.
const COLD: &str = "sync; echo 3 > /proc/sys/vm/drop_caches; mariadbd --version >/dev/null";
const WARM: &str = "";
/// The engine config's options (tests/vmlab/files.rs) beyond the buffer pool and redo size
/// that the start script passes, and beyond the flush method, which each variant names.
const ENGINE: &str = "--skip-name-resolve --innodb-temp-data-file-path=ibtmp1:1M:autoextend \
     --innodb-use-native-aio=OFF --innodb-buffer-pool-load-at-startup=OFF \
     --innodb-read-io-threads=1 --innodb-write-io-threads=1 --innodb-purge-threads=1 \
     --innodb-adaptive-hash-index=OFF";
/// MariaDB's default since 10.6: data files opened with O_DIRECT.
const O_DIRECT: &str = "--innodb-flush-method=O_DIRECT";
/// Buffered data-file I/O, an fsync after the writes that must last (the lab's).
const FSYNC: &str = "--innodb-flush-method=fsync";
/// The redo log through the page cache too (it is O_DIRECT with either flush method).
const LOG_BUFFERING: &str = "--innodb-log-file-buffering=ON";
/// The MyISAM key cache and Aria page cache (128 MiB each by default) and the redo log
/// buffer (16 MiB) made small: less to set up at the start.
const SMALL_CACHES: &str =
    "--key-buffer-size=1M --aria-pagecache-buffer-size=8M --innodb-log-buffer-size=2M";
/// The datadir read ahead in the background, started with the server: the redo log and the
/// system tablespace first, then every file.
const READ_AHEAD: &str = "(cat $D/ib_logfile0 $D/ibdata1; find $D -type f -exec cat {} +) \
     >/dev/null 2>&1 &";

struct Variant {
    name: &'static str,
    /// Run before the timed start.
    pre: &'static str,
    /// Run in the background at the timed start, just before the server.
    ahead: &'static str,
    opts: &'static [&'static str],
}

const fn variants() -> [Variant; 8] {
    const fn v(
        name: &'static str,
        pre: &'static str,
        ahead: &'static str,
        opts: &'static [&'static str],
    ) -> Variant {
        Variant {
            name,
            pre,
            ahead,
            opts,
        }
    }
    [
        v("cold, O_DIRECT", COLD, "", &[O_DIRECT]),
        v("cold, fsync (the lab's)", COLD, "", &[FSYNC]),
        v(
            "cold, O_DIRECT, log buffered",
            COLD,
            "",
            &[O_DIRECT, LOG_BUFFERING],
        ),
        v(
            "cold, O_DIRECT, small caches",
            COLD,
            "",
            &[O_DIRECT, SMALL_CACHES],
        ),
        v(
            "cold, fsync, small caches",
            COLD,
            "",
            &[FSYNC, SMALL_CACHES],
        ),
        v(
            "cold, fsync, datadir read ahead",
            COLD,
            READ_AHEAD,
            &[FSYNC],
        ),
        v("warm, O_DIRECT", WARM, "", &[O_DIRECT]),
        v("warm, fsync", WARM, "", &[FSYNC]),
    ]
}

fn options(variant: &Variant) -> String {
    let mut all = vec![ENGINE];
    all.extend(variant.opts.iter().copied());
    all.join(" ")
}

/// A comma-separated list of indexes from `var`, or `default`.
fn indexes(var: &str, default: Vec<usize>) -> Vec<usize> {
    std::env::var(var)
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or(default)
}

pub fn compare(lab: &mut Lab) {
    let rounds = std::env::var("TANDEM_VMLAB_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ROUNDS_DEFAULT);
    let all = variants();
    let chosen: Vec<usize> = indexes("TANDEM_VMLAB_BENCH_ONLY", (0..all.len()).collect())
        .into_iter()
        .filter(|&i| i < all.len())
        .collect();
    let mut times = vec![Vec::new(); all.len()];
    for round in 0..rounds {
        for &i in &chosen {
            let v = &all[i];
            let start = start_and_crash_ahead(lab, v.pre, v.ahead, &options(v), "");
            println!(
                "  round {round} {:<34} {:>5} ms, server CPU {:>5} ms",
                v.name, start.ms, start.cpu_ms
            );
            times[i].push(start.ms);
        }
    }
    println!("\nmariadbd start after SIGKILL in vm-a, interleaved (ms until ping answers):");
    println!("| variant | median | max | runs | all, in order |");
    println!("|---|---|---|---|---|");
    for &i in &chosen {
        let mut sorted = times[i].clone();
        sorted.sort_unstable();
        println!(
            "| {} | {} | {} | {} | {:?} |",
            all[i].name,
            sorted[sorted.len() / 2],
            sorted[sorted.len() - 1],
            sorted.len(),
            times[i]
        );
    }
    for i in indexes("TANDEM_VMLAB_BENCH_TRACE", vec![0, 1]) {
        if let Some(variant) = all.get(i) {
            breakdown(lab, variant);
        }
    }
}

const TRACE: &str = "/tmp/bench-mysqld-cold.strace";

/// The error log's lines and the first opening of the datadir's main files, in ms after the
/// exec, then the server's time inside its reads, writes and syncs.
const PHASES_AWK: &str = r#"
{ t = $2 * 1000; if (t0 == "") t0 = t; rel = t - t0 }
/openat\(/ && /"(\.\/(ib|ddl|aria)|\/srv\/tandem\/mysql\/aria)/ && !/ENOENT/ {
    match($0, /"[^"]*"/); f = substr($0, RSTART, RLENGTH);
    if (!(f in seen)) { seen[f] = 1; printf "%7.0f open %s\n", rel, f } }
/write\(/ && /\[(Note|Warning|ERROR)\]/ {
    match($0, /\] .*/); m = substr($0, RSTART + 2, 90); sub(/\\n.*/, "", m);
    printf "%7.0f log %s\n", rel, m }
/(pread64|read|pwrite64|write|fsync|fdatasync)\(/ && match($0, /<[0-9.]+>$/) {
    d = substr($0, RSTART + 1, RLENGTH - 2) * 1000;
    c = $3; sub(/\(.*/, "", c); n[c]++; ms[c] += d;
    if (match($0, /= [0-9]+ </)) bytes[c] += substr($0, RSTART + 2, RLENGTH - 4) }
END { for (c in n) printf "  %-10s %5d calls %9d bytes %6.0f ms\n", c, n[c], bytes[c], ms[c] }
"#;

/// One start under strace (with a seccomp filter: only the traced calls stop the server).
fn breakdown(lab: &mut Lab, variant: &Variant) {
    let wrap = format!(
        "strace --seccomp-bpf -f -ttt -T -s 120 -e trace=execve,openat,read,write,pread64,\
         pwrite64,fsync,fdatasync -o {TRACE}"
    );
    let took = start_and_crash_ahead(lab, variant.pre, variant.ahead, &options(variant), &wrap);
    println!(
        "\n{} under strace: {} ms, server CPU {} ms; phases (ms after the exec):",
        variant.name, took.ms, took.cpu_ms
    );
    let script = format!(
        "awk '{}' {TRACE} | grep -v 'InnoDB: \\(Compressed\\|Number of\\|Using crc\\)' | head -60",
        PHASES_AWK.replace('\'', "'\\''")
    );
    println!("{}", lab.sh(Node::A, &script));
}
