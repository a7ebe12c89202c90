//! The binaries as an operator runs them: `tandem --help`, `tandem check`,
//! `tandem drbd render` and `tandemd --check`, on this host with its real drbd-utils.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tandem::exec::host;

const EXAMPLE: &str = include_str!("../resources/tandem.toml");
const TANDEM: &str = env!("CARGO_BIN_EXE_tandem");
const TANDEMD: &str = env!("CARGO_BIN_EXE_tandemd");

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

/// The example config, made to fit this host: node db-a is this host, the VIP interface is
/// `lo` (only looked at, never changed), a private peer key exists, the handler shim is the
/// repository's, and both nodes' peer-link addresses are on loopback (the peer-link check
/// dials them; nothing listens there, so it reports a `!`).
fn setup(edits: &[(&str, &str)]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("peer.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let me = host::node_name().unwrap();
    let mut text = EXAMPLE
        .replacen("name = \"db-a\"", &format!("name = \"{me}\""), 1)
        .replacen("/etc/tandem/peer.key", &key.display().to_string(), 1)
        .replacen("interface = \"eth0\"", "interface = \"lo\"", 1)
        .replacen(
            "\"10.0.0.1:7800\", \"192.168.10.1:7800\"",
            "\"127.0.0.1:17800\", \"127.0.0.1:17801\"",
            1,
        )
        .replacen(
            "\"10.0.0.2:7800\", \"192.168.10.2:7800\"",
            "\"127.0.0.1:17802\", \"127.0.0.1:17803\"",
            1,
        )
        .replacen(
            "/usr/lib/tandem/kernel-helpers",
            concat!(env!("CARGO_MANIFEST_DIR"), "/kernel-helpers"),
            1,
        );
    for (from, to) in edits {
        assert!(text.contains(from), "no {from:?}");
        text = text.replacen(from, to, 1);
    }
    let config = dir.path().join("tandem.toml");
    std::fs::write(&config, text).unwrap();
    Setup { dir, config }
}

fn run(program: &str, args: &[&str], config: &Path) -> Output {
    Command::new(program)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn help_lists_the_commands() {
    let out = Command::new(TANDEM).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    for word in [
        "check",
        "init",
        "drbd",
        "--config",
        "/etc/tandem/tandem.toml",
    ] {
        assert!(text.contains(word), "{word} not in {text}");
    }
    let out = Command::new(TANDEMD).arg("--help").output().unwrap();
    assert!(stdout(&out).contains("--check"));
}

/// The ✗ lines of `tandem check` that only an installed node passes: /usr/sbin/tandem (the
/// binary the shim runs) and /etc/drbd.d/r0.res equal to the render. This build host has
/// neither, unless someone installed tandem here.
fn not_installed_here(config: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    if !Path::new("/usr/sbin/tandem").exists() {
        lines.push(
            "✗ the shim runs /usr/sbin/tandem, which is missing or not executable; install the \
             tandem package (it puts tandem there)"
                .to_string(),
        );
    }
    let helper = tandem::config::DEFAULT_USERMODE_HELPER;
    if !Path::new(helper).exists() {
        lines.push(format!(
            "✗ {helper} is missing or not executable, so DRBD's fence-peer would go through \
             drbdadm and the shim, slower on the failover's path; install the tandem package \
             (it puts it there), or set [drbd] usermode_helper = \"\""
        ));
    }
    let installed = std::fs::read_to_string("/etc/drbd.d/r0.res").ok();
    let rendered = stdout(&run(TANDEM, &["drbd", "render"], config));
    if installed.as_deref() != Some(rendered.as_str()) {
        lines.push(match installed {
            None => "✗ DRBD resource file /etc/drbd.d/r0.res cannot be read (No such file or \
                     directory (os error 2)); run `tandem init` (or `tandem drbd render > \
                     /etc/drbd.d/r0.res`)"
                .to_string(),
            Some(_) => "✗ DRBD resource file /etc/drbd.d/r0.res differs from `tandem drbd \
                        render`, so drbdadm does not run what the config says; run `tandem \
                        init` to install the render, then `drbdadm adjust r0` applies it"
                .to_string(),
        });
    }
    lines
}

#[test]
fn check_passes_on_a_ready_host() {
    let s = setup(&[]);
    let out = run(TANDEM, &["check"], &s.config);
    let text = stdout(&out);
    let expected_failures = not_installed_here(&s.config);
    let failures: Vec<&str> = text.lines().filter(|l| l.starts_with('✗')).collect();
    assert_eq!(failures, expected_failures, "{text}");
    assert_eq!(out.status.success(), expected_failures.is_empty(), "{text}");
    let me = host::node_name().unwrap();
    let first: Vec<&str> = text.lines().take(4).collect();
    assert_eq!(
        first,
        [
            format!("✓ config {} is valid", s.config.display()).as_str(),
            &format!("✓ this host is node {me} (peer db-b)"),
            "✓ rendered DRBD resource is accepted by `drbdadm dump` (no DRBD module loaded \
             here: checked with the DRBD 8.4 grammar)",
            "✓ `drbdadm -d up` (dry run) accepts the resource",
        ]
    );
    assert!(
        text.contains("✓ mysqld found at /usr/sbin/mariadbd"),
        "{text}"
    );
    assert!(text.contains("✓ VIP interface lo exists"), "{text}");
    assert!(
        text.contains(&format!(
            "✓ DRBD handler shim {}/kernel-helpers/tandem-kernel-helper is installed and \
             executable",
            env!("CARGO_MANIFEST_DIR")
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "! peer link to db-b at 127.0.0.1:17802 does not answer (Connection refused (os \
             error 111)): expected until tandemd runs there; otherwise start it there and let \
             TCP port 17802 through the firewall from this node"
        ),
        "{text}"
    );
    assert!(
        text.contains("✓ DRBD fencing resource-only: a peer is outdated over the peer link"),
        "{text}"
    );
    // The daemon side gives the same report.
    let daemon = run(TANDEMD, &["--check"], &s.config);
    assert_eq!(daemon.status.code(), out.status.code());
    assert_eq!(stdout(&daemon), text);
}

#[test]
fn check_fails_loudly_on_each_problem() {
    let s = setup(&[
        ("interface = \"lo\"", "interface = \"lan0\""),
        ("/usr/sbin/mariadbd", "/nonexistent/mariadbd"),
    ]);
    let key = s.dir.path().join("peer.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(TANDEM, &["check"], &s.config);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let failures: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with('✗'))
        .map(str::to_string)
        .collect();
    let expected: Vec<String> = [
        "✗ mysqld program \"/nonexistent/mariadbd\" is not installed or not executable; \
             install it or fix the path in the config",
        "✗ VIP interface \"lan0\" does not exist on this host; set [vip] interface to the \
             interface on the clients' network (see `ip link`)",
        &format!(
            "✗ peer key {0} has mode 0644; run `chmod 600 {0}`",
            key.display()
        ),
    ]
    .into_iter()
    .map(str::to_string)
    .chain(not_installed_here(&s.config))
    .collect();
    assert_eq!(failures, expected, "{text}");
}

#[test]
fn check_reports_config_errors_with_their_place() {
    let s = setup(&[("protocol = \"C\"", "protocol = \"D\"")]);
    let out = run(TANDEM, &["check"], &s.config);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        format!(
            "✗ {}:27:12: protocol \"D\" is not valid; use one of \"A\", \"B\" or \"C\" (A: \
             asynchronous, B: memory-synchronous, C: synchronous, the safe default)\n",
            s.config.display()
        )
    );
}

#[test]
fn render_prints_the_resource_file() {
    let s = setup(&[]);
    let out = run(TANDEM, &["drbd", "render"], &s.config);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.starts_with(&format!(
        "# Rendered by `tandem drbd render` from {}.",
        s.config.display()
    )));
    assert!(text.contains("resource r0 {") && text.contains("fencing resource-only;"));
    let bad = run(TANDEM, &["drbd", "render"], Path::new("/nonexistent.toml"));
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cannot read /nonexistent.toml"));
}

#[test]
fn check_explains_the_split_brain_policies() {
    let s = setup(&[]);
    let text = stdout(&run(TANDEM, &["check"], &s.config));
    assert!(
        text.contains(
            "✓ after-split-brain policies (disconnect / disconnect / disconnect) never discard \
             a side that has changes: DRBD disconnects and the operator chooses the survivor"
        ),
        "{text}"
    );
    let s = setup(&[
        (
            "after_sb_0pri = \"disconnect\"",
            "after_sb_0pri = \"discard-least-changes\"",
        ),
        (
            "after_sb_1pri = \"disconnect\"",
            "after_sb_1pri = \"discard-secondary\"",
        ),
    ]);
    let out = run(TANDEM, &["check"], &s.config);
    let text = stdout(&out);
    let installed = not_installed_here(&s.config).is_empty();
    assert_eq!(
        out.status.success(),
        installed,
        "a risk is not a failure: {text}"
    );
    let risks: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with('!') && !l.starts_with("! peer link"))
        .collect();
    assert_eq!(
        risks,
        [
            "! after-sb-0pri \"discard-least-changes\" keeps the side with more changed \
             blocks: it can drop the side the application wrote to last (a burst of bulk \
             writes on the wrong side outweighs the real transactions)",
            "! after-sb-1pri \"discard-secondary\" discards whichever side is Secondary at \
             reconnect, even if it was the one the application wrote to during the split",
        ]
    );
}

/// With `--json`, a failure is one JSON error object on stdout, nothing on stderr, exit 1.
#[test]
fn json_errors_are_objects_on_stdout() {
    let s = setup(&[(
        "[timings]",
        "[engine]\ncontrol_socket = \"/nonexistent/tandem.sock\"\n[timings]",
    )]);
    for args in [&["status", "--json"][..], &["history", "--json"]] {
        let out = run(TANDEM, args, &s.config);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(value["error"]["kind"], "unreachable", "{value}");
        let message = value["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("cannot reach tandemd at /nonexistent/tandem.sock: "),
            "{message}"
        );
    }
    // Without --json the same failure is a sentence on stderr.
    let out = run(TANDEM, &["status"], &s.config);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("tandem: cannot reach tandemd"));
    // A --json command failing elsewhere (here: DRBD's tools on a host without DRBD) too.
    let out = run(TANDEM, &["drbd", "state", "--json"], &s.config);
    assert_eq!(out.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["error"]["kind"], "failed", "{value}");
}

