//! Metrics and hooks with two real tandemd in the host lab: a real Prometheus (Debian's
//! package) in node a's namespace scrapes a's `GET /metrics` and answers queries through its
//! HTTP API; `promtool check metrics` accepts the scraped text; a hook script records the
//! `TANDEM_*` variables of every event of a real switchover, and its run for the switchover
//! hangs, is killed at the timeout, and the switchover does not wait for it.

use crate::engine::{engine_config, log_of, serving, start_daemon, tandem, wait_for};
use crate::fixture::{Lab, LabNode};
use std::path::Path;
use std::time::{Duration, Instant};

/// The metrics address on every node: each node's own loopback (its network namespace).
const METRICS: &str = "127.0.0.1:9942";
/// Prometheus's API, in node a's namespace.
const PROMETHEUS: &str = "127.0.0.1:9090";
/// The hook's run for the switchover sleeps far longer than this, and is killed at it.
const HOOK_TIMEOUT_MS: u64 = 5_000;

fn hook_script(lab: &Lab) -> std::path::PathBuf {
    let hooks = lab.dir.join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let script = lab.dir.join("hook.sh");
    std::fs::write(
        &script,
        format!(
            "env | grep '^TANDEM_' | sort > {d}/$TANDEM_NODE.$TANDEM_SEQUENCE.$TANDEM_EVENT\n\
             if [ \"$TANDEM_EVENT\" = switchover ]; then sleep 60; fi\nexit 0\n",
            d = hooks.display()
        ),
    )
    .unwrap();
    script
}

fn observed_config(lab: &Lab) -> std::path::PathBuf {
    let base = engine_config(lab);
    let text = std::fs::read_to_string(&base).unwrap()
        + &format!(
            "[metrics]\nlisten = \"{METRICS}\"\n[hooks]\ncommand = [\"/bin/sh\", \"{}\"]\n\
             timeout_ms = {HOOK_TIMEOUT_MS}\n",
            hook_script(lab).display()
        );
    let path = lab.dir.join("observed.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn start_prometheus(lab: &Lab) -> std::process::Child {
    let dir = lab.dir.join("prometheus");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: tandem\n    static_configs:\n\
             \x20     - targets: ['{METRICS}']\n"
        ),
    )
    .unwrap();
    let log = dir.join("prometheus.log");
    lab.a.spawn(
        "sh",
        &[
            "-c",
            &format!(
                "exec prometheus --config.file={} --storage.tsdb.path={} \
                 --web.listen-address={PROMETHEUS} 2>{}",
                config.display(),
                dir.join("data").display(),
                log.display()
            ),
        ],
    )
}

/// The value of a one-series instant query, if Prometheus has it.
fn query(node: &LabNode, promql: &str) -> Option<String> {
    let out = node.sh(&format!(
        "curl -sf --max-time 2 -G http://{PROMETHEUS}/api/v1/query --data-urlencode 'query={promql}'"
    ));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let result = body["data"]["result"].as_array()?;
    Some(result.first()?["value"][1].as_str()?.to_string())
}

fn scrape(node: &LabNode) -> String {
    node.sh_ok(&format!("curl -sf --max-time 2 http://{METRICS}/metrics"))
}

/// The recorded variables of each hook run, by file name (`NODE.SEQUENCE.EVENT`).
fn hook_runs(dir: &Path) -> Vec<(String, String)> {
    let mut runs: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    (name, std::fs::read_to_string(e.path()).unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default();
    runs.sort();
    runs
}

/// The first recorded run on `node` whose variables contain `needle` (and whose file name ends
/// with `.event`).
fn find_run<'a>(
    runs: &'a [(String, String)],
    node: &str,
    event: &str,
    needle: &str,
) -> Option<&'a str> {
    runs.iter()
        .find(|(name, vars)| {
            name.starts_with(&format!("{node}."))
                && name.ends_with(&format!(".{event}"))
                && vars.contains(needle)
        })
        .map(|(_, vars)| vars.as_str())
}

fn assert_vars(vars: &str, expected: &[&str]) {
    for var in expected {
        assert!(vars.lines().any(|l| l == *var), "missing {var} in:\n{vars}");
    }
}

