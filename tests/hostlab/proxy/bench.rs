//! The proxy's benchmark (figures, never an assertion; run by tests/bench-proxy.sh):
//! sysbench straight to the primary (the VIP), through HAProxy in TCP mode (Debian's
//! haproxy, its one backend the VIP) and through tandem proxy. oltp_read_write runs on the
//! single primary (transactions: the proxy sends all of it there); oltp_read_only
//! (`--skip_trx`) may use the two replicas through tandem proxy. Throughput and the p50/p99
//! latency from sysbench's histogram, and each proxy's own CPU time per query: the process's
//! user + system time (`/proc/PID/stat`, all threads) over the run, divided by the queries
//! sysbench reports. Unlike throughput on two shared cores, that figure does not depend on
//! what else runs on the machine (beyond cache effects).

use super::{start_all, CATCH_UP_TIMEOUT, PROXY};
use crate::engine::wait_for;
use crate::fixture::{Lab, VIP};
use std::time::Duration;

/// HAProxy inside the client's namespace, beside tandem proxy.
const HAPROXY: &str = "127.0.0.1:3308";
/// One sysbench run; long enough for the servers' caches to be warm after the first second.
const RUN_S: u64 = 10;
/// Rounds of runs, each taking the targets in turn: the host's other load comes and goes,
/// and a median over interleaved runs is fairer than one run per target.
/// `TANDEM_BENCH_ROUNDS` overrides it (`tests/bench-proxy.sh --rounds N`).
const DEFAULT_ROUNDS: usize = 3;
/// sysbench threads: two per core of the lab's two.
const THREADS: u32 = 4;
/// The proxy's idle CPU is read over this long.
const IDLE_S: u64 = 5;
/// HAProxy takes well under a second to listen.
const HAPROXY_READY_TIMEOUT: Duration = Duration::from_secs(30);

fn haproxy_config(lab: &Lab) -> std::path::PathBuf {
    let path = lab.dir.join("haproxy.cfg");
    std::fs::write(
        &path,
        format!(
            "global\n    maxconn 1000\n\ndefaults\n    mode tcp\n    timeout connect 3s\n    \
             timeout client 1h\n    timeout server 1h\n\nlisten mysql\n    bind {HAPROXY}\n    \
             server primary {VIP}:3306\n"
        ),
    )
    .unwrap();
    path
}

