//! Two real tandemd daemons in the host lab (shared-disk mode): they agree on who serves,
//! switch over with a client writing through the VIP, restart a killed mysqld, adopt what is
//! running after a `kill -9` of tandemd, refuse a peer with the wrong key or from another
//! address, and pause.

use crate::client;
use crate::fixture::{Lab, LabNode, VIP};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const TANDEMD: &str = env!("CARGO_BIN_EXE_tandemd");
const TANDEM: &str = env!("CARGO_BIN_EXE_tandem");

/// The lab config plus the engine: fast timings, a per-node socket and journal (the lab's
/// `run/` is a private tmpfs per node).
pub(crate) fn engine_config(lab: &Lab) -> std::path::PathBuf {
    let run = lab.run_dir();
    let text = lab
        .config_text()
        .replace("stop_timeout_ms = 10000", "stop_timeout_ms = 2000")
        + &format!(
            "[timings]\nheartbeat_interval_ms = 100\npeer_timeout_ms = 600\n[engine]\ncontrol_socket = \"{r}/tandem.sock\"\nstate_dir = \"{r}/state\"\n\
             flap_guard_s = 60\nmysqld_restart_limit = 2\nmysqld_restart_window_s = 60\n",
            r = run.display()
        );
    let path = lab.dir.join("engine.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn start_daemon(lab: &Lab, node: &LabNode, config: &std::path::Path) -> Child {
    start_daemon_with_env(lab, node, config, "")
}

/// Like [`start_daemon`], with `env` (`NAME=value …`) in tandemd's environment; the child's
/// pid is tandemd's (nsenter and sh exec it).
pub(crate) fn start_daemon_with_env(
    lab: &Lab,
    node: &LabNode,
    config: &std::path::Path,
    env: &str,
) -> Child {
    let log = lab.dir.join(format!("tandemd-{}.log", node.role));
    node.spawn(
        "sh",
        &[
            "-c",
            &format!(
                "exec env {env} {TANDEMD} --config {} --node {} 2>>{}",
                config.display(),
                node.role,
                log.display()
            ),
        ],
    )
}

pub(crate) fn tandem(node: &LabNode, config: &std::path::Path, args: &str) -> std::process::Output {
    node.sh(&format!("{TANDEM} --config {} {args}", config.display()))
}

pub(crate) fn status(node: &LabNode, config: &std::path::Path) -> serde_json::Value {
    let out = tandem(node, config, "status --json");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) fn serving(node: &LabNode, config: &std::path::Path) -> bool {
    let out = tandem(node, config, "status --json");
    if !out.status.success() {
        return false;
    }
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    value["local"]["services"]
        .as_array()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|x| x["up"] == true))
}

pub(crate) fn wait_for(lab: &Lab, what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "timed out waiting for {what}\n--- a:\n{}\n--- b:\n{}",
        log_of(lab, &lab.a),
        log_of(lab, &lab.b)
    );
}

pub(crate) fn log_of(lab: &Lab, node: &LabNode) -> String {
    std::fs::read_to_string(lab.dir.join(format!("tandemd-{}.log", node.role))).unwrap_or_default()
}

/// The mariadbd in this node's network namespace (other labs run their own).
pub(crate) fn mysqld_pid(node: &LabNode) -> String {
    crate::fixture::host(&format!("ip netns pids {}", node.netns))
        .split_whitespace()
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "mariadbd")
        })
        .unwrap_or_default()
        .to_string()
}

