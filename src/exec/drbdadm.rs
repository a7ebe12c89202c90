//! `drbdadm`: the one way tandem changes DRBD state. Every command runs with a timeout, every
//! failure becomes a typed [`DrbdError`], and every state change is verified by reading the
//! state back, because some drbdadm commands exit 0 without having done anything.

use crate::drbd::words::{self, ConnectionState, DiskState, ReplicationState, Role};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// A drbdadm call that has not returned by then is stuck (usually on a dead peer with
/// fencing); the caller decides what to do next instead of hanging the daemon.
pub const DEFAULT_COMMAND_TIMEOUT_MS: u64 = 30_000;

/// Enough stderr to keep every DRBD message we classify, small enough for a journal record.
const MAX_KEPT_OUTPUT_BYTES: usize = 4096;

/// Why a DRBD command did not have its effect. The named variants are the refusals an
/// operator or the core acts on; [`DrbdError::Failed`] carries anything else verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrbdError {
    #[error("refused by DRBD: the peer is Primary (multiple primaries not allowed); demote the peer first")]
    PeerIsPrimary { stderr: String },
    #[error("refused by DRBD: the peer's disk is not outdated, so it may still be Primary; fence it or confirm it is down")]
    PeerNotOutdated { stderr: String },
    #[error("refused by DRBD: no UpToDate disk is reachable, so promoting would serve stale data")]
    NoUpToDateDisk { stderr: String },
    #[error("refused by DRBD: the device is held open (mounted or in use); unmount it first")]
    DeviceHeldOpen { stderr: String },
    #[error("refused by the peer node: {stderr}")]
    RefusedByPeer { stderr: String },
    #[error("the DRBD kernel module is not loaded and cannot be loaded here: {stderr}")]
    ModuleMissing { stderr: String },
    #[error("resource {resource} is not defined in the DRBD configuration for this host")]
    UnknownResource { resource: String, stderr: String },
    #[error("resource {resource} is not up (no such DRBD minor or resource in the kernel)")]
    NotConfigured { resource: String, stderr: String },
    #[error("`{command}` did not finish within {timeout_ms} ms and was killed")]
    Timeout { command: String, timeout_ms: u64 },
    #[error("cannot run `{command}`: {error}")]
    Spawn { command: String, error: String },
    #[error("`{command}` failed with exit code {exit:?}: {stderr}")]
    Failed {
        command: String,
        exit: Option<i32>,
        stderr: String,
    },
    #[error("`{command}` reported success but the state is {observed}, not {expected}")]
    NotApplied {
        command: String,
        expected: String,
        observed: String,
    },
    #[error("cannot understand the output of `{command}`: {output}")]
    Unparsable { command: String, output: String },
}

impl DrbdError {
    /// The variant's name, e.g. `PeerIsPrimary`: what `tandem drbd` prints after `refused:` or
    /// `failed:`, so that scripts and tests match a name, never a sentence.
    pub fn name(&self) -> &'static str {
        match self {
            Self::PeerIsPrimary { .. } => "PeerIsPrimary",
            Self::PeerNotOutdated { .. } => "PeerNotOutdated",
            Self::NoUpToDateDisk { .. } => "NoUpToDateDisk",
            Self::DeviceHeldOpen { .. } => "DeviceHeldOpen",
            Self::RefusedByPeer { .. } => "RefusedByPeer",
            Self::ModuleMissing { .. } => "ModuleMissing",
            Self::UnknownResource { .. } => "UnknownResource",
            Self::NotConfigured { .. } => "NotConfigured",
            Self::Timeout { .. } => "Timeout",
            Self::Spawn { .. } => "Spawn",
            Self::Failed { .. } => "Failed",
            Self::NotApplied { .. } => "NotApplied",
            Self::Unparsable { .. } => "Unparsable",
        }
    }

    /// True when DRBD refused a state change for a reason the operator must address (the peer
    /// is Primary, the device is held open, …), as opposed to the tooling failing.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::PeerIsPrimary { .. }
                | Self::PeerNotOutdated { .. }
                | Self::NoUpToDateDisk { .. }
                | Self::DeviceHeldOpen { .. }
                | Self::RefusedByPeer { .. }
        )
    }

    /// DRBD's own words, where the error carries them.
    pub fn drbd_output(&self) -> Option<&str> {
        match self {
            Self::PeerIsPrimary { stderr }
            | Self::PeerNotOutdated { stderr }
            | Self::NoUpToDateDisk { stderr }
            | Self::DeviceHeldOpen { stderr }
            | Self::RefusedByPeer { stderr }
            | Self::ModuleMissing { stderr }
            | Self::UnknownResource { stderr, .. }
            | Self::NotConfigured { stderr, .. }
            | Self::Failed { stderr, .. } => Some(stderr),
            _ => None,
        }
    }
}

