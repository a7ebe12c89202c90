//! What `tests/vmlab/setup.sh` prepared: read from `$TANDEM_VMLAB_CACHE/lab.env`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where setup.sh puts everything unless `TANDEM_VMLAB_CACHE` says otherwise.
const DEFAULT_CACHE: &str = "/var/lib/tandem-vmlab";

/// The prepared lab: kernel, qemu, virtme-ng and the MariaDB template.
#[derive(Debug, Clone)]
pub struct LabEnv {
    /// Kernel ABI name, e.g. `6.1.0-56-amd64`: the guests' `uname -r`.
    pub kernel_version: String,
    pub kernel: PathBuf,
    /// The qemu wrapper (qemu 7.2 unpacked, not installed).
    pub qemu: PathBuf,
    pub qemu_version: String,
    pub vng: PathBuf,
    pub busybox: PathBuf,
    /// kmod tools (modprobe, …), first in the guests' PATH.
    pub tools: PathBuf,
    pub drbd_version: String,
    /// A MariaDB datadir made once on the host, copied onto DRBD in the guests.
    pub mariadb_template: PathBuf,
    /// The template's redo log size; the servers must be started with the same.
    pub mariadb_log_file_size: String,
}

impl LabEnv {
    /// Reads lab.env; the error says how to set the lab up.
    pub fn load() -> Result<LabEnv, String> {
        let cache = std::env::var_os("TANDEM_VMLAB_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE));
        let file = cache.join("lab.env");
        let text = std::fs::read_to_string(&file).map_err(|e| {
            format!(
                "the VM lab is not set up ({}: {e}). Run `bash tests/vmlab/setup.sh` (the README \
                 test command `bash tests/run.sh` does), or set TANDEM_SKIP_VMLAB=1 to skip the \
                 VM lab in a quick local run",
                file.display()
            )
        })?;
        let values = parse(&text);
        let get = |key: &str| {
            values.get(key).cloned().ok_or_else(|| {
                format!(
                    "{} has no {key}; run tests/vmlab/setup.sh again",
                    file.display()
                )
            })
        };
        let env = LabEnv {
            kernel_version: get("KVER")?,
            kernel: get("KERNEL")?.into(),
            qemu: get("QEMU")?.into(),
            qemu_version: get("QEMU_VERSION")?,
            vng: get("VNG")?.into(),
            busybox: get("BUSYBOX")?.into(),
            tools: get("TOOLS")?.into(),
            drbd_version: get("DRBD_VERSION")?,
            mariadb_template: get("MARIADB_TEMPLATE")?.into(),
            mariadb_log_file_size: get("MARIADB_LOG_FILE_SIZE")?,
        };
        for path in [&env.kernel, &env.qemu, &env.vng, &env.busybox, &env.tools] {
            if !path.exists() {
                return Err(format!(
                    "{} is missing: the VM lab's cache is incomplete; run tests/vmlab/setup.sh",
                    path.display()
                ));
            }
        }
        Ok(env)
    }

    /// The venv's bin directory: vng runs `virtme-run` from PATH.
    pub fn venv_bin(&self) -> &Path {
        self.vng.parent().unwrap_or(Path::new("/"))
    }
}

/// `KEY='value'` lines (what setup.sh writes); other lines are ignored.
fn parse(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| {
            let value = value.trim();
            let value = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(value);
            (key.trim().to_string(), value.to_string())
        })
        .collect()
}
