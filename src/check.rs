//! `tandem check` / `tandemd --check`: is this host ready to run tandem with this config?
//! Each check yields one ✓/✗ line; any ✗ makes the command exit non-zero. A `!` line is a
//! risk the operator chose (an automatic split-brain policy that can discard writes): it is
//! explained, and does not fail the check; so is a peer whose tandemd does not answer yet.
//!
//! Beyond the config: the installed DRBD handler shim and the tandem binary it runs, the
//! installed resource file against the render, the running DRBD options against the config
//! (while the resource is up), and the peer link on each path (connect and authenticate).

mod credentials;
mod install;
mod peer;

pub use install::{parse_show, shim_binary, RunningOptions};

use crate::config::{render, Config, ConfigError};
use crate::exec::{drbdadm::Drbdadm, host};
use std::fmt;
use std::path::Path;

/// drbd-utils pick their grammar from the loaded module's version; where no module is loaded
/// (a build host, CI), we check against the DRBD version tandem targets.
pub const DRBD_VERSION_WITHOUT_MODULE: &str = "8.4.11";

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub ok: bool,
    /// Not wrong, but able to lose data: shown with `!`.
    pub risk: bool,
    pub text: String,
}

impl fmt::Display for CheckLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match (self.ok, self.risk) {
            (false, _) => "✗",
            (true, true) => "!",
            (true, false) => "✓",
        };
        write!(f, "{mark} {}", self.text)
    }
}

fn pass(text: impl Into<String>) -> CheckLine {
    CheckLine {
        ok: true,
        risk: false,
        text: text.into(),
    }
}

fn fail(text: impl Into<String>) -> CheckLine {
    CheckLine {
        ok: false,
        risk: false,
        text: text.into(),
    }
}

fn risk(text: impl Into<String>) -> CheckLine {
    CheckLine {
        ok: true,
        risk: true,
        text: text.into(),
    }
}

/// The DRBD fencing policy in force, in words: what happens when a Primary loses its peer.
fn fencing_line(config: &Config) -> Option<CheckLine> {
    use crate::config::Fencing;
    config.drbd.as_ref()?;
    let power_fence = config.engine.power_fence_command.is_some();
    Some(match (config.fencing(), power_fence) {
        (Fencing::ResourceAndStonith, true) => pass(
            "DRBD fencing resource-and-stonith: a Primary that loses its peer freezes I/O \
             until tandem has outdated the peer over the peer link or powered it off",
        ),
        (Fencing::ResourceAndStonith, false) => risk(
            "DRBD fencing resource-and-stonith without a power_fence_command: when the peer \
             is silent it can be neither outdated nor powered off, so the Primary's I/O stays \
             frozen until an operator acts (drbdadm resume-io); add a power_fence_command",
        ),
        (Fencing::ResourceOnly, true) => risk(
            "DRBD fencing resource-only with a power fence: a Primary that loses its peer keeps \
             writing while the peer is fenced, so those writes are on this node only; \
             resource-and-stonith (the default with a power fence) freezes them instead",
        ),
        (Fencing::ResourceOnly, false) => pass(
            "DRBD fencing resource-only: a peer is outdated over the peer link before anything \
             is promoted over it; with the peer silent and no power fence, nothing is promoted \
             automatically",
        ),
        (Fencing::DontCare, _) => risk(
            "DRBD fencing dont-care: DRBD promotes over a peer that may still be Primary; \
             automatic failover is off, so only operator commands promote",
        ),
    })
}

/// The after-split-brain policies in words: what DRBD will decide by itself at reconnect.
fn split_brain_policy_lines(config: &Config) -> Vec<CheckLine> {
    let Some(drbd) = &config.drbd else {
        return Vec::new();
    };
    let risks = crate::config::policy::risks(drbd);
    if risks.is_empty() {
        return vec![pass(format!(
            "after-split-brain policies ({} / {} / {}) never discard a side that has changes: \
             DRBD disconnects and the operator chooses the survivor",
            drbd.after_sb_0pri.get_ref(),
            drbd.after_sb_1pri.get_ref(),
            drbd.after_sb_2pri.get_ref()
        ))];
    }
    risks.into_iter().map(risk).collect()
}

/// Runs every check; stops after the config check only if the config is unusable.
pub async fn run(config_path: &Path) -> Vec<CheckLine> {
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(e) => return config_failure(&e),
    };
    let mut lines = vec![pass(format!("config {} is valid", config_path.display()))];
    let this_node = this_node(&config, &mut lines);
    lines.extend(drbd_checks(&config, config_path, this_node.is_some()).await);
    lines.extend(fencing_line(&config));
    lines.extend(split_brain_policy_lines(&config));
    lines.extend(program_checks(&config));
    lines.push(interface_check(&config));
    lines.push(peer_key_check(&config));
    lines.extend(credentials::lines(&config));
    lines.extend(install::helper_lines(&config));
    lines.extend(install::resource_file_line(&config, config_path));
    lines.extend(install::running_options_line(&config).await);
    if let Some(me) = &this_node {
        lines.extend(peer::lines(&config, me).await);
    }
    lines
}

