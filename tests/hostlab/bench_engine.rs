//! Engine benchmarks, not tests: `bash tests/bench-hostlab.sh` runs them. They print
//! figures: the switchover write gap and tandem's own overhead, the unplanned failover split
//! into its phases, and the daemon's RSS and idle CPU.

use crate::client;
use crate::engine::{engine_config, log_of, serving, start_daemon, tandem, wait_for};
use crate::fixture::{Lab, LabNode, VIP};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

const SWITCHOVERS: usize = 10;

/// `2026-11-25T06:41:00.123456Z  INFO …` → seconds since the epoch.
fn log_time(line: &str) -> Option<f64> {
    let stamp = line.split_whitespace().next()?;
    let out = std::process::Command::new("date")
        .args(["-u", "-d", stamp, "+%s.%N"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn first_after(log: &str, needle: &str, after: f64) -> Option<f64> {
    log.lines()
        .filter(|l| l.contains(needle))
        .filter_map(log_time)
        .find(|t| *t >= after)
}

/// The last switchover, both nodes' log lines merged by time (ms after `after`): where
/// tandem's own time goes between the steps.
fn print_timeline(logs: &[(&str, &String)], after: f64) {
    let mut lines: Vec<(f64, String)> = Vec::new();
    for (node, log) in logs {
        for line in log.lines() {
            let Some(t) = log_time(line).filter(|t| *t >= after) else {
                continue;
            };
            let text = line.split_once("  INFO ").map_or(line, |(_, rest)| rest);
            lines.push((
                t,
                format!("{node}: {}", text.chars().take(110).collect::<String>()),
            ));
        }
    }
    lines.sort_by(|x, y| x.0.total_cmp(&y.0));
    println!("the last switchover's timeline (ms):");
    for (t, text) in lines {
        println!("  {:>8.1}  {text}", (t - after) * 1000.0);
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn summary(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{name:<40} median {:>7.1} ms   max {:>7.1} ms   (n={})",
        ms[ms.len() / 2],
        ms[ms.len() - 1],
        ms.len()
    );
}

/// Steps of one switchover on the stopping and starting node, from the daemons' logs.
fn step_ms(log: &str, from: &str, to: &str, after: f64) -> f64 {
    match (first_after(log, from, after), first_after(log, to, after)) {
        (Some(a), Some(b)) if b >= a => (b - a) * 1000.0,
        _ => f64::NAN,
    }
}

/// A power fence for the lab: what losing power does to a node. Fences whichever node the
/// caller is not, found from the caller's own address.
pub(crate) fn fence_script(lab: &Lab) -> std::path::PathBuf {
    let path = lab.dir.join("power-fence.sh");
    let nodes = [(&lab.a, &lab.b), (&lab.b, &lab.a)];
    let mut body = String::from("#!/bin/sh\nme=$(ip -4 -br addr show lan0 | awk '{print $3}')\n");
    for (me, other) in nodes {
        body.push_str(&format!(
            "case \"$me\" in {ip}/*) ns={ns}; mnt={mntns};; esac\n",
            ip = me.ip,
            ns = other.netns,
            mntns = other.mnt_ns.display()
        ));
    }
    body.push_str(&format!(
        "for p in $(ip netns pids $ns); do kill -9 $p; done\n\
         nsenter --mount=$mnt umount -l {mnt} 2>/dev/null\nip -n $ns link set lan0 down\nexit 0\n",
        mnt = lab.mountpoint().display()
    ));
    std::fs::write(&path, body).unwrap();
    path
}

fn rss_kib_and_cpu_ticks(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let cpu = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    (rss, cpu)
}

#[test]
#[ignore = "benchmark: run with tests/bench-hostlab.sh"]
fn bench_engine() {
    let lab = Lab::new();
    lab.mount_shared(&lab.a);
    lab.umount(&lab.a);
    let fence = fence_script(&lab);
    let config = engine_config(&lab);
    let text = std::fs::read_to_string(&config).unwrap()
        + &format!(
            "power_fence_command = [\"/bin/sh\", \"{}\"]\n",
            fence.display()
        );
    std::fs::write(&config, text).unwrap();
    let mut daemon_a = start_daemon(&lab, &lab.a, &config);
    let mut daemon_b = start_daemon(&lab, &lab.b, &config);
    wait_for(&lab, "a to serve", Duration::from_secs(30), || {
        serving(&lab.a, &config)
    });
    let cfg = lab.config();
    lab.a.run(|| client::setup_schema(&cfg.settings.mysqld));

    // Idle daemon: RSS and CPU over 10 s.
    std::thread::sleep(Duration::from_secs(2));
    let (rss, cpu0) = rss_kib_and_cpu_ticks(daemon_a.id());
    std::thread::sleep(Duration::from_secs(10));
    let (_, cpu1) = rss_kib_and_cpu_ticks(daemon_a.id());
    let hz = 100.0;
    println!(
        "tandemd (active node, idle): RSS {:.1} MiB, CPU {:.2}% of one core",
        rss as f64 / 1024.0,
        (cpu1 - cpu0) as f64 / hz / 10.0 * 100.0
    );

    // Switchovers back and forth with a client writing every 10 ms.
    let (mut gaps, mut overheads) = (Vec::new(), Vec::new());
    let mut last_id = 0;
    let nodes: [&LabNode; 2] = [&lab.a, &lab.b];
    for run in 0..SWITCHOVERS {
        let (from, to) = (nodes[run % 2], nodes[(run + 1) % 2]);
        let stop = AtomicBool::new(false);
        let started = now();
        let log = std::thread::scope(|scope| {
            let writer =
                scope.spawn(|| lab.client.run(|| client::write_until(&stop, VIP, last_id)));
            std::thread::sleep(Duration::from_millis(300));
            let out = tandem(
                from,
                &config,
                &format!("switchover --to {} --force --wait", to.role),
            );
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::SeqCst);
            writer.join().unwrap()
        });
        last_id = log.last_id;
        gaps.push(log.longest_gap.as_secs_f64() * 1000.0);
        let (from_log, to_log) = (log_of(&lab, from), log_of(&lab, to));
        // From "stop mysqld" on the old node to "mysqld ready" on the new one, minus the work
        // of mysqld (stop, start), the VIP (removal, probe + first gratuitous ARP) and the
        // mount: what is left is tandem's own time.
        let total = (first_after(&to_log, "mysqld ready", started).unwrap()
            - first_after(&from_log, "running step=stop mysqld", started).unwrap())
            * 1000.0;
        let work = step_ms(
            &from_log,
            "running step=stop mysqld",
            "running step=umount",
            started,
        ) + step_ms(
            &from_log,
            "running step=umount",
            "stopped here, handing over",
            started,
        ) + step_ms(
            &to_log,
            "running step=mount",
            "running step=add VIP",
            started,
        ) + step_ms(&to_log, "running step=add VIP", "VIP report=added", started)
            + step_ms(
                &to_log,
                "running step=start mysqld",
                "mysqld ready",
                started,
            );
        overheads.push(total - work);
        if run == SWITCHOVERS - 1 {
            print_timeline(&[(from.role, &from_log), (to.role, &to_log)], started);
        }
    }
    println!("host lab, shared-disk, {SWITCHOVERS} switchovers with a client writing every 10 ms:");
    summary("switchover: client's longest write gap", gaps);
    summary("switchover: tandem overhead", overheads);

    // Unplanned failover: a loses power while active (b's power fence finishes the job).
    let serving_node = if serving(&lab.a, &config) {
        &lab.a
    } else {
        &lab.b
    };
    let survivor = if serving_node.role == "a" {
        &lab.b
    } else {
        &lab.a
    };
    let stop = AtomicBool::new(false);
    let killed_at = now();
    let log = std::thread::scope(|scope| {
        let writer = scope.spawn(|| lab.client.run(|| client::write_until(&stop, VIP, last_id)));
        std::thread::sleep(Duration::from_millis(300));
        let killed = now();
        // The writer must stop even if the failover does not happen, or the scope never ends.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::fixture::host(&format!(
                "ip netns exec {} sh {}",
                survivor.netns,
                fence.display()
            ));
            wait_for(
                &lab,
                "the survivor to serve",
                Duration::from_secs(60),
                || serving(survivor, &config),
            );
            std::thread::sleep(Duration::from_millis(500));
        }));
        stop.store(true, Ordering::SeqCst);
        let log = writer.join().unwrap();
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
        (log, killed)
    });
    let (log, killed) = log;
    let s = log_of(&lab, survivor);
    let t = |needle: &str| first_after(&s, needle, killed_at).unwrap_or(f64::NAN);
    let detect = t("power-fencing the peer");
    let fenced = t("result: \"peer powered off\"");
    let mount = t("running step=mount");
    let vip = t("running step=add VIP");
    let mysqld = t("running step=start mysqld");
    let done = t("mysqld ready");
    println!(
        "unplanned failover (power loss of {}; peer_timeout 600 ms):",
        serving_node.role
    );
    println!("  detection {:.0} ms, fence {:.0} ms, mount {:.0} ms, VIP {:.0} ms, mysqld ready {:.0} ms; total {:.0} ms; client's longest write gap {} ms",
        (detect - killed) * 1000.0, (fenced - detect) * 1000.0, (vip - mount) * 1000.0,
        (mysqld - vip) * 1000.0, (done - mysqld) * 1000.0, (done - killed) * 1000.0, log.longest_gap.as_millis());
    for daemon in [&mut daemon_a, &mut daemon_b] {
        let _ = daemon.kill();
        let _ = daemon.wait();
    }
}
