//! The cluster-wide, persistent pause (issue #12) with two real tandemd: a pause on b reaches
//! a over the peer link; a `kill -9` and restart of tandemd on a comes back paused from the
//! journal; a's mysqld killed while paused is neither restarted nor failed over; a resume
//! on a brings both back to automatic decisions; a resume made while the peer link is cut
//! reaches the peer when the link heals.

use crate::engine::wait_for;
use crate::engine::{engine_config, log_of, mysqld_pid, serving, start_daemon, status, tandem};
use crate::fixture::Lab;
use std::time::{Duration, Instant};

/// How long a paused cluster is watched for an action it must not take. A restart of a
/// killed mysqld takes the engine config about a second (a 100 ms tick, a 600 ms peer
/// timeout); a failover a few. Eight seconds is several of each.
const QUIET_WINDOW: Duration = Duration::from_secs(8);

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn mysqld_up(value: &serde_json::Value) -> Option<bool> {
    value["local"]["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == "Mysqld")
        .and_then(|s| s["up"].as_bool())
}

#[test]
fn pause_on_b_pauses_a_survives_a_restart_and_holds_until_resume() {
    let lab = Lab::new();
    lab.mount_shared(&lab.a);
    lab.umount(&lab.a);
    let config = engine_config(&lab);
    let mut daemon_a = start_daemon(&lab, &lab.a, &config);
    let mut daemon_b = start_daemon(&lab, &lab.b, &config);
    wait_for(&lab, "a to serve", Duration::from_secs(30), || {
        serving(&lab.a, &config)
    });
    wait_for(&lab, "b to hear a", Duration::from_secs(10), || {
        status(&lab.b, &config)["local"]["peer_heard"] == true
    });

    // Pause on b: a adopts it from b's heartbeat.
    let out = tandem(&lab.b, &config, "pause --reason 'kernel upgrade on b'");
    assert!(out.status.success(), "{}", text(&out));
    println!(
        "$ tandem pause --reason 'kernel upgrade on b'   (on b)\n{}",
        text(&out)
    );
    wait_for(
        &lab,
        "a to adopt b's pause",
        Duration::from_secs(10),
        || {
            let a = status(&lab.a, &config);
            a["local"]["paused"] == true && a["local"]["pause"]["by"] == "b"
        },
    );
    let a = status(&lab.a, &config);
    assert_eq!(a["local"]["pause"]["reason"], "kernel upgrade on b", "{a}");
    assert_eq!(a["local"]["pause"]["epoch"], 1, "{a}");
    assert!(
        a["local"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("PAUSE: "),
        "{a}"
    );
    let shown = text(&tandem(&lab.a, &config, "status"));
    println!("$ tandem status   (on a)\n{shown}");
    assert!(
        shown.contains("PAUSED (cluster, epoch 1) by b at "),
        "{shown}"
    );
    assert!(shown.contains(": kernel upgrade on b;"), "{shown}");
    // The watch, piped, draws the same screen after a `---` line.
    let watched = text(&tandem(&lab.a, &config, "status --watch --max-redraws 1"));
    assert!(watched.starts_with("---\ncluster "), "{watched}");
    assert!(
        watched.contains("PAUSED (cluster, epoch 1) by b at "),
        "{watched}"
    );

    // kill -9 tandemd on a, start it again: paused from the journal, services adopted.
    daemon_a.kill().unwrap();
    daemon_a.wait().unwrap();
    let mut daemon_a2 = start_daemon(&lab, &lab.a, &config);
    wait_for(
        &lab,
        "the new tandemd on a to answer",
        Duration::from_secs(20),
        || tandem(&lab.a, &config, "status --json").status.success(),
    );
    let a = status(&lab.a, &config);
    assert_eq!(
        a["local"]["paused"], true,
        "not paused after a restart: {a}"
    );
    assert_eq!(a["local"]["pause"]["by"], "b", "{a}");
    assert!(
        log_of(&lab, &lab.a).contains("the journal says the cluster is paused"),
        "{}",
        log_of(&lab, &lab.a)
    );
    wait_for(
        &lab,
        "a to serve adopted services",
        Duration::from_secs(20),
        || serving(&lab.a, &config),
    );

    // kill -9 mysqld on a: paused, nothing restarts it and b does not take over.
    let killed = mysqld_pid(&lab.a);
    assert!(!killed.is_empty());
    lab.a.sh_ok(&format!("kill -9 {killed}"));
    wait_for(
        &lab,
        "a to see its mysqld down",
        Duration::from_secs(20),
        || mysqld_up(&status(&lab.a, &config)) == Some(false),
    );
    let watched = Instant::now();
    while watched.elapsed() < QUIET_WINDOW {
        assert_eq!(mysqld_pid(&lab.a), "", "mysqld restarted on a while paused");
        assert!(!serving(&lab.b, &config), "b took over while paused");
        assert!(
            mysqld_pid(&lab.b).is_empty(),
            "mysqld started on b while paused"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let a = status(&lab.a, &config);
    println!(
        "a while paused with mysqld killed: {}",
        a["local"]["reason"]
    );
    assert!(
        a["local"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("PAUSE: "),
        "{a}"
    );

    // Resume on a: a restarts its mysqld; b adopts the resume.
    let out = tandem(&lab.a, &config, "resume --reason 'kernel upgraded'");
    assert!(out.status.success(), "{}", text(&out));
    println!(
        "$ tandem resume --reason 'kernel upgraded'   (on a)\n{}",
        text(&out)
    );
    wait_for(
        &lab,
        "a to serve again after resume",
        Duration::from_secs(30),
        || serving(&lab.a, &config),
    );
    wait_for(
        &lab,
        "b to adopt the resume",
        Duration::from_secs(10),
        || {
            let b = status(&lab.b, &config);
            b["local"]["paused"] == false && b["local"]["pause"]["epoch"] == 2
        },
    );
    assert!(!serving(&lab.b, &config));
    println!(
        "$ tandem status   (on b)\n{}",
        text(&tandem(&lab.b, &config, "status"))
    );

    for daemon in [&mut daemon_a2, &mut daemon_b] {
        daemon.kill().unwrap();
        daemon.wait().unwrap();
    }
}

/// A resume made while the peer link is cut is not lost: the active node resumes at once
/// (with a warning), the standby stays paused while it cannot hear it, and adopts the newer
/// resume when the link comes back. The standby is paused for the whole cut, so it acts on
/// nothing while its peer is silent.
#[test]
fn a_resume_during_a_partition_reaches_the_peer_when_the_link_heals() {
    let lab = Lab::new();
    lab.mount_shared(&lab.a);
    lab.umount(&lab.a);
    let config = engine_config(&lab);
    let mut daemon_a = start_daemon(&lab, &lab.a, &config);
    let mut daemon_b = start_daemon(&lab, &lab.b, &config);
    wait_for(&lab, "a to serve", Duration::from_secs(30), || {
        serving(&lab.a, &config)
    });
    let out = tandem(&lab.a, &config, "pause --reason 'network maintenance'");
    assert!(out.status.success(), "{}", text(&out));
    wait_for(
        &lab,
        "b to adopt a's pause",
        Duration::from_secs(10),
        || status(&lab.b, &config)["local"]["pause"]["epoch"] == 1,
    );

    // Cut b off the lab's LAN (its own namespace's interface): the peer link goes silent.
    lab.b.sh_ok("ip link set lan0 down");
    wait_for(&lab, "a to find b silent", Duration::from_secs(10), || {
        status(&lab.a, &config)["local"]["peer_heard"] == false
    });
    let out = tandem(&lab.a, &config, "resume --reason 'done on a'");
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    println!("$ tandem resume --reason 'done on a'   (on a, b cut off)\n{said}");
    assert!(
        said.contains("WARNING: b is not answering on the peer link"),
        "{said}"
    );
    let b = status(&lab.b, &config);
    assert_eq!(
        b["local"]["paused"], true,
        "b resumed without hearing a: {b}"
    );
    assert_eq!(b["local"]["pause"]["epoch"], 1, "{b}");
    assert!(serving(&lab.a, &config) && !serving(&lab.b, &config));

    // Heal: b adopts the newer resume rather than pulling a back into the old pause.
    lab.b.sh_ok("ip link set lan0 up");
    wait_for(
        &lab,
        "b to adopt a's resume",
        Duration::from_secs(20),
        || {
            let b = status(&lab.b, &config);
            b["local"]["paused"] == false && b["local"]["pause"]["epoch"] == 2
        },
    );
    let a = status(&lab.a, &config);
    assert_eq!(a["local"]["paused"], false, "{a}");
    assert_eq!(a["local"]["pause"]["epoch"], 2, "{a}");
    assert!(serving(&lab.a, &config) && !serving(&lab.b, &config));
    let history = text(&tandem(&lab.b, &config, "history"));
    assert!(history.contains("from_peer: true"), "{history}");

    for daemon in [&mut daemon_a, &mut daemon_b] {
        daemon.kill().unwrap();
        daemon.wait().unwrap();
    }
}