fn rounds() -> usize {
    std::env::var("TANDEM_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(DEFAULT_ROUNDS)
}

/// The pid of the process named `comm` in the client's namespace, if any.
fn pid_of(lab: &Lab, comm: &str) -> Option<String> {
    crate::fixture::host(&format!("ip netns pids {}", lab.client.netns))
        .split_whitespace()
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .map(str::to_string)
}

/// The CPU time the process has used so far (user + system, all its threads), in µs:
/// fields 14 and 15 of `/proc/PID/stat`, in clock ticks.
fn cpu_us(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 2, the command, is in parentheses and may hold spaces: count after it. The
    // rest starts at field 3, so fields 14 and 15 are its 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let per_s = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    Some(ticks * 1e6 / per_s as f64)
}

/// The queries sysbench reports for the run (`queries:` in its SQL statistics).
fn queries(out: &str) -> f64 {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix("queries:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Transactions per second, and the 50th and 99th percentile latency in ms.
fn figures(out: &str) -> (f64, f64, f64) {
    let tps = out
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("transactions:"))
        .and_then(|rest| {
            rest.split('(')
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(f64::NAN);
    let buckets: Vec<(f64, u64)> = out
        .lines()
        .filter_map(|l| {
            let (value, bar) = l.split_once('|')?;
            let count = bar.split_whitespace().last()?.parse().ok()?;
            Some((value.trim().parse().ok()?, count))
        })
        .collect();
    let total: u64 = buckets.iter().map(|(_, n)| n).sum();
    let percentile = |p: f64| {
        let mut seen = 0;
        for (value, n) in &buckets {
            seen += n;
            if seen as f64 >= p * total as f64 {
                return *value;
            }
        }
        f64::NAN
    };
    (tps, percentile(0.50), percentile(0.99))
}

#[test]
#[ignore = "benchmark: run with tests/bench-proxy.sh"]
fn bench_proxy() {
    let lab = Lab::new();
    let (mut children, _config, r1, r2) = start_all(&lab);
    let haproxy = haproxy_config(&lab);
    children.push(
        lab.client
            .spawn("haproxy", &["-db", "-f", &haproxy.display().to_string()]),
    );
    let (host, port) = HAPROXY.split_once(':').unwrap();
    wait_for(&lab, "HAProxy to relay", HAPROXY_READY_TIMEOUT, || {
        let cmd = format!("mariadb -h {host} -P {port} -u app -papp-pw -N -e 'SELECT 1'");
        lab.client.sh(&cmd).status.success()
    });
    let common = format!(
        "--mysql-user=app --mysql-password=app-pw --mysql-db=proxylab --tables=2 \
         --table-size=10000 --db-ps-mode=disable --threads={THREADS} --time={RUN_S} \
         --histogram=on"
    );
    lab.client.sh_ok(&format!(
        "sysbench oltp_read_only {common} --mysql-host={VIP} prepare >/dev/null"
    ));
    for node in [&r1, &r2] {
        let socket = lab.run_dir().join("replica.sock");
        wait_for(
            &lab,
            "replicas to have sysbench's rows",
            CATCH_UP_TIMEOUT,
            || {
                let count = super::sql_on(&socket, "SELECT COUNT(*) FROM proxylab.sbtest2");
                node.sh(&count).stdout.starts_with(b"10000")
            },
        );
    }
    let (proxy_host, proxy_port) = PROXY.split_once(':').unwrap();
    // Each target with the process whose CPU time it costs (none straight to the VIP).
    let targets = [
        ("direct (VIP)", format!("--mysql-host={VIP}"), None),
        (
            "HAProxy tcp",
            format!("--mysql-host={host} --mysql-port={port}"),
            pid_of(&lab, "haproxy"),
        ),
        (
            "tandem proxy",
            format!("--mysql-host={proxy_host} --mysql-port={proxy_port}"),
            pid_of(&lab, "tandem"),
        ),
    ];
    let rounds = rounds();
    println!(
        "proxy benchmark: sysbench, {THREADS} threads, {RUN_S} s per run, text protocol, \
         {rounds} rounds taking the targets in turn; medians (each round's tps in brackets); \
         CPU: the proxy process's user+system time per query sysbench reports"
    );
    idle_cpu(targets[2].2.as_deref());
    for workload in ["oltp_read_write", "oltp_read_only --skip_trx=on"] {
        // Per target, per round: tps, p50, p99, the proxy's CPU µs per query.
        let mut runs: Vec<Vec<[f64; 4]>> = vec![Vec::new(); targets.len()];
        for _ in 0..rounds {
            for (i, (_, target, pid)) in targets.iter().enumerate() {
                let before = pid.as_deref().and_then(cpu_us);
                let out = lab
                    .client
                    .sh_ok(&format!("sysbench {workload} {common} {target} run"));
                let after = pid.as_deref().and_then(cpu_us);
                let cpu = match (before, after) {
                    (Some(before), Some(after)) => (after - before) / queries(&out),
                    _ => f64::NAN,
                };
                let (tps, p50, p99) = figures(&out);
                runs[i].push([tps, p50, p99, cpu]);
            }
        }
        let direct = median(runs[0].iter().map(|r| r[0]).collect());
        for ((what, _, _), runs) in targets.iter().zip(&runs) {
            let at = |k: usize| median(runs.iter().map(|r| r[k]).collect());
            let tps = at(0);
            let each: Vec<String> = runs.iter().map(|r| format!("{:.0}", r[0])).collect();
            let cpus: Vec<String> = runs.iter().map(|r| format!("{:.1}", r[3])).collect();
            let cpu = if at(3).is_nan() {
                String::new()
            } else {
                format!("  CPU {:.1} µs/query [{}]", at(3), cpus.join(" "))
            };
            println!(
                "  {workload:<28} {what:<13} {tps:>8.1} tps ({:.2}× direct) [{}]  p50 {:.2} ms  \
                 p99 {:.2} ms{cpu}",
                tps / direct,
                each.join(" "),
                at(1),
                at(2),
            );
        }
    }
    if std::env::var_os("TANDEM_BENCH_NO_STRACE").is_none() {
        syscalls_per_query(&lab, &common, &targets[2].1);
    }
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The time on a CPU of all the process's threads so far, in µs, to the nanosecond: the
/// first field of each `/proc/PID/task/TID/schedstat`. For the idle figure, where clock ticks
/// of 10 ms would be too coarse.
fn run_time_us(pid: &str) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut ns = 0.0;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        ns += stat.split_whitespace().next()?.parse::<f64>().ok()?;
    }
    Some(ns / 1000.0)
}

/// The proxy's CPU time with no client, per second: its background work (tandemd's metrics
/// every 250 ms, each replica every second), which the per-query figures include.
fn idle_cpu(pid: Option<&str>) {
    let Some(pid) = pid else {
        return;
    };
    let before = run_time_us(pid);
    std::thread::sleep(Duration::from_secs(IDLE_S));
    if let (Some(before), Some(after)) = (before, run_time_us(pid)) {
        println!(
            "  tandem proxy idle: {:.2} ms CPU per second (background polls)",
            (after - before) / 1000.0 / IDLE_S as f64
        );
    }
}

/// The proxy's system calls during a short oltp_read_only run (strace -c, which slows it: a
/// run of its own, after the timed ones), per query sysbench sent.
fn syscalls_per_query(lab: &Lab, common: &str, target: &str) {
    let pid = pid_of(lab, "tandem").unwrap_or_default();
    let summary = lab.dir.join("strace.txt");
    let strace = std::process::Command::new("strace")
        .args(["-c", "-f", "-p", &pid, "-o", &summary.display().to_string()])
        .spawn();
    let Ok(mut strace) = strace else {
        println!("  (no strace: no system call counts)");
        return;
    };
    std::thread::sleep(Duration::from_millis(500));
    let common = common.replace(&format!("--time={RUN_S}"), "--time=5");
    let out = lab.client.sh_ok(&format!(
        "sysbench oltp_read_only --skip_trx=on {common} {target} run"
    ));
    crate::fixture::host(&format!("kill -INT {}", strace.id()));
    let _ = strace.wait();
    let queries = queries(&out);
    let text = std::fs::read_to_string(&summary).unwrap_or_default();
    println!("  tandem proxy under strace -c, oltp_read_only, {queries} queries:");
    for line in text.lines().filter(|l| {
        let name = l.split_whitespace().last().unwrap_or("");
        [
            "read",
            "write",
            "recvfrom",
            "sendto",
            "epoll_wait",
            "futex",
            "total",
        ]
        .contains(&name)
    }) {
        // % time, seconds, usecs/call, calls, [errors,] syscall
        let calls: f64 = line
            .split_whitespace()
            .nth(3)
            .and_then(|c| c.parse().ok())
            .unwrap_or(f64::NAN);
        println!(
            "    {:<12} {:>6.2} per query",
            line.split_whitespace().last().unwrap_or(""),
            calls / queries
        );
    }
}
