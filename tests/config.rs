//! Config validation: every refusal names the file, line and column, and says how to fix it.
//! The messages are asserted exactly: they are part of the operator interface.

use std::path::Path;
use tandem::config::Config;

const EXAMPLE: &str = include_str!("../resources/tandem.toml");

fn refusal(text: &str) -> String {
    match Config::parse(text, Path::new("/etc/tandem/tandem.toml")) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// The line of `text` where the first `needle` starts: refusals name lines of the file, and
/// the example's lines move when it is edited.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("no {needle:?} in the text"));
    text[..at].matches('\n').count() + 1
}

/// `/etc/tandem/tandem.toml:LINE:COLUMN: ` for the line of `text` where `needle` starts.
fn at(text: &str, needle: &str, column: usize) -> String {
    format!(
        "/etc/tandem/tandem.toml:{}:{column}: ",
        line_of(text, needle)
    )
}

fn edited(from: &str, to: &str) -> String {
    assert!(EXAMPLE.contains(from), "example has no {from:?}");
    EXAMPLE.replacen(from, to, 1)
}

#[test]
fn the_shipped_example_is_valid() {
    let config = Config::parse(EXAMPLE, Path::new("resources/tandem.toml")).unwrap();
    assert_eq!(config.node_names(), ["db-a", "db-b"]);
    assert_eq!(config.filesystem_device(), Path::new("/dev/drbd0"));
    assert_eq!(config.peer_of("db-a").unwrap().name.get_ref(), "db-b");
}

#[test]
fn unknown_key_gets_did_you_mean() {
    let text = edited("protocol = \"C\"", "protocl = \"C\"");
    assert_eq!(
        refusal(&text),
        format!(
            "{}unknown key `protocl` in [drbd]; did you mean `protocol`?",
            at(&text, "protocl", 1)
        )
    );
    let text = edited("name = \"db-b\"", "nmae = \"db-b\"");
    assert_eq!(
        refusal(&text),
        format!(
            "{}unknown key `nmae` in [[node]]; did you mean `name`?",
            at(&text, "nmae", 1)
        )
    );
}

#[test]
fn protocol_d_is_refused() {
    let text = edited("protocol = \"C\"", "protocol = \"D\"");
    assert_eq!(
        refusal(&text),
        format!(
            "{}protocol \"D\" is not valid; use one of \"A\", \"B\" or \"C\" (A: \
             asynchronous, B: memory-synchronous, C: synchronous, the safe default)",
            at(&text, "protocol = \"D\"", 12)
        )
    );
}

#[test]
fn missing_node_is_refused() {
    let start = EXAMPLE.find("[[node]]\nname = \"db-b\"").unwrap();
    let end = EXAMPLE.find("[drbd]").unwrap();
    let text = format!("{}{}", &EXAMPLE[..start], &EXAMPLE[end..]);
    assert_eq!(
        refusal(&text),
        format!(
            "{}exactly 2 [[node]] tables are needed, found 1; describe both machines, each \
             with name, peer_addresses, replication_address and backing_disk",
            at(&text, "[[node]]", 1)
        )
    );
}

#[test]
fn duplicate_address_is_refused() {
    let text = edited(
        "replication_address = \"10.0.1.2:7789\"",
        "replication_address = \"10.0.1.1:7789\"",
    );
    let first = line_of(&text, "replication_address = \"10.0.1.1:7789\"");
    let last = text
        .rfind("replication_address = \"10.0.1.1:7789\"")
        .unwrap();
    let second = text[..last].matches('\n').count() + 1;
    assert_eq!(
        refusal(&text),
        format!(
            "/etc/tandem/tandem.toml:{second}:23: address 10.0.1.1:7789 is used twice (first \
             at line {first}, column 23); give every peer-link and replication endpoint its own \
             address:port"
        )
    );
}

#[test]
fn stonith_fencing_with_protocol_a_is_refused() {
    let text = edited("protocol = \"C\"", "protocol = \"A\"").replacen(
        "fencing = \"resource-only\"",
        "fencing = \"resource-and-stonith\"",
        1,
    );
    assert_eq!(
        refusal(&text),
        format!(
            "{}fencing \"resource-and-stonith\" cannot be used with protocol \"A\" (the DRBD \
             kernel refuses it); set protocol = \"C\" or fencing = \"resource-only\"",
            at(&text, "fencing = ", 11)
        )
    );
    // B and C are fine with stonith fencing.
    let text = text.replacen("protocol = \"A\"", "protocol = \"B\"", 1);
    Config::parse(&text, Path::new("x.toml")).unwrap();
}

