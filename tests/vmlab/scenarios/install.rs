//! The issue's "done" criterion: the .deb that cargo-deb builds, installed in both guests
//! (`dpkg -i`: the guests' /usr, /etc and /var are overlays of the host's root, so the host is
//! untouched), and the two-node cluster brought up from blank disks with ONLY the commands of
//! docs/install.md, read out of its fenced blocks marked `vmlab=LABEL on=NODE`, so that the
//! document cannot drift from what works. Then the switchover it documents, checked.
//!
//! The lab does three things itself, each where the document says a human does: it writes
//! its config into /etc/tandem/tandem.toml (the document's `editor`), carries the key from
//! vm-a to vm-b (the document's `scp`), and starts /usr/sbin/tandemd (the document's
//! `systemctl enable --now tandemd`: the guests have no systemd).

use crate::files::engine_config_text;
use crate::lab::{Lab, Node};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const INSTALL_DOC: &str = include_str!("../../../docs/install.md");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// Where the package installs the DRBD handler shim.
const PACKAGE_HELPERS_DIR: &str = "/usr/lib/tandem/kernel-helpers";
/// Where the package puts `tandem-drbd-helper`, the config's default `[drbd] usermode_helper`.
const DIRECT_HELPER: &str = tandem::config::DEFAULT_USERMODE_HELPER;
/// `tandem init --initial-primary` under TCG: mkfs, mariadb-install-db (~20 s), waits.
const INIT_TIMEOUT: Duration = Duration::from_secs(300);
const ENGINE_TIMEOUT: Duration = Duration::from_secs(120);

/// One fenced block of install.md marked for the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocBlock {
    pub label: String,
    /// `both`, `db-a` or `db-b`.
    pub on: String,
    pub script: String,
}

/// Every ```` ```sh vmlab=LABEL on=NODE ```` block, in document order.
pub fn doc_blocks(doc: &str) -> Vec<DocBlock> {
    let mut blocks = Vec::new();
    let mut in_block = false;
    let mut current: Option<DocBlock> = None;
    for line in doc.lines() {
        if let Some(info) = line.trim_start().strip_prefix("```") {
            if in_block {
                blocks.extend(current.take());
            } else {
                let word = |key: &str| {
                    info.split_whitespace()
                        .find_map(|w| w.strip_prefix(key))
                        .map(str::to_string)
                };
                current = word("vmlab=").map(|label| DocBlock {
                    label,
                    on: word("on=").unwrap_or_default(),
                    script: String::new(),
                });
            }
            in_block = !in_block;
        } else if let Some(block) = &mut current {
            block.script.push_str(line);
            block.script.push('\n');
        }
    }
    blocks
}

/// The block labelled `label`, which must be marked for `on`.
fn block(label: &str, on: &str) -> String {
    let found: Vec<DocBlock> = doc_blocks(INSTALL_DOC)
        .into_iter()
        .filter(|b| b.label == label)
        .collect();
    assert_eq!(found.len(), 1, "docs/install.md: one vmlab={label} block");
    assert_eq!(found[0].on, on, "docs/install.md: vmlab={label} runs on");
    found[0]
        .script
        .replace("db-a", "vm-a")
        .replace("db-b", "vm-b")
}

fn node_of(on: &str) -> Node {
    match on {
        "db-a" => Node::A,
        "db-b" => Node::B,
        other => panic!("not a node: {other}"),
    }
}

/// Builds the .deb from this test run's binaries, as tests/package.rs does, into `dir`:
/// stripped, without the debug-symbols package and with fast compression (xz over the debug
/// build's symbols takes minutes on two cores; the package's contents are the same).
fn build_package(dir: &Path) -> PathBuf {
    let tandem = env!("CARGO_BIN_EXE_tandem");
    let files = Path::new(MANIFEST_DIR).join("target/package-files");
    let _ = std::fs::remove_dir_all(&files);
    let ok = Command::new(tandem)
        .arg("package-files")
        .arg("--out")
        .arg(&files)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "tandem package-files failed");
    let _ = std::fs::remove_dir_all(dir);
    let out = Command::new("cargo")
        .current_dir(MANIFEST_DIR)
        .args([
            "deb",
            "--no-build",
            "--locked",
            "--profile",
            "dev",
            "--no-dbgsym",
            "--strip",
            "--fast",
            "--output",
        ])
        .arg(dir)
        .output()
        .expect("cargo deb (cargo install cargo-deb --locked --version 3.6.0)");
    assert!(
        out.status.success(),
        "cargo deb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let deb = printed.lines().map(str::trim).find(|l| l.ends_with(".deb"));
    PathBuf::from(deb.unwrap_or_else(|| panic!("cargo deb printed no .deb: {printed}")))
}