/// `promote --force` without a terminal needs `--yes`; `--yes` alone is not a thing.
#[test]
fn a_forced_promote_needs_confirmation() {
    let s = setup(&[(
        "[timings]",
        "[engine]\ncontrol_socket = \"/nonexistent/tandem.sock\"\n[timings]",
    )]);
    let out = run(TANDEM, &["promote", "--force"], &s.config);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "tandem: promote --force needs confirmation; add --yes to confirm in a script (it \
         skips the safety checks and can lose data)"
    );
    let out = run(TANDEM, &["promote", "--yes"], &s.config);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap refuses --yes without --force"
    );
    // With --yes it goes to the daemon (absent here).
    let out = run(TANDEM, &["promote", "--force", "--yes"], &s.config);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach tandemd"));
}

/// `switchover --wait` waits as long as the config's mysqld timeouts allow, plus a margin.
#[test]
fn the_switchover_wait_follows_the_config() {
    let s = setup(&[("start_timeout_ms = 120000", "start_timeout_ms = 50000")]);
    let config = tandem::config::Config::load(&s.config).unwrap();
    let expected = 50_000
        + config.mysqld.stop_timeout_ms.get_ref()
        + config.timings.peer_timeout_ms.get_ref()
        + 30_000;
    assert_eq!(tandem::cli::ops::wait_timeout_ms(&s.config), expected);
    let missing = s.dir.path().join("missing.toml");
    assert_eq!(tandem::cli::ops::wait_timeout_ms(&missing), 180_000);
}

