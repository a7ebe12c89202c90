//! `drbdadm`: the one way tandem changes DRBD state. Every command runs with a timeout, every
//! failure becomes a typed [`DrbdError`], and every state change is verified by reading the
//! state back, because some drbdadm commands exit 0 without having done anything.

mod error;

pub use error::{classify, DrbdError};

use crate::drbd::words::{self, ConnectionState, DiskState, ReplicationState, Role};
use error::keep_tail;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// A drbdadm call that has not returned by then is stuck (usually on a dead peer with
/// fencing); the caller decides what to do next instead of hanging the daemon.
pub const DEFAULT_COMMAND_TIMEOUT_MS: u64 = 30_000;

/// How to reach drbdadm for one resource.
#[derive(Debug, Clone)]
pub struct Drbdadm {
    pub binary: PathBuf,
    pub resource: String,
    /// `-c FILE`; `None` uses /etc/drbd.conf like the operator's own drbdadm.
    pub config_file: Option<PathBuf>,
    pub timeout: Duration,
    /// Extra environment, e.g. `DRBD_DRIVER_VERSION_OVERRIDE` where no module is loaded.
    pub env: Vec<(String, String)>,
    /// The resource's minor, when known: a role change is then read back from /proc/drbd
    /// (a file read) instead of a second `drbdadm role` (two more processes, which cost a
    /// few hundred ms on a slow host, on the failover's critical path).
    pub minor: Option<u32>,
}

/// `drbdadm primary`'s arguments, `--force` only on an operator's forced promote.
fn primary_args(force: bool) -> &'static [&'static str] {
    if force {
        &["primary", "--force"]
    } else {
        &["primary"]
    }
}

impl Drbdadm {
    pub fn new(resource: &str) -> Self {
        Self {
            binary: PathBuf::from("drbdadm"),
            resource: resource.to_string(),
            config_file: None,
            timeout: Duration::from_millis(DEFAULT_COMMAND_TIMEOUT_MS),
            env: Vec::new(),
            minor: None,
        }
    }

    /// Reads role changes back from /proc/drbd's line for `minor` (see [`Drbdadm::minor`]).
    pub fn with_minor(mut self, minor: u32) -> Self {
        self.minor = Some(minor);
        self
    }

    /// Runs `drbdadm [-c FILE] ARGS… RESOURCE` and returns stdout, or the classified error.
    pub async fn run(&self, args: &[&str]) -> Result<String, DrbdError> {
        let mut cmd = Command::new(&self.binary);
        if let Some(file) = &self.config_file {
            cmd.arg("-c").arg(file);
        }
        cmd.args(args).arg(&self.resource);
        let command = format!("drbdadm {} {}", args.join(" "), self.resource);
        self.output(cmd, command).await
    }

