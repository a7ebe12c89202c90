//! The proxy's benchmark (figures, never an assertion; run by tests/bench-proxy.sh):
//! sysbench straight to the primary (the VIP), through HAProxy in TCP mode (Debian's
//! haproxy, its one backend the VIP) and through tandem proxy. oltp_read_write runs on the
//! single primary (transactions: the proxy sends all of it there); oltp_read_only
//! (`--skip_trx`) may use the two replicas through tandem proxy. Throughput and the p50/p99
//! latency from sysbench's histogram.

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
const ROUNDS: usize = 3;
/// sysbench threads: two per core of the lab's two.
const THREADS: u32 = 4;
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
    let targets = [
        ("direct (VIP)", format!("--mysql-host={VIP}")),
        (
            "HAProxy tcp",
            format!("--mysql-host={host} --mysql-port={port}"),
        ),
        (
            "tandem proxy",
            format!("--mysql-host={proxy_host} --mysql-port={proxy_port}"),
        ),
    ];
    println!(
        "proxy benchmark: sysbench, {THREADS} threads, {RUN_S} s per run, text protocol, \
         {ROUNDS} rounds taking the targets in turn; medians (each round's tps in brackets)"
    );
    for workload in ["oltp_read_write", "oltp_read_only --skip_trx=on"] {
        let mut runs: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); targets.len()];
        for _ in 0..ROUNDS {
            for (i, (_, target)) in targets.iter().enumerate() {
                let out = lab
                    .client
                    .sh_ok(&format!("sysbench {workload} {common} {target} run"));
                runs[i].push(figures(&out));
            }
        }
        let direct = median(runs[0].iter().map(|r| r.0).collect());
        for ((what, _), runs) in targets.iter().zip(&runs) {
            let tps = median(runs.iter().map(|r| r.0).collect());
            let each: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.0)).collect();
            println!(
                "  {workload:<28} {what:<13} {tps:>8.1} tps ({:.2}× direct) [{}]  p50 {:.2} ms  \
                 p99 {:.2} ms",
                tps / direct,
                each.join(" "),
                median(runs.iter().map(|r| r.1).collect()),
                median(runs.iter().map(|r| r.2).collect()),
            );
        }
    }
    syscalls_per_query(&lab, &common, &targets[2].1);
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The proxy's system calls during a short oltp_read_only run (strace -c, which slows it: a
/// run of its own, after the timed ones), per query sysbench sent.
fn syscalls_per_query(lab: &Lab, common: &str, target: &str) {
    let pid = crate::fixture::host(&format!("ip netns pids {}", lab.client.netns))
        .split_whitespace()
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "tandem")
        })
        .unwrap_or_default()
        .to_string();
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
    let queries: f64 = out
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("queries:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN);
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
