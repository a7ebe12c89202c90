//! `tandem check` on what an installed node needs beyond its config: the DRBD handler shim
//! and the binary it runs, the installed resource file equal to the render, and, while the
//! resource is up, the options the kernel runs with equal to the config's.

use super::{fail, pass, CheckLine};
use crate::config::{render, Config};
use crate::init::DRBD_CONFIG_DIR;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where the shim execs the CLI unless `TANDEM_BIN` is set (DRBD runs handlers with a clean
/// environment, so in production it never is).
const SHIM_DEFAULT_MARKER: &str = "${TANDEM_BIN:-";
/// `drbdsetup show` answers at once; a hung one is a kernel problem tandem reports.
const DRBDSETUP_TIMEOUT_MS: u64 = 10_000;

fn executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The handler shim the rendered resource names, and the tandem binary the shim runs.
pub fn helper_lines(config: &Config) -> Vec<CheckLine> {
    if config.drbd.is_none() {
        return Vec::new();
    }
    let shim = config.helpers_dir.get_ref().join(render::HELPER_SHIM);
    if !executable(&shim) {
        return vec![fail(format!(
            "DRBD handler shim {} is missing or not executable, so DRBD's fence-peer and \
             split-brain handlers would fail; install the tandem package, or set helpers_dir \
             to where kernel-helpers/ is installed",
            shim.display()
        ))];
    }
    let mut lines = vec![pass(format!(
        "DRBD handler shim {} is installed and executable",
        shim.display()
    ))];
    let text = std::fs::read_to_string(&shim).unwrap_or_default();
    lines.push(match shim_binary(&text) {
        Some(binary) if executable(&binary) => pass(format!(
            "the shim runs {}, which is installed",
            binary.display()
        )),
        Some(binary) => fail(format!(
            "the shim runs {}, which is missing or not executable; install the tandem package \
             (it puts tandem there)",
            binary.display()
        )),
        None => fail(format!(
            "cannot tell which tandem binary {} runs; reinstall the tandem package",
            shim.display()
        )),
    });
    lines.extend(usermode_helper_line(config));
    lines
}

/// `[drbd] usermode_helper`, which tandemd makes DRBD's usermode helper at its start.
fn usermode_helper_line(config: &Config) -> Option<CheckLine> {
    let helper = config.drbd.as_ref()?.usermode_helper.get_ref();
    if helper.as_os_str().is_empty() {
        return None;
    }
    Some(if executable(helper) {
        pass(format!(
            "DRBD's usermode helper {} is installed (tandemd makes it the drbd module's \
             usermode_helper: fence-peer without drbdadm)",
            helper.display()
        ))
    } else {
        fail(format!(
            "{} is missing or not executable, so DRBD's fence-peer would go through drbdadm \
             and the shim, slower on the failover's path; install the tandem package (it puts \
             it there), or set [drbd] usermode_helper = \"\"",
            helper.display()
        ))
    })
}

/// Pure: the default binary in the shim's `exec "${TANDEM_BIN:-/usr/sbin/tandem}" …`.
pub fn shim_binary(text: &str) -> Option<PathBuf> {
    let start = text.find(SHIM_DEFAULT_MARKER)? + SHIM_DEFAULT_MARKER.len();
    let rest = &text[start..];
    let end = rest.find('}')?;
    Some(PathBuf::from(&rest[..end])).filter(|p| p.is_absolute())
}

/// The installed `/etc/drbd.d/RESOURCE.res` equals `tandem drbd render`.
pub fn resource_file_line(config: &Config, config_path: &Path) -> Option<CheckLine> {
    let resource = config.drbd_resource()?;
    let rendered = render::drbd_resource(config, &config_path.display().to_string())?;
    let path = Path::new(DRBD_CONFIG_DIR).join(format!("{resource}.res"));
    Some(match std::fs::read_to_string(&path) {
        Err(e) => fail(format!(
            "DRBD resource file {} cannot be read ({e}); run `tandem init` (or `tandem drbd \
             render > {}`)",
            path.display(),
            path.display()
        )),
        Ok(installed) if installed != rendered => fail(format!(
            "DRBD resource file {} differs from `tandem drbd render`, so drbdadm does not run \
             what the config says; run `tandem init` to install the render, then `drbdadm \
             adjust {resource}` applies it",
            path.display()
        )),
        Ok(_) => pass(format!(
            "DRBD resource file {} equals `tandem drbd render` (handlers included)",
            path.display()
        )),
    })
}

/// The running options, as `drbdsetup show --show-defaults` prints them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunningOptions {
    pub protocol: Option<String>,
    pub fencing: Option<String>,
}

/// Pure: the `protocol` and `fencing` statements of `drbdsetup show` (8.4: fencing is in
/// the disk section, the protocol in the net section).
pub fn parse_show(text: &str) -> RunningOptions {
    let value = |key: &str| {
        text.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(key))
                .then(|| words.next())
                .flatten()
                .map(|v| v.trim_end_matches(';').to_string())
        })
    };
    RunningOptions {
        protocol: value("protocol"),
        fencing: value("fencing"),
    }
}

/// Compares the running resource's protocol and fencing with the config; no line when the
/// resource is not up here (nothing runs to compare).
pub async fn running_options_line(config: &Config) -> Option<CheckLine> {
    let resource = config.drbd_resource()?;
    let drbd = config.drbd.as_ref()?;
    if !crate::exec::host::drbd_module_loaded() {
        return None;
    }
    let args = ["show", "--show-defaults", resource];
    let timeout = std::time::Duration::from_millis(DRBDSETUP_TIMEOUT_MS);
    let output = crate::exec::tool::run("drbdsetup", &args, timeout)
        .await
        .ok()?;
    if !output.success() || !output.stdout.contains("resource") {
        return None;
    }
    let running = parse_show(&output.stdout);
    let want = (
        drbd.protocol.get_ref().to_string(),
        config.fencing().to_string(),
    );
    let have = (
        running.protocol.unwrap_or_else(|| "?".into()),
        running.fencing.unwrap_or_else(|| "?".into()),
    );
    Some(if have == want {
        pass(format!(
            "running DRBD resource {resource} uses protocol {}, fencing {}, as configured",
            have.0, have.1
        ))
    } else {
        fail(format!(
            "running DRBD resource {resource} uses protocol {}, fencing {}, but the config says \
             protocol {}, fencing {}; install the render (`tandem init`) and run `drbdadm \
             adjust {resource}` (a protocol change needs both nodes disconnected first)",
            have.0, have.1, want.0, want.1
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_binary_the_shim_runs() {
        let shim = include_str!("../../kernel-helpers/tandem-kernel-helper");
        assert_eq!(shim_binary(shim), Some(PathBuf::from("/usr/sbin/tandem")));
        assert_eq!(shim_binary("exec tandem helper"), None);
    }

    /// The shape drbdsetup-84 prints (`show --show-defaults`, abridged).
    #[test]
    fn reads_protocol_and_fencing_from_drbdsetup_show() {
        let text = "resource r0 {\n    options {\n        cpu-mask          \"\";\n    }\n    \
                    net {\n        protocol          C;\n        ping-int          1; # seconds\n    \
                    }\n    _this_host {\n        volume 0 {\n            disk {\n                \
                    fencing           resource-only;\n            }\n        }\n    }\n}\n";
        assert_eq!(
            parse_show(text),
            RunningOptions {
                protocol: Some("C".into()),
                fencing: Some("resource-only".into()),
            }
        );
        assert_eq!(parse_show(""), RunningOptions::default());
    }
}