    /// Runs `cmd` (named `command` in errors) with the timeout; stdout, or the classified error.
    async fn output(&self, mut cmd: Command, command: String) -> Result<String, DrbdError> {
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| DrbdError::Spawn {
            command: command.clone(),
            error: e.to_string(),
        })?;
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            // The dropped future drops the child, and kill_on_drop kills it.
            Err(_) => {
                return Err(DrbdError::Timeout {
                    command,
                    timeout_ms: self.timeout.as_millis() as u64,
                })
            }
            Ok(Err(e)) => {
                return Err(DrbdError::Spawn {
                    command,
                    error: e.to_string(),
                })
            }
            Ok(Ok(output)) => output,
        };
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if output.status.success() {
            tracing::debug!(%command, "ok");
            Ok(stdout)
        } else {
            let all = format!("{stderr}\n{stdout}");
            let err = classify(&command, &self.resource, output.status.code(), &all);
            tracing::debug!(%command, error = %err, "failed");
            Err(err)
        }
    }

    /// Local and peer role, e.g. (Primary, Secondary).
    pub async fn role(&self) -> Result<(Role, Role), DrbdError> {
        let out = self.run(&["role"]).await?;
        words::parse_drbdadm_role(&out).map_err(|_| self.unparsable("role", &out))
    }

    /// Local and peer disk state, e.g. (UpToDate, DUnknown).
    pub async fn dstate(&self) -> Result<(DiskState, DiskState), DrbdError> {
        let out = self.run(&["dstate"]).await?;
        words::parse_drbdadm_dstate(&out).map_err(|_| self.unparsable("dstate", &out))
    }

    /// The 8.4 connection word, split into the connection and replication states.
    pub async fn cstate(&self) -> Result<(ConnectionState, ReplicationState), DrbdError> {
        let out = self.run(&["cstate"]).await?;
        words::parse_drbdadm_cstate(&out).map_err(|_| self.unparsable("cstate", &out))
    }

    /// Promotes, then verifies the role really is Primary. Without `force`, on a DRBD 8.4
    /// module with the minor known, through `drbdsetup-84 primary MINOR`, which is all that
    /// `drbdadm primary` runs there (see [`legacy_drbdsetup`]).
    pub async fn primary(&self, force: bool) -> Result<(), DrbdError> {
        self.promote(force).await?;
        self.expect_role(&primary_args(force).join(" "), Role::Primary)
            .await
    }

    /// The core's DRBD probe (core/probe.rs): a promote that DRBD refuses while the peer is
    /// Primary and Connected, run for the ping DRBD sends before it decides. `Ok` with the
    /// role afterwards if DRBD accepted it, or DRBD's refusal.
    pub async fn probe_primary(&self) -> Result<Role, DrbdError> {
        self.promote(false).await?;
        self.local_role().await
    }

    /// `primary` [`--force`]; without it, on a DRBD 8.4 module with the minor known, through
    /// [`legacy_drbdsetup`].
    async fn promote(&self, force: bool) -> Result<String, DrbdError> {
        let direct = self.minor.filter(|_| !force);
        match direct.and_then(|minor| Some((minor, legacy_drbdsetup()?))) {
            Some((minor, drbdsetup)) => {
                let command = format!("{} primary {minor}", drbdsetup.display());
                tracing::info!(%command, "promoting without drbdadm");
                let mut cmd = Command::new(&drbdsetup);
                cmd.arg("primary").arg(minor.to_string());
                self.output(cmd, command).await
            }
            None => self.run(primary_args(force)).await,
        }
    }

    /// Demotes, then verifies the role really is Secondary.
    pub async fn secondary(&self) -> Result<(), DrbdError> {
        self.run(&["secondary"]).await?;
        self.expect_role("secondary", Role::Secondary).await
    }

    /// `secondary --force` (after a failed demote), then verifies the role is Secondary.
    pub async fn force_secondary(&self) -> Result<(), DrbdError> {
        self.run(&["secondary", "--force"]).await?;
        self.expect_role("secondary --force", Role::Secondary).await
    }

    /// `adjust`: brings a down resource up, or applies the file's changes to a running one;
    /// then verifies that the kernel knows the resource.
    pub async fn adjust(&self) -> Result<(), DrbdError> {
        self.run(&["adjust"]).await?;
        self.role().await.map(drop)
    }

    /// Brings the resource up (attach + connect).
    pub async fn up(&self) -> Result<(), DrbdError> {
        self.run(&["up"]).await.map(drop)
    }

    /// Takes the resource down, then verifies the kernel no longer knows it.
    pub async fn down(&self) -> Result<(), DrbdError> {
        self.run(&["down"]).await?;
        match self.role().await {
            Err(DrbdError::NotConfigured { .. }) => Ok(()),
            Err(other) => Err(other),
            Ok((role, _)) => Err(DrbdError::NotApplied {
                command: "down".into(),
                expected: "not configured".into(),
                observed: format!("role {role}"),
            }),
        }
    }

    /// Connects; `discard_my_data` makes this node the split-brain victim.
    pub async fn connect(&self, discard_my_data: bool) -> Result<(), DrbdError> {
        let args: &[&str] = if discard_my_data {
            &["connect", "--discard-my-data"]
        } else {
            &["connect"]
        };
        self.run(args).await.map(drop)
    }

    /// Disconnects, then verifies the connection is StandAlone.
    pub async fn disconnect(&self) -> Result<(), DrbdError> {
        self.run(&["disconnect"]).await?;
        let (connection, _) = self.cstate().await?;
        if connection == ConnectionState::StandAlone {
            Ok(())
        } else {
            Err(DrbdError::NotApplied {
                command: "disconnect".into(),
                expected: "StandAlone".into(),
                observed: connection.to_string(),
            })
        }
    }

    /// Marks the local disk Outdated (only allowed while disconnected).
    pub async fn outdate(&self) -> Result<(), DrbdError> {
        self.run(&["outdate"]).await?;
        let (disk, _) = self.dstate().await?;
        if disk == DiskState::Outdated {
            Ok(())
        } else {
            Err(DrbdError::NotApplied {
                command: "outdate".into(),
                expected: "Outdated".into(),
                observed: disk.to_string(),
            })
        }
    }

    /// Writes fresh DRBD metadata on the backing disk (destroys the old metadata).
    pub async fn create_md(&self) -> Result<(), DrbdError> {
        self.run(&["--force", "create-md"]).await.map(drop)
    }

    /// Skips the initial full sync of two fresh, empty disks (run on one node, connected).
    pub async fn clear_bitmap_new_current_uuid(&self) -> Result<(), DrbdError> {
        self.run(&["--", "--clear-bitmap", "new-current-uuid"])
            .await
            .map(drop)
    }

    /// The local role: from /proc/drbd when the minor is known, else `drbdadm role`.
    async fn local_role(&self) -> Result<Role, DrbdError> {
        match self.proc_role() {
            Some(role) => Ok(role),
            None => Ok(self.role().await?.0),
        }
    }

    async fn expect_role(&self, command: &str, expected: Role) -> Result<(), DrbdError> {
        let role = self.local_role().await?;
        if role == expected {
            Ok(())
        } else {
            Err(DrbdError::NotApplied {
                command: command.to_string(),
                expected: expected.to_string(),
                observed: role.to_string(),
            })
        }
    }

    /// This resource's role from /proc/drbd, if the minor is known and the file shows it;
    /// `None` sends the caller to `drbdadm role`.
    fn proc_role(&self) -> Option<Role> {
        let minor = self.minor?;
        let text = super::host::read_proc_drbd().ok()?;
        let status = crate::drbd::procfs::parse(&text).ok()?;
        status.minors.into_iter().find(|m| m.minor == minor)?.role
    }

    fn unparsable(&self, what: &str, output: &str) -> DrbdError {
        DrbdError::Unparsable {
            command: format!("drbdadm {what} {}", self.resource),
            output: keep_tail(output),
        }
    }
}

