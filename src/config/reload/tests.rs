use super::*;
use std::path::Path;

const EXAMPLE: &str = include_str!("../../../resources/tandem.toml");

fn parse(text: &str) -> Config {
    Config::parse(text, Path::new("tandem.toml")).unwrap()
}

fn compare_texts(old: &str, new: &str) -> Reload {
    compare(&parse(old), &parse(new))
}

#[test]
fn the_same_file_changes_nothing() {
    let reload = compare_texts(EXAMPLE, EXAMPLE);
    assert!(reload.applied.is_empty() && reload.refused.is_empty());
    assert_eq!(reload.config, parse(EXAMPLE));
}

#[test]
fn limits_are_applied_even_when_lines_move() {
    let new = EXAMPLE
        .replace("peer_timeout_ms = 1500", "peer_timeout_ms = 2500")
        .replace("stop_timeout_ms = 30000", "stop_timeout_ms = 5000")
        .replace("cluster = ", "\n\ncluster = ")
        + "[engine]\nflap_guard_s = 60\npower_fence_command = [\"/bin/true\"]\n";
    let reload = compare_texts(EXAMPLE, &new);
    assert_eq!(
        reload.applied,
        [
            "[timings] peer_timeout_ms",
            "[engine] flap_guard_s",
            "[mysqld] stop_timeout_ms",
            "[engine] power_fence_command"
        ]
    );
    assert!(reload.refused.is_empty(), "{:?}", reload.refused);
    assert_eq!(reload.config, parse(&new));
}

#[test]
fn identity_and_placement_are_refused_one_sentence_each_and_kept() {
    let new = EXAMPLE
        .replace("10.0.0.100/24", "10.0.0.101/24")
        .replace("name = \"db-b\"", "name = \"db-c\"")
        .replace("/var/lib/mysql-ha/data", "/var/lib/mysql-ha/data2")
        .replace("peer_timeout_ms = 1500", "peer_timeout_ms = 2500");
    let reload = compare_texts(EXAMPLE, &new);
    assert_eq!(reload.applied, ["[timings] peer_timeout_ms"]);
    let expected: Vec<String> = ["[[node]] name", "[mysqld] datadir", "[vip] address"]
        .iter()
        .map(|key| {
            format!(
                "{key} changed but is not applied to a running tandemd; check the file with \
                 `tandem check`, then restart tandemd to apply it"
            )
        })
        .collect();
    assert_eq!(reload.refused, expected);
    assert_eq!(reload.config.vip.address, parse(EXAMPLE).vip.address);
    assert_eq!(*reload.config.timings.peer_timeout_ms.get_ref(), 2500);
}

#[test]
fn a_power_fence_that_changes_the_fencing_policy_is_refused() {
    let old = EXAMPLE.replace("fencing = \"resource-only\"", "");
    let new = old.clone() + "[engine]\npower_fence_command = [\"/bin/true\"]\n";
    let reload = compare_texts(&old, &new);
    assert!(reload.applied.is_empty());
    assert_eq!(
        reload.refused,
        [
            "power_fence_command changed but is not applied to a running tandemd (it changes the \
          effective DRBD fencing policy); check the file with `tandem check`, then restart \
          tandemd to apply it"
        ]
    );
    assert_eq!(reload.config.engine.power_fence_command, None);
}

#[test]
fn the_tick_length_and_drbd_need_a_restart() {
    let new = EXAMPLE
        .replace("heartbeat_interval_ms = 200", "heartbeat_interval_ms = 100")
        .replace("protocol = \"C\"", "protocol = \"B\"");
    let reload = compare_texts(EXAMPLE, &new);
    assert_eq!(reload.refused.len(), 2, "{:?}", reload.refused);
    assert!(reload.refused[0]
        .starts_with("[drbd] changed but is not applied to a running tandemd (it is rendered"));
    assert!(reload.refused[1].contains(
        "heartbeat_interval_ms changed but is not applied to a running tandemd (it is the \
         length of the core's tick)"
    ));
}

#[test]
fn metrics_and_hooks_need_a_restart() {
    let new = format!(
        "{EXAMPLE}\n[metrics]\nlisten = \"127.0.0.1:9942\"\n[hooks]\ncommand = [\"/bin/true\"]\n"
    );
    let reload = compare_texts(EXAMPLE, &new);
    assert_eq!(
        reload.refused,
        [
            "[metrics] changed but is not applied to a running tandemd; check the file with \
             `tandem check`, then restart tandemd to apply it",
            "[hooks] changed but is not applied to a running tandemd; check the file with \
             `tandem check`, then restart tandemd to apply it",
        ]
    );
    assert_eq!(
        reload.config.metrics, None,
        "the running config keeps its own"
    );
}

#[test]
fn replication_and_replicas_need_a_restart() {
    let replication = "\n[replication]\nbinlog_dir = \"/var/lib/mysql-ha/binlog\"\n\
                       server_ids = { db-a = 1, db-b = 2 }\n\
                       credentials_file = \"/etc/tandem/repl.cred\"\n\
                       [[replica]]\nname = \"r1\"\nhost = \"10.0.0.21\"\n\
                       credentials_file = \"/etc/tandem/r1.cred\"\n";
    let old = format!("{EXAMPLE}{replication}");
    let new = old.replace("10.0.0.21", "10.0.0.22");
    let reload = compare_texts(&old, &new);
    assert_eq!(
        reload.refused,
        [
            "[[replica]] changed but is not applied to a running tandemd; check the file with \
          `tandem check`, then restart tandemd to apply it"
        ]
    );
    assert_eq!(reload.config.replica[0].host.get_ref(), "10.0.0.21");
    let reload = compare_texts(EXAMPLE, &old);
    assert_eq!(reload.refused.len(), 2, "{:?}", reload.refused);
    assert!(reload.refused[0].starts_with("[replication] changed"));
}
