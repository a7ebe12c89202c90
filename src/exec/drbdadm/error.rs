//! Why a drbdadm command did not have its effect: the typed [`DrbdError`], and the pure
//! classification of DRBD's messages into it.

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

pub(super) fn keep_tail(text: &str) -> String {
    let text = text.trim();
    let mut start = text.len().saturating_sub(MAX_KEPT_OUTPUT_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
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