/// drbd-utils 9's 8.4 tools. `drbdadm primary r0` on an 8.4 module is the drbd-utils 9
/// wrapper, which runs `drbdadm-84`, which runs `drbdsetup-84 primary 0`: three process
/// starts before the kernel is asked, about 0.2 s more than one under the VM lab's emulation,
/// on the failover's critical path.
const LEGACY_DRBDSETUP: &str = "/lib/drbd/drbdsetup-84";

/// [`LEGACY_DRBDSETUP`] if the loaded module is 8.4 (/proc/drbd) and the tool is installed;
/// `None` sends the promote through drbdadm.
fn legacy_drbdsetup() -> Option<PathBuf> {
    let text = super::host::read_proc_drbd().ok()?;
    let path = PathBuf::from(LEGACY_DRBDSETUP);
    (is_drbd_84(&text) && path.is_file()).then_some(path)
}

/// Pure: /proc/drbd names an 8.4 module (`version: 8.4.11 (api:1/proto:86-101)`).
fn is_drbd_84(proc_drbd: &str) -> bool {
    proc_drbd.starts_with("version: 8.4.")
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_an_84_module_takes_the_direct_drbdsetup() {
        let captured =
            include_str!("../../tests/fixtures/vmlab/connected-uptodate.vm-a.proc-drbd.txt");
        assert!(super::is_drbd_84(captured), "{captured}");
        assert!(!super::is_drbd_84("version: 9.2.12 (api:2/proto:86-122)\n"));
        assert!(!super::is_drbd_84(""));
    }
}