/// A power fence for the lab: what losing power does to a node. Fences whichever node the
/// caller is not, found from the caller's own address. Its link goes down first, so that
/// nothing the dying processes' sockets send (a FIN, a RST from the kernel) reaches anyone: a
/// node without power says nothing.
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
        "ip -n $ns link set lan0 down\nfor p in $(ip netns pids $ns); do kill -9 $p; done\n\
         nsenter --mount=$mnt umount -l {mnt} 2>/dev/null\nexit 0\n",
        mnt = lab.mountpoint().display()
    ));
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn two_daemons_switch_over_restart_mysqld_adopt_and_pause() {
    let lab = Lab::new();
    lab.mount_shared(&lab.a);
    lab.umount(&lab.a);
    let config = engine_config(&lab);
    let mut daemon_a = start_daemon(&lab, &lab.a, &config);
    let mut daemon_b = start_daemon(&lab, &lab.b, &config);
    wait_for(&lab, "a to serve", Duration::from_secs(30), || {
        serving(&lab.a, &config)
    });
    let status_b = status(&lab.b, &config);
    assert_eq!(
        status_b["local"]["reason"], "no action: a is active; standby here",
        "{status_b}"
    );
    let cfg = lab.config();
    lab.a.run(|| client::setup_schema(&cfg.settings.mysqld));

    // Switchover a → b with a client writing through the VIP.
    let stop = AtomicBool::new(false);
    let (log, out) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| lab.client.run(|| client::write_until(&stop, VIP, 0)));
        std::thread::sleep(Duration::from_millis(500));
        let out = tandem(&lab.a, &config, "switchover --to b --force --wait");
        std::thread::sleep(Duration::from_millis(500));
        // The writer stops before any assert: a failed one must not leave it writing (the
        // scope would wait for it forever).
        stop.store(true, Ordering::SeqCst);
        (writer.join().unwrap(), out)
    });
    {
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{shown}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // --wait shows the steps as they happen: a's mysqld gone (its VIP goes right
        // after, too quickly for a poll to catch in between), then b active.
        let progress: Vec<&str> = shown.lines().filter(|l| l.starts_with("  +")).collect();
        assert!(
            progress
                .iter()
                .any(|l| l.contains("a: ") && l.contains("mysqld ·")),
            "{shown}"
        );
        assert!(
            progress.last().is_some_and(|l| l.contains("; b: active; ")),
            "{shown}"
        );
        println!("switchover --wait on a printed:\n{shown}");
    }
    let stored = lab.b.run(|| client::stored_ids(&cfg.settings.mysqld));
    let lost: Vec<u64> = log
        .acked
        .iter()
        .copied()
        .filter(|id| stored.binary_search(id).is_err())
        .collect();
    println!(
        "switchover a→b: {} acknowledged, longest write gap {} ms",
        log.acked.len(),
        log.longest_gap.as_millis()
    );
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(serving(&lab.b, &config) && !serving(&lab.a, &config));

    // kill -9 mysqld on b: restarted in place.
    let before = mysqld_pid(&lab.b);
    lab.b.sh_ok(&format!("kill -9 {before}"));
    wait_for(
        &lab,
        "mysqld restarted on b",
        Duration::from_secs(30),
        || {
            let now = mysqld_pid(&lab.b);
            !now.is_empty() && now != before && serving(&lab.b, &config)
        },
    );
    let history = String::from_utf8_lossy(&tandem(&lab.b, &config, "history").stdout).to_string();
    assert!(history.contains("killed by signal 9"), "{history}");
    let json = tandem(&lab.b, &config, "history --json");
    let records: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let failed = records.as_array().unwrap().iter().find(|r| {
        r["event"]["StepFailed"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("killed by signal 9"))
    });
    assert!(
        failed.is_some_and(|r| r["time"].as_str().is_some() && r["unix_ms"].is_u64()),
        "{records:#}"
    );

    // kill -9 tandemd on b: the new one adopts mysqld, the mount and the VIP without a restart.
    let pid = mysqld_pid(&lab.b);
    daemon_b.kill().unwrap();
    daemon_b.wait().unwrap();
    let mut daemon_b2 = start_daemon(&lab, &lab.b, &config);
    wait_for(&lab, "b to serve again", Duration::from_secs(30), || {
        serving(&lab.b, &config)
    });
    assert_eq!(
        mysqld_pid(&lab.b),
        pid,
        "mysqld was restarted instead of adopted"
    );
    assert!(log_of(&lab, &lab.b).contains("adopting what is already running"));

    // Pause on a: observe only; status says so.
    let out = tandem(&lab.a, &config, "pause");
    assert!(out.status.success());
    let paused = status(&lab.a, &config);
    assert!(
        paused["local"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("PAUSE: "),
        "{paused}"
    );
    let out = tandem(&lab.a, &config, "promote");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "refused: peer b is Primary; run `tandem switchover --to a` or demote b first"
    );
    assert!(tandem(&lab.a, &config, "resume").status.success());

    for daemon in [&mut daemon_a, &mut daemon_b2] {
        daemon.kill().unwrap();
        daemon.wait().unwrap();
    }
}