/// Classifies a failed drbdadm run by the messages DRBD prints (exit codes are too coarse:
/// every state-change refusal is 11). Pure, tested on the real texts.
pub fn classify(command: &str, resource: &str, exit: Option<i32>, stderr: &str) -> DrbdError {
    let stderr = keep_tail(stderr);
    let has = |needle: &str| stderr.contains(needle);
    if has("Multiple primaries not allowed") {
        DrbdError::PeerIsPrimary { stderr }
    } else if has("peer is not outdated") {
        DrbdError::PeerNotOutdated { stderr }
    } else if has("Need access to UpToDate data") || has("without at least one UpToDate") {
        DrbdError::NoUpToDateDisk { stderr }
    } else if has("held open by someone") {
        DrbdError::DeviceHeldOpen { stderr }
    } else if has("refused by peer") {
        DrbdError::RefusedByPeer { stderr }
    } else if has("Failed to modprobe drbd")
        || has("Could not stat /proc/drbd")
        || has("DRBD kernel module is installed")
    {
        DrbdError::ModuleMissing { stderr }
    } else if has("not defined in your config") {
        DrbdError::UnknownResource {
            resource: resource.to_string(),
            stderr,
        }
    } else if has("Device minor not allocated") || has("Unknown resource") {
        DrbdError::NotConfigured {
            resource: resource.to_string(),
            stderr,
        }
    } else {
        DrbdError::Failed {
            command: command.to_string(),
            exit,
            stderr,
        }
    }
}

fn keep_tail(text: &str) -> String {
    let text = text.trim();
    let mut start = text.len().saturating_sub(MAX_KEPT_OUTPUT_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

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
}

impl Drbdadm {
    pub fn new(resource: &str) -> Self {
        Self {
            binary: PathBuf::from("drbdadm"),
            resource: resource.to_string(),
            config_file: None,
            timeout: Duration::from_millis(DEFAULT_COMMAND_TIMEOUT_MS),
            env: Vec::new(),
        }
    }

    /// Runs `drbdadm [-c FILE] ARGS… RESOURCE` and returns stdout, or the classified error.
    pub async fn run(&self, args: &[&str]) -> Result<String, DrbdError> {
        let mut cmd = Command::new(&self.binary);
        if let Some(file) = &self.config_file {
            cmd.arg("-c").arg(file);
        }
        cmd.args(args).arg(&self.resource);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let command = format!("drbdadm {} {}", args.join(" "), self.resource);
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

    /// Promotes, then verifies the role really is Primary.
    pub async fn primary(&self, force: bool) -> Result<(), DrbdError> {
        let args: &[&str] = if force {
            &["primary", "--force"]
        } else {
            &["primary"]
        };
        self.run(args).await?;
        self.expect_role(&args.join(" "), Role::Primary).await
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

    async fn expect_role(&self, command: &str, expected: Role) -> Result<(), DrbdError> {
        let (role, _) = self.role().await?;
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

    fn unparsable(&self, what: &str, output: &str) -> DrbdError {
        DrbdError::Unparsable {
            command: format!("drbdadm {what} {}", self.resource),
            output: keep_tail(output),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real texts from the VM lab (tests/fixtures/vmlab/) and from this host's drbd-utils.
    #[test]
    fn classifies_real_drbd_messages() {
        let peer_primary =
            "0: State change failed: (-1) Multiple primaries not allowed by config\n\
                            Command 'drbdsetup-84 primary 0' terminated with exit code 11";
        assert!(matches!(
            classify("drbdadm primary r0", "r0", Some(11), peer_primary),
            DrbdError::PeerIsPrimary { .. }
        ));
        let held = "0: State change failed: (-12) Device is held open by someone\n\
                    Command 'drbdsetup-84 secondary 0' terminated with exit code 11";
        assert!(matches!(
            classify("drbdadm secondary r0", "r0", Some(11), held),
            DrbdError::DeviceHeldOpen { .. }
        ));
        let no_module = "sh: 1: /sbin/modprobe: not found\nCould not stat /proc/drbd: No such \
                         file or directory\nMake sure that the DRBD kernel module is installed \
                         and can be loaded!\nCommand 'drbdsetup-84 role 0' terminated with exit code 20";
        assert!(matches!(
            classify("drbdadm role r0", "r0", Some(20), no_module),
            DrbdError::ModuleMissing { .. }
        ));
        let unknown = "'nosuch' not defined in your config (for this host).";
        assert_eq!(
            classify("drbdadm role nosuch", "nosuch", Some(10), unknown).to_string(),
            "resource nosuch is not defined in the DRBD configuration for this host"
        );
        let other = classify("drbdadm up r0", "r0", Some(10), "IP 10.99.0.1 not found");
        assert_eq!(
            other.to_string(),
            "`drbdadm up r0` failed with exit code Some(10): IP 10.99.0.1 not found"
        );
    }

    #[test]
    fn kept_output_is_bounded() {
        let long = "é".repeat(MAX_KEPT_OUTPUT_BYTES);
        assert!(keep_tail(&long).len() <= MAX_KEPT_OUTPUT_BYTES);
    }
}