/// `tandem init` changes the host, so here only its refusals before the first step: a host
/// that is none of the nodes, and flags that only the initial primary takes. The steps run
/// in the VM lab (tests/vmlab/scenarios/install.rs).
#[test]
fn init_refuses_a_host_that_is_not_a_node() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tandem.toml");
    let me = host::node_name().unwrap();
    assert!(
        me != "db-a" && me != "db-b",
        "this host is named like the example's nodes"
    );
    std::fs::write(&config, EXAMPLE).unwrap();
    let out = run(TANDEM, &["init"], &config);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        stdout(&out).contains(&format!(
            "this host \"{me}\" is none of the nodes (db-a, db-b)"
        )),
        "{out:?}"
    );
    let out = run(TANDEM, &["init", "--skip-initial-sync"], &config);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--initial-primary"));
    let help = Command::new(TANDEM)
        .args(["init", "--help"])
        .output()
        .unwrap();
    let help = stdout(&help);
    for flag in [
        "--key-from",
        "--initial-primary",
        "--skip-initial-sync",
        "--force-data",
        "--move-datadir",
    ] {
        assert!(help.contains(flag), "{flag} not in {help}");
    }
}

#[test]
fn check_verifies_the_replica_credentials_files() {
    let s = setup(&[]);
    let open = s.dir.path().join("open.cred");
    std::fs::write(&open, "user = repl\npassword = x\n").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let missing = s.dir.path().join("missing.cred");
    let mut text = std::fs::read_to_string(&s.config).unwrap();
    text.push_str(&format!(
        "[replication]\nbinlog_dir = \"/var/lib/mysql-ha/binlog\"\n\
         server_ids = {{ {} = 1, db-b = 2 }}\ncredentials_file = \"{}\"\n\
         [[replica]]\nname = \"r1\"\nhost = \"10.0.0.21\"\ncredentials_file = \"{}\"\n",
        host::node_name().unwrap(),
        open.display(),
        missing.display()
    ));
    std::fs::write(&s.config, text).unwrap();
    let out = run(TANDEM, &["check"], &s.config);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let mode_line = if nix::unistd::geteuid().is_root() {
        format!(
            "✗ credentials for the replication account: {}: its mode is 0644, readable by \
             others; it holds a password: `chmod 0600` it",
            open.display()
        )
    } else {
        format!(
            "✗ credentials for the replication account: {}: it is owned by uid {}, not root; \
             it holds a password: `chown root:root` it",
            open.display(),
            nix::unistd::geteuid()
        )
    };
    assert!(text.contains(&mode_line), "{text}");
    assert!(
        text.contains(&format!(
            "✗ credentials for replica r1: {}: cannot read it: No such file or directory",
            missing.display()
        )),
        "{text}"
    );
}