#[test]
fn discard_node_must_name_a_node() {
    let text = edited(
        "after_sb_0pri = \"disconnect\"",
        "after_sb_0pri = \"discard-node-db-c\"",
    );
    assert_eq!(
        refusal(&text),
        format!(
            "{}after-sb-0pri \"discard-node-db-c\" names no configured node; use \
             discard-node-<name> with one of: db-a, db-b",
            at(&text, "after_sb_0pri", 17)
        )
    );
}

#[test]
fn malformed_values_are_refused_where_they_stand() {
    let text = edited("\"10.0.1.1:7789\"", "\"10.0.1.1\"");
    assert_eq!(
        refusal(&text),
        format!(
            "{}\"10.0.1.1\" is not an IP address with a port; write it as \"10.0.0.1:7789\" \
             (IPv6: \"[fd00::1]:7789\")",
            at(&text, "replication_address = \"10.0.1.1\"", 23)
        )
    );
    let text = edited("\"10.0.0.100/24\"", "\"10.0.0.100/33\"");
    assert_eq!(
        refusal(&text),
        format!(
            "{}\"10.0.0.100/33\" is not ADDRESS/PREFIX; write it as \"10.0.0.100/24\"",
            at(&text, "address = \"10.0.0.100/33\"", 11)
        )
    );
    let text = edited("interface = \"eth0\"\n", "");
    assert_eq!(
        refusal(&text),
        format!(
            "{}missing key `interface` in [vip]; add it (docs/configuration.md describes every \
             key)",
            at(&text, "[vip]", 1)
        )
    );
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let text = edited("peer_timeout_ms = 1500", "peer_timeout_ms = 300")
        .replacen("device = \"/dev/drbd0\"", "device = \"/dev/drbd1\"", 1)
        .replacen(
            "datadir = \"/var/lib/mysql-ha/data\"",
            "datadir = \"/srv/x\"",
            1,
        );
    assert_eq!(
        refusal(&text),
        format!(
            "{}device \"/dev/drbd1\" does not match minor = 0; set device = \"/dev/drbd0\" or \
             change minor\n\
             {}datadir \"/srv/x\" is not under the mountpoint \"/var/lib/mysql-ha\"; the data \
             would not be replicated; put it inside the mountpoint\n\
             {}peer_timeout_ms = 300 is less than 3 heartbeats (200 ms each), so one lost \
             packet would look like a dead peer; raise it to at least 600",
            at(&text, "device = \"/dev/drbd1\"", 10),
            at(&text, "datadir = ", 11),
            at(&text, "peer_timeout_ms", 19)
        )
    );
}