#[test]
fn prometheus_scrapes_tandemd_and_hooks_see_a_switchover() {
    let lab = Lab::new();
    lab.mount_shared(&lab.a);
    lab.umount(&lab.a);
    let config = observed_config(&lab);
    let mut daemon_a = start_daemon(&lab, &lab.a, &config);
    let mut daemon_b = start_daemon(&lab, &lab.b, &config);
    wait_for(&lab, "a to serve", Duration::from_secs(30), || {
        serving(&lab.a, &config)
    });
    let status = crate::engine::status(&lab.a, &config);
    assert_eq!(status["schema_version"], 1, "{status:#}");
    assert_eq!(status["local"]["mode"], "Active", "{status:#}");
    assert_eq!(status["local"]["active"], true, "{status:#}");
    assert_eq!(
        status["local"]["services"][0],
        serde_json::json!({"name": "Primary", "up": true}),
        "{status:#}"
    );
    let mut prometheus = start_prometheus(&lab);
    wait_for(
        &lab,
        "Prometheus to have scraped a",
        Duration::from_secs(60),
        || query(&lab.a, "tandem_vip_present{node=\"a\"}").as_deref() == Some("1"),
    );
    let text = scrape(&lab.a);
    println!("--- GET /metrics on a, serving:\n{text}");
    let path = lab.dir.join("scraped.txt");
    // sh_ok trims the output; the endpoint ends its text with a newline.
    std::fs::write(&path, format!("{text}\n")).unwrap();
    let check = lab
        .a
        .sh(&format!("promtool check metrics < {}", path.display()));
    assert!(
        check.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    for line in [
        "tandem_mysqld_up{node=\"a\"} 1",
        "tandem_peer_heard{node=\"a\",peer=\"b\"} 1",
    ] {
        assert!(text.lines().any(|l| l.starts_with(line)), "missing {line}");
    }
    let rtt = "tandem_peer_path_round_trip_seconds{node=\"a\",peer=\"b\",path=\"10.99.0.2:7800\"}";
    assert!(text.contains(rtt), "{text}");

    // The switchover: the hook's run for it hangs; the switchover must not wait for it.
    let started = Instant::now();
    let out = tandem(&lab.a, &config, "switchover --to b --force --wait");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let timeouts = scrape(&lab.a);
    assert!(
        took < Duration::from_millis(HOOK_TIMEOUT_MS)
            && timeouts.contains("tandem_hook_timeouts_total{node=\"a\"} 0"),
        "the switchover ({took:?}) waited for the hanging hook:\n{timeouts}"
    );
    wait_for(
        &lab,
        "the hanging hook to be killed, seen by Prometheus",
        Duration::from_secs(30),
        || query(&lab.a, "tandem_hook_timeouts_total{node=\"a\"}").as_deref() == Some("1"),
    );
    let switchovers = query(&lab.a, "tandem_switchovers_total{node=\"a\"}");
    assert_eq!(switchovers.as_deref(), Some("1"));
    wait_for(
        &lab,
        "Prometheus to see a standby",
        Duration::from_secs(30),
        || query(&lab.a, "tandem_vip_present{node=\"a\"}").as_deref() == Some("0"),
    );
    println!(
        "--- GET /metrics on a, after the switchover to b:\n{}",
        scrape(&lab.a)
    );
    assert!(
        log_of(&lab, &lab.a).contains("hook failed"),
        "{}",
        log_of(&lab, &lab.a)
    );

    let hooks = lab.dir.join("hooks");
    wait_for(
        &lab,
        "b's hook to hear it added the VIP",
        Duration::from_secs(30),
        || find_run(&hook_runs(&hooks), "b", "step", "TANDEM_STEP=add VIP").is_some(),
    );
    let runs = hook_runs(&hooks);
    let names: Vec<&str> = runs.iter().map(|(n, _)| n.as_str()).collect();
    println!("hook runs: {names:?}");
    let switchover = find_run(&runs, "a", "switchover", "").unwrap_or_else(|| panic!("{names:?}"));
    println!("the switchover's hook run on a:\n{switchover}");
    assert_vars(
        switchover,
        &[
            "TANDEM_EVENT=switchover",
            "TANDEM_NODE=a",
            "TANDEM_PEER=b",
            "TANDEM_TARGET=b",
            "TANDEM_REASON=switchover to b",
        ],
    );
    assert!(switchover.contains("TANDEM_TIME_UNIX_MS=") && switchover.contains("TANDEM_CLUSTER="));
    let stopped = find_run(&runs, "a", "step", "TANDEM_STEP=remove VIP");
    let stopped = stopped.unwrap_or_else(|| panic!("{names:?}"));
    assert_vars(
        stopped,
        &[
            "TANDEM_EVENT=step",
            "TANDEM_RESULT=ok",
            "TANDEM_REASON=remove VIP done",
        ],
    );
    let taking_over = find_run(&runs, "b", "decision", "taking over");
    let taking_over = taking_over.unwrap_or_else(|| panic!("{runs:?}"));
    assert_vars(
        taking_over,
        &["TANDEM_NODE=b", "TANDEM_PEER=a", "TANDEM_EVENT=decision"],
    );
    assert!(serving(&lab.b, &config));

    for child in [&mut prometheus, &mut daemon_a, &mut daemon_b] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