/// Dials a's peer port from `node` as b, with `key`; the handshake's error, if it failed.
fn dial_a_as_b(lab: &Lab, node: &LabNode, key: tandem::peer::PeerKey) -> Option<String> {
    let identity = tandem::peer::Identity {
        cluster: lab.config().settings.cluster,
        own_name: "b".into(),
        peer_name: "a".into(),
        instance: [0x11; 16],
    };
    node.run(|| async move {
        let stream = tokio::net::TcpStream::connect((lab.a.ip.as_str(), 7800))
            .await
            .unwrap();
        tandem::peer::handshake_client(stream, &key, &identity, Duration::from_secs(2))
            .await
            .err()
            .map(|e| e.to_string())
    })
}

#[test]
fn a_peer_with_the_wrong_key_or_address_gets_nothing_and_changes_nothing() {
    let lab = Lab::new();
    lab.mount_shared(&lab.a);
    lab.umount(&lab.a);
    let config = engine_config(&lab);
    let mut daemon_a = start_daemon(&lab, &lab.a, &config);
    let mut daemon_b = start_daemon(&lab, &lab.b, &config);
    wait_for(&lab, "a to serve", Duration::from_secs(30), || {
        serving(&lab.a, &config)
    });
    // An impostor on b's own address dials a's peer port with the wrong key and claims to be
    // b: it must be refused before anything it sends is read.
    let wrong = tandem::peer::PeerKey::from_bytes(&[0x11; 32]).unwrap();
    let refused = dial_a_as_b(&lab, &lab.b, wrong);
    assert!(
        refused.is_some(),
        "the handshake with a wrong key succeeded"
    );
    // The right key, from the client's address, which is not b's: refused before the
    // handshake.
    let key = tandem::peer::PeerKey::load(&lab.peer_key()).unwrap();
    let refused = dial_a_as_b(&lab, &lab.client, key);
    assert!(
        refused.is_some(),
        "a connection from an address not the peer's was accepted"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(serving(&lab.a, &config) && !serving(&lab.b, &config));
    let log = log_of(&lab, &lab.a);
    assert!(log.contains("peer link: refused a connection"), "{log}");
    assert!(log.contains("frame authentication failed"), "{log}");
    assert!(
        log.contains(&format!(
            "refused a connection from {}: not one of the peer's addresses ({})",
            lab.client.ip, lab.b.ip
        )),
        "{log}"
    );
    for daemon in [&mut daemon_a, &mut daemon_b] {
        daemon.kill().unwrap();
        daemon.wait().unwrap();
    }
}

#[test]
fn a_hung_mysqld_is_stopped_and_restarted() {
    let lab = Lab::new();
    lab.mount_shared(&lab.a);
    lab.umount(&lab.a);
    let config = engine_config(&lab);
    let mut daemon_a = start_daemon(&lab, &lab.a, &config);
    let mut daemon_b = start_daemon(&lab, &lab.b, &config);
    wait_for(&lab, "a to serve", Duration::from_secs(30), || {
        serving(&lab.a, &config)
    });
    // SIGSTOP: the process lives, holds its lock and socket, and answers nothing.
    let hung = mysqld_pid(&lab.a);
    lab.a.sh_ok(&format!("kill -STOP {hung}"));
    wait_for(&lab, "a new mysqld on a", Duration::from_secs(60), || {
        let now = mysqld_pid(&lab.a);
        !now.is_empty() && now != hung && serving(&lab.a, &config)
    });
    let log = log_of(&lab, &lab.a);
    assert!(
        log.contains("mysqld does not answer SELECT 1: stopping it to restart it"),
        "{log}"
    );
    assert!(
        !serving(&lab.b, &config),
        "the service moved although a restart sufficed"
    );
    for daemon in [&mut daemon_a, &mut daemon_b] {
        daemon.kill().unwrap();
        daemon.wait().unwrap();
    }
}