/// Runs a document block on its node(s) (both at once) in the package's directory; returns
/// the output of A, or of the one node, which must have exited `code`.
fn run_block(lab: &mut Lab, label: &str, on: &str, dir: &Path, code: i32) -> String {
    let script = format!("cd {}\nset -e\n{}", dir.display(), block(label, on));
    let run = |node: Node, guest: &mut crate::guest::Guest| {
        let out = guest
            .exec(&script, INIT_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
        println!("    [{}] {label}: exit {}", node.name(), out.code);
        assert_eq!(
            out.code,
            code,
            "[{}] docs/install.md vmlab={label}:\n{script}\n{}{}",
            node.name(),
            out.stdout,
            out.stderr
        );
        out.stdout
    };
    match on {
        "both" => {
            let [a, _] = lab.both(run);
            a
        }
        one => {
            let node = node_of(one);
            run(node, lab.guest(node))
        }
    }
}

/// From blank disks and no tandem files to a cluster serving on vm-a, then on vm-b.
pub fn run(lab: &mut Lab) {
    let dir = lab.run_dir.join("deb");
    let deb = build_package(&dir);
    println!("    package {}", deb.display());
    let config = lab.run_dir.join("config/tandem-install.toml");
    let text = engine_config_text(&lab.run_dir).replace(
        &format!("helpers_dir = \"{MANIFEST_DIR}/kernel-helpers\""),
        &format!("helpers_dir = \"{PACKAGE_HELPERS_DIR}\""),
    );
    assert!(text.contains(PACKAGE_HELPERS_DIR));
    std::fs::write(&config, text).unwrap();
    // Blank machines: no tandem, no config, no key, no DRBD file, disks without signatures.
    // man-db's trigger would rebuild the manual index under TCG for minutes: without its
    // auto-update flag (in the guest's overlay only) dpkg skips it.
    lab.both(|_, guest| {
        guest.sh("rm -f /usr/sbin/tandem /usr/sbin/tandemd /tmp/peer.key\n\
             rm -rf /etc/tandem /etc/drbd.d/r0.res /var/lib/tandem /usr/lib/tandem\n\
             printf %s /sbin/drbdadm > /sys/module/drbd/parameters/usermode_helper\n\
             rm -f /var/lib/man-db/auto-update\n\
             wipefs --all --quiet /dev/vda")
    });
    run_block(lab, "install", "both", &dir, 0);
    lab.both(|_, guest| {
        guest.sh(&format!(
            "test -x /usr/sbin/tandem && test -x /usr/sbin/tandemd && \
             test -x {PACKAGE_HELPERS_DIR}/tandem-kernel-helper && \
             test -x {DIRECT_HELPER} && \
             cp {} /etc/tandem/tandem.toml",
            config.display()
        ))
    });
    refuses_a_disk_with_data(lab, &dir);
    let first = run_block(lab, "init-first", "db-a", &dir, 0);
    assert!(first.contains("already done"), "{first}");
    let key = lab.guest(Node::A).spec.share.join("peer.key");
    assert!(
        block("copy-key", "db-a").contains("scp -p /etc/tandem/peer.key root@vm-b:/tmp/peer.key")
    );
    lab.sh(
        Node::A,
        &format!("cp /etc/tandem/peer.key {}", key.display()),
    );
    lab.sh(
        Node::B,
        &format!("install -m 0600 {} /tmp/peer.key", key.display()),
    );
    let second = run_block(lab, "init-second", "db-b", &dir, 0);
    assert!(second.contains("copied from /tmp/peer.key"), "{second}");
    let primary = run_block(lab, "initial-primary", "db-a", &dir, 0);
    for step in [
        "new-current-uuid",
        "mkfs -t ext4",
        "mariadb-install-db",
        "drbdadm secondary",
    ] {
        assert!(primary.contains(step), "{step} not in {primary}");
    }
    // Idempotent: run again, every step is already done or skipped; only the check runs.
    let again = run_block(lab, "init-second", "db-b", &dir, 0);
    assert_no_step_acted(&again);
    start_and_switch_over(lab, &dir);
    removal_gives_drbd_its_helper_back(lab);
}

/// tandemd made the packaged `tandem-drbd-helper` DRBD's usermode helper; removing the package
/// (its prerm) gives DRBD its own back, so that no handler call runs a missing file.
fn removal_gives_drbd_its_helper_back(lab: &mut Lab) {
    let param = "/sys/module/drbd/parameters/usermode_helper";
    let before = lab.sh(Node::A, &format!("cat {param}"));
    assert_eq!(before.trim(), DIRECT_HELPER, "tandemd did not install it");
    // `usermode_helper = ""`: the standby's next tandemd gives DRBD its own back; the default
    // again: the one after installs tandem's once more.
    for (edit, logged, expected) in [
        (
            "s|^ping_timeout_ms = 500$|&\\nusermode_helper = \"\"|",
            "DRBD's usermode helper is /sbin/drbdadm again",
            "/sbin/drbdadm|".to_string(),
        ),
        (
            "/^usermode_helper = \"\"$/d",
            "DRBD's usermode helper is now tandem's",
            format!("{DIRECT_HELPER}|"),
        ),
    ] {
        lab.sh(
            Node::A,
            &format!(
                "pkill -TERM -x tandemd; i=0; while pgrep -x tandemd >/dev/null && [ $i -lt 100 ]; \
                 do sleep 0.1; i=$((i+1)); done; sed -i '{edit}' /etc/tandem/tandem.toml"
            ),
        );
        lab.start_tandemd(Node::A);
        lab.wait_engine(logged, ENGINE_TIMEOUT, |lab| {
            lab.tandemd_log(Node::A).contains(logged)
        });
        let now = lab.sh(Node::A, &format!("tr '\\n' '|' < {param}"));
        assert_eq!(now.trim(), expected, "after: {logged}");
    }
    lab.wait_engine("vm-a to stand by", ENGINE_TIMEOUT, |lab| {
        lab.standing_by(Node::A)
    });
    let removed = lab.sh(
        Node::A,
        &format!(
            "pkill -TERM -x tandemd; dpkg -r tandem >/dev/null 2>&1; tr '\\n' '|' < {param}; \
                  test -e {DIRECT_HELPER} && echo still-there || true"
        ),
    );
    // Exactly the path and the newline sysfs adds when it is read: a newline written with
    // it would become part of the path the kernel runs.
    assert_eq!(removed.trim(), "/sbin/drbdadm|", "after dpkg -r tandem");
    println!("    dpkg -r tandem on vm-a: DRBD's usermode helper is /sbin/drbdadm again");
}

/// `tandem init` on a backing disk with a filesystem: refused with exit 3, naming it; then
/// `--force-data DISK` (docs/install.md, step 4) erases it and goes on, and the document's
/// `tandem init` afterwards finds everything done.
fn refuses_a_disk_with_data(lab: &mut Lab, dir: &Path) {
    lab.sh(Node::A, "mkfs.ext4 -q -F /dev/vda");
    let refused = run_block(lab, "init-first", "db-a", dir, 3);
    assert!(
        refused.contains("/dev/vda holds data: ext4 at offset"),
        "{refused}"
    );
    let forced = lab
        .guest(Node::A)
        .exec("tandem init --force-data /dev/vda", INIT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(forced.code, 0, "{}{}", forced.stdout, forced.stderr);
    let forced = forced.stdout;
    assert!(forced.contains("erased ext4 at offset"), "{forced}");
}

fn start_and_switch_over(lab: &mut Lab, dir: &Path) {
    assert_eq!(
        block("start", "both").trim(),
        "systemctl enable --now tandemd"
    );
    // vm-a first, vm-b once vm-a serves, as Lab::start_engine does: started together, vm-b
    // rightly takes the service when vm-a's tandemd comes up a peer timeout later (a loaded
    // host), and the document's switchover below starts from vm-a.
    lab.start_tandemd(Node::A);
    let took = lab.wait_engine("vm-a to serve", ENGINE_TIMEOUT, |lab| lab.serving(Node::A));
    lab.start_tandemd(Node::B);
    lab.wait_engine("vm-b to stand by", ENGINE_TIMEOUT, |lab| {
        lab.standing_by(Node::B)
    });
    println!(
        "    vm-a serves {:.1} s after tandemd started",
        took.as_secs_f64()
    );
    let status = run_block(lab, "verify", "db-a", dir, 0);
    assert!(
        status.contains("vm-a") && status.contains("vm-b"),
        "{status}"
    );
    lab.sh(
        Node::A,
        "mariadb --socket=/run/mysqld/mysqld.sock -e \"CREATE DATABASE install; \
         CREATE TABLE install.t (id INT PRIMARY KEY) ENGINE=InnoDB; \
         INSERT INTO install.t VALUES (42)\"",
    );
    run_block(lab, "switchover", "db-a", dir, 0);
    lab.wait_engine("vm-b to serve", ENGINE_TIMEOUT, |lab| {
        lab.serving(Node::B) && lab.standing_by(Node::A)
    });
    let row = lab.sh(
        Node::B,
        "mariadb --socket=/run/mysqld/mysqld.sock -N -B -e 'SELECT id FROM install.t'",
    );
    assert_eq!(row.trim(), "42", "the row written on vm-a, read on vm-b");
    // On the live active node, init finds everything done, and its check reaches the peer's
    // tandemd and authenticates, without disturbing the cluster.
    let live = lab.sh(Node::B, "tandem init");
    assert_no_step_acted(&live);
    assert!(
        live.contains("✓ peer link to vm-a at 10.99.0.1:7800 answers and authenticates"),
        "{live}"
    );
    assert!(lab.serving(Node::B) && lab.standing_by(Node::A));
}

/// Every step of a repeated `tandem init` is already done or skipped; only the check runs.
fn assert_no_step_acted(output: &str) {
    let acted: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("): done:") && !l.contains("tandem check"))
        .collect();
    assert!(
        acted.is_empty(),
        "a repeated init acted: {acted:?}\n{output}"
    );
}