fn config_failure(error: &ConfigError) -> Vec<CheckLine> {
    error.lines().into_iter().map(fail).collect()
}

fn this_node(config: &Config, lines: &mut Vec<CheckLine>) -> Option<String> {
    let name = match host::node_name() {
        Ok(name) => name,
        Err(e) => {
            lines.push(fail(format!("cannot read this host's name (uname): {e}")));
            return None;
        }
    };
    if config.node_named(&name).is_some() {
        let peer = config
            .peer_of(&name)
            .map(|p| p.name.get_ref().clone())
            .unwrap_or_default();
        lines.push(pass(format!("this host is node {name} (peer {peer})")));
        Some(name)
    } else {
        lines.push(fail(format!(
            "this host's name \"{name}\" (uname -n) is none of the nodes ({}); set a [[node]] \
             name to it, or run tandem on a node",
            config.node_names().join(", ")
        )));
        None
    }
}

async fn drbd_checks(config: &Config, config_path: &Path, is_node: bool) -> Vec<CheckLine> {
    let Some(rendered) = render::drbd_resource(config, &config_path.display().to_string()) else {
        return vec![pass("storage is shared-disk: no DRBD resource to check")];
    };
    let file = match host::temp_file_with(&rendered) {
        Ok(file) => file,
        Err(e) => return vec![fail(format!("cannot write the rendered DRBD file: {e}"))],
    };
    let mut drbdadm = Drbdadm::new(config.drbd_resource().unwrap_or_default());
    drbdadm.config_file = Some(file.path().to_path_buf());
    let mut note = "";
    if !host::drbd_module_loaded() {
        drbdadm.env.push((
            "DRBD_DRIVER_VERSION_OVERRIDE".into(),
            DRBD_VERSION_WITHOUT_MODULE.into(),
        ));
        note = " (no DRBD module loaded here: checked with the DRBD 8.4 grammar)";
    }
    let mut lines = Vec::new();
    match drbdadm.run(&["dump"]).await {
        Ok(_) => lines.push(pass(format!(
            "rendered DRBD resource is accepted by `drbdadm dump`{note}"
        ))),
        Err(e) => lines.push(fail(format!(
            "`drbdadm dump` refuses the rendered file: {e}"
        ))),
    }
    if is_node {
        match drbdadm.run(&["-d", "up"]).await {
            Ok(_) => lines.push(pass("`drbdadm -d up` (dry run) accepts the resource")),
            Err(e) => lines.push(fail(format!("`drbdadm -d up` (dry run) refuses it: {e}"))),
        }
    }
    lines
}

fn program_checks(config: &Config) -> Vec<CheckLine> {
    let mut programs = vec![
        ("drbdadm", Path::new("drbdadm")),
        ("drbdsetup", Path::new("drbdsetup")),
        ("mysqld", config.mysqld.binary.as_path()),
    ];
    if config.filesystem.fsck_before_mount {
        programs.push(("fsck", Path::new("fsck")));
    }
    programs
        .into_iter()
        .map(|(role, program)| match host::find_program(program) {
            Some(found) => pass(format!("{role} found at {}", found.display())),
            None => fail(format!(
                "{role} program \"{}\" is not installed or not executable; install it or fix \
                 the path in the config",
                program.display()
            )),
        })
        .collect()
}

fn interface_check(config: &Config) -> CheckLine {
    let interface = &config.vip.interface;
    if host::interface_exists(interface) {
        pass(format!("VIP interface {interface} exists"))
    } else {
        fail(format!(
            "VIP interface \"{interface}\" does not exist on this host; set [vip] interface to \
             the interface on the clients' network (see `ip link`)"
        ))
    }
}

fn peer_key_check(config: &Config) -> CheckLine {
    /// Below this, a key is guessable; 32 bytes matches HMAC-SHA256's block strength.
    const MIN_KEY_BYTES: u64 = 32;
    let path = &config.peer_key_file;
    match host::file_mode_and_size(path) {
        Err(e) => fail(format!(
            "peer key {} cannot be read ({e}); create it with `head -c 32 /dev/urandom > {0}; \
             chmod 600 {0}` and copy it to the peer",
            path.display()
        )),
        Ok((mode, _)) if mode & 0o077 != 0 => fail(format!(
            "peer key {} has mode {mode:04o}; run `chmod 600 {}`",
            path.display(),
            path.display()
        )),
        Ok((_, size)) if size < MIN_KEY_BYTES => fail(format!(
            "peer key {} holds {size} bytes, fewer than {MIN_KEY_BYTES}; write a longer random key",
            path.display()
        )),
        Ok(_) => pass(format!("peer key {} is private (0600)", path.display())),
    }
}