#[test]
fn unreadable_file_says_what_to_do() {
    let err = Config::load(Path::new("/nonexistent/tandem.toml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read /nonexistent/tandem.toml: No such file or directory (os error 2); create \
         it from resources/tandem.toml or pass --config PATH"
    );
}

/// The example turned into a shared-disk config: no [drbd], an explicit device.
fn shared_disk() -> String {
    let start = EXAMPLE.find("[drbd]").unwrap();
    let end = EXAMPLE.find("[filesystem]").unwrap();
    let text = format!("{}{}", &EXAMPLE[..start], &EXAMPLE[end..]);
    text.replacen(
        "cluster = \"prod-db\"",
        "cluster = \"prod-db\"\nstorage = \"shared-disk\"",
        1,
    )
    .replacen("[filesystem]", "[filesystem]\ndevice = \"/dev/sdb\"", 1)
}

#[test]
fn shared_disk_storage_needs_a_device_and_no_drbd() {
    let config = Config::parse(&shared_disk(), Path::new("x.toml")).unwrap();
    assert_eq!(config.filesystem_device(), Path::new("/dev/sdb"));
    assert_eq!(config.drbd_resource(), None);
    let storage = at(&shared_disk(), "storage = ", 11);
    assert_eq!(
        refusal(&shared_disk().replacen("device = \"/dev/sdb\"\n", "", 1)),
        format!(
            "{storage}storage = \"shared-disk\" needs [filesystem] device, the shared LUN's \
             path, e.g. device = \"/dev/disk/by-id/wwn-0x5000c500a1b2c3d4\""
        )
    );
    let text = shared_disk().replacen("[filesystem]", "[drbd]\nresource = \"r0\"\n[filesystem]", 1);
    assert_eq!(
        refusal(&text),
        format!(
            "{}[drbd] is set but storage = \"shared-disk\" does not use DRBD; remove [drbd], or \
             set storage = \"drbd\"",
            at(&text, "resource = \"r0\"", 12)
        )
    );
    assert_eq!(
        refusal(&shared_disk().replacen("\"shared-disk\"", "\"drbd\"", 1)),
        format!(
            "{storage}storage = \"drbd\" needs a [drbd] table; add one (see \
             resources/tandem.toml), or set storage = \"shared-disk\" for a SAN LUN"
        )
    );
    assert_eq!(
        refusal(&shared_disk().replacen("\"shared-disk\"", "\"san\"", 1)),
        format!(
            "{storage}storage \"san\" is not valid; use one of \"drbd\" or \"shared-disk\" \
             (\"shared-disk\" is safe only with fencing: both nodes see the disk)"
        )
    );
}

#[test]
fn split_brain_policies_that_need_an_after_sb_0pri_choice_are_refused() {
    let text = edited(
        "after_sb_1pri = \"disconnect\"",
        "after_sb_1pri = \"consensus\"",
    );
    assert_eq!(
        refusal(&text),
        at(&text, "after_sb_1pri", 17)
            + "after-sb-1pri \"consensus\" applies the choice \
         after-sb-0pri makes, and after-sb-0pri \"disconnect\" makes none; set after_sb_0pri \
         to a discard policy (e.g. \"discard-zero-changes\") or after_sb_1pri = \"disconnect\""
    );
    let text = edited(
        "after_sb_2pri = \"disconnect\"",
        "after_sb_2pri = \"violently-as0p\"",
    );
    assert_eq!(
        refusal(&text),
        at(&text, "after_sb_2pri", 17)
            + "after-sb-2pri \"violently-as0p\" applies the choice \
         after-sb-0pri makes, and after-sb-0pri \"disconnect\" makes none; set after_sb_0pri \
         to a discard policy or after_sb_2pri = \"disconnect\""
    );
    // With a choice to apply, both are accepted.
    let text = edited(
        "after_sb_0pri = \"disconnect\"",
        "after_sb_0pri = \"discard-zero-changes\"",
    )
    .replacen(
        "after_sb_1pri = \"disconnect\"",
        "after_sb_1pri = \"consensus\"",
        1,
    )
    .replacen(
        "after_sb_2pri = \"disconnect\"",
        "after_sb_2pri = \"violently-as0p\"",
        1,
    );
    Config::parse(&text, Path::new("x.toml")).unwrap();
}

#[test]
fn split_brain_backup_dir_must_outlive_the_data() {
    let text =
        format!("{EXAMPLE}\n[engine]\nsplit_brain_backup_dir = \"/var/lib/mysql-ha/keep\"\n");
    assert_eq!(
        refusal(&text),
        at(&text, "split_brain_backup_dir", 26)
            + "split_brain_backup_dir \"/var/lib/mysql-ha/keep\" is \
         inside the DRBD filesystem, where the copy would be discarded with the data it \
         preserves; choose a directory on a local filesystem with room for one backing \
         device, e.g. \"/var/lib/tandem/split-brain\""
    );
    let text = format!("{EXAMPLE}\n[engine]\nsplit_brain_backup_dir = \"/srv/split-brain\"\n");
    Config::parse(&text, Path::new("x.toml")).unwrap();
}

#[test]
fn dont_care_fencing_is_refused_while_automatic_failover_is_on() {
    let text = edited("fencing = \"resource-only\"", "fencing = \"dont-care\"");
    assert_eq!(
        refusal(&text),
        at(&text, "fencing = ", 11)
            + "fencing \"dont-care\" lets DRBD promote over a peer that \
         may still be Primary, so automatic failover could run two Primaries; remove the line \
         (tandem picks resource-and-stonith with a power fence, else resource-only), or set \
         [engine] automatic_failover = false"
    );
    let off = format!("{text}\n[engine]\nautomatic_failover = false\n");
    let config = Config::parse(&off, Path::new("x.toml")).unwrap();
    assert_eq!(config.fencing(), tandem::config::Fencing::DontCare);
}

#[test]
fn fencing_defaults_to_stonith_with_a_power_fence() {
    use tandem::config::Fencing;
    let unset = edited("fencing = \"resource-only\"", "");
    let config = Config::parse(&unset, Path::new("x.toml")).unwrap();
    assert_eq!(config.fencing(), Fencing::ResourceOnly);
    let fenced =
        format!("{unset}\n[engine]\npower_fence_command = [\"/usr/sbin/fence_ipmilan\"]\n");
    let config = Config::parse(&fenced, Path::new("x.toml")).unwrap();
    assert_eq!(config.fencing(), Fencing::ResourceAndStonith);
    // Protocol A cannot freeze I/O: the default stays resource-only.
    let async_a = fenced.replacen("protocol = \"C\"", "protocol = \"A\"", 1);
    let config = Config::parse(&async_a, Path::new("x.toml")).unwrap();
    assert_eq!(config.fencing(), Fencing::ResourceOnly);
}

#[test]
fn metrics_and_hooks_are_optional_and_checked() {
    let text = format!(
        "{EXAMPLE}\n[metrics]\nlisten = \"127.0.0.1:9942\"\n[hooks]\n\
         command = [\"/usr/local/bin/tandem-alert\", \"--page\"]\n"
    );
    let config = Config::parse(&text, Path::new("x.toml")).unwrap();
    let metrics = config.metrics.expect("[metrics]");
    assert_eq!(metrics.listen.get_ref().to_string(), "127.0.0.1:9942");
    let hooks = config.hooks.expect("[hooks]");
    assert_eq!(*hooks.timeout_ms.get_ref(), 5_000, "the default");
    assert!(Config::parse(EXAMPLE, Path::new("x.toml"))
        .unwrap()
        .metrics
        .is_none());

    let text = format!("{EXAMPLE}\n[metrics]\nlisten = \"localhost\"\n");
    assert_eq!(
        refusal(&text),
        at(&text, "listen = \"localhost\"", 10)
            + "\"localhost\" is not an IP address with a port; write \
         it as \"10.0.0.1:7789\" (IPv6: \"[fd00::1]:7789\")"
    );
    let text = format!("{EXAMPLE}\n[hooks]\ncommand = [\"tandem-alert\"]\ntimeout_ms = 0\n");
    assert_eq!(
        refusal(&text),
        format!(
            "{}[hooks] command \"tandem-alert\" must be an absolute path (it is run without a \
             shell or PATH lookup), e.g. \"/usr/local/bin/tandem-alert\"\n\
             {}[hooks] timeout_ms = 0 is outside 10..=60000; a hook is killed after it, so give \
             it a few seconds (default 5000)",
            at(&text, "command = [\"tandem-alert\"]", 11),
            at(&text, "timeout_ms = 0", 14)
        )
    );
    let text = format!("{EXAMPLE}\n[hooks]\ncommand = []\n");
    assert_eq!(
        refusal(&text),
        at(&text, "command = []", 11)
            + "[hooks] command is empty; give the program and its \
         arguments, e.g. command = [\"/usr/local/bin/tandem-alert\"], or remove [hooks]"
    );
}

const REPLICATION: &str = "
[replication]
binlog_dir = \"/var/lib/mysql-ha/binlog\"
server_ids = { db-a = 1, db-b = 2 }
credentials_file = \"/etc/tandem/replication.cred\"
semi_sync = true
semi_sync_timeout_ms = 5000

[[replica]]
name = \"r1\"
host = \"10.0.0.21\"
credentials_file = \"/etc/tandem/replica-r1.cred\"
";

fn with_replication(from: &str, to: &str) -> String {
    assert!(REPLICATION.contains(from), "replication has no {from:?}");
    format!("{EXAMPLE}{}", REPLICATION.replacen(from, to, 1))
}

#[test]
fn replication_source_options_are_passed_to_mysqld_before_the_operators_args() {
    let text = with_replication("", "");
    let config = Config::parse(&text, Path::new("t.toml")).unwrap();
    assert_eq!(config.replica[0].port.get_ref(), &3306);
    let args = config.mysqld_for("db-b").args;
    assert_eq!(
        args,
        [
            "--server-id=2",
            "--log-bin=/var/lib/mysql-ha/binlog/binlog",
            "--log-bin-index=/var/lib/mysql-ha/binlog/binlog.index",
            "--binlog-format=ROW",
            "--sync-binlog=1",
            "--gtid-strict-mode=ON",
            "--rpl-semi-sync-master-enabled=ON",
            "--rpl-semi-sync-master-timeout=5000",
            "--innodb-buffer-pool-size=1G",
            "--innodb-temp-data-file-path=ibtmp1:1M:autoextend",
        ]
    );
    let plain = Config::parse(EXAMPLE, Path::new("t.toml")).unwrap();
    assert_eq!(plain.mysqld_for("db-a"), plain.mysqld);
}

#[test]
fn binlog_outside_the_mountpoint_is_refused() {
    let text = with_replication("/var/lib/mysql-ha/binlog", "/var/log/binlog");
    let line = line_of(&text, "binlog_dir");
    assert_eq!(
        refusal(&text),
        format!(
            "/etc/tandem/tandem.toml:{line}:14: binlog_dir \"/var/log/binlog\" is not under the \
             mountpoint \"/var/lib/mysql-ha\"; the binary log must move with the data, or the \
             replicas lose their place on switchover; use e.g. \"/var/lib/mysql-ha/binlog\""
        )
    );
}

#[test]
fn server_ids_need_every_node_once_and_distinct() {
    let text = with_replication("db-b = 2", "db-c = 1");
    let line = line_of(&text, "server_ids");
    let p = format!("/etc/tandem/tandem.toml:{line}:14: ");
    assert_eq!(
        refusal(&text),
        format!(
            "{p}server_ids has no entry for node \"db-b\"; give each node its own server_id, \
             e.g. server_ids = {{ db-a = 1, db-b = 2 }}\n\
             {p}server_ids names \"db-c\", which is not a [[node]]; use the node names db-a \
             and db-b\n\
             {p}server_ids: db-a and db-c both have 1; each node needs its own server_id, or \
             replicas cannot tell their GTIDs apart"
        )
    );
}

#[test]
fn replicas_need_replication_and_sane_fields() {
    let start = REPLICATION.find("[[replica]]").unwrap();
    let text = format!("{EXAMPLE}{}", &REPLICATION[start..]);
    let line = line_of(&text, "name = \"r1\"");
    assert_eq!(
        refusal(&text),
        format!(
            "/etc/tandem/tandem.toml:{line}:8: [[replica]] needs a [replication] table \
             (binlog_dir, server_ids, credentials_file) so that the active node is a \
             replication source; add one"
        )
    );
    let text = with_replication("semi_sync_timeout_ms = 5000", "semi_sync_timeout_ms = 0");
    assert!(refusal(&text).contains("semi_sync_timeout_ms = 0 is outside 1..=60000"));
    let text = with_replication("\"/etc/tandem/replica-r1.cred\"", "\"r1.cred\"");
    assert!(refusal(&text).ends_with(
        "credentials_file \"r1.cred\" must be an absolute path, e.g. \
         \"/etc/tandem/replica-r1.cred\""
    ));
    let twice = format!(
        "{}\n[[replica]]\nname = \"r1\"\nhost = \"\"\nport = 0\ncredentials_file = \"/c\"\n",
        with_replication("", "")
    );
    let problems = refusal(&twice);
    assert!(problems.contains("replica name \"r1\" is used twice (first on line"));
    assert!(problems.contains("replica host is empty; give the replica server's address"));
    assert!(problems.contains("replica port 0 is not a port"));
}

#[test]
fn the_control_socket_is_read_without_validating_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tandem.toml");
    // A config that would not validate (no nodes at all) still names its socket: DRBD's
    // handlers only need that, and must not wait for a full validation.
    std::fs::write(&path, "[engine]\ncontrol_socket = \"/run/x/t.sock\"\n").unwrap();
    assert_eq!(Config::control_socket_of(&path), Path::new("/run/x/t.sock"));
    std::fs::write(&path, "not toml at all [").unwrap();
    assert_eq!(
        Config::control_socket_of(&path),
        Path::new("/run/tandem/tandem.sock")
    );
    assert_eq!(
        Config::control_socket_of(&dir.path().join("missing.toml")),
        Path::new("/run/tandem/tandem.sock")
    );
    std::fs::write(&path, EXAMPLE).unwrap();
    let full = Config::parse(EXAMPLE, &path).unwrap();
    assert_eq!(Config::control_socket_of(&path), full.engine.control_socket);
}

#[test]
fn a_power_status_command_needs_a_power_fence_and_a_program() {
    let alone =
        format!("{EXAMPLE}\n[engine]\npower_status_command = [\"/usr/sbin/fence_ipmilan\"]\n");
    let line = alone.lines().count();
    assert_eq!(
        refusal(&alone),
        format!(
            "/etc/tandem/tandem.toml:{line}:24: power_status_command without a \
             power_fence_command does nothing: a peer whose power reads off is still \
             power-fenced before a takeover; add the power_fence_command or remove this line"
        )
    );
    let empty = format!(
        "{EXAMPLE}\n[engine]\npower_fence_command = [\"/bin/true\"]\npower_status_command = []\n"
    );
    assert!(
        refusal(&empty).contains("power_status_command is empty; give the program"),
        "{}",
        refusal(&empty)
    );
    let both = format!(
        "{EXAMPLE}\n[engine]\npower_fence_command = [\"/bin/true\"]\n\
         power_status_command = [\"/bin/sh\", \"-c\", \"exit 2\"]\n"
    );
    let config = Config::parse(&both, Path::new("x.toml")).unwrap();
    assert!(config.settings.power_status);
}
