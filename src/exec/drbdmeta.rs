//! Whether a backing disk already holds DRBD metadata: `drbdadm dump-md RESOURCE` (drbdmeta
//! underneath), which reads it without changing it. Only meaningful while the resource is
//! down: an attached disk is DRBD's, and then its metadata exists anyway.

use super::drbdadm::{DrbdError, Drbdadm};

/// drbdmeta's words when the disk holds no DRBD metadata.
const NO_METADATA: &str = "No valid meta data found";

impl Drbdadm {
    /// `Ok(true)`: valid DRBD metadata is on the backing disk; `Ok(false)`: none.
    pub async fn has_metadata(&self) -> Result<bool, DrbdError> {
        match self.run(&["dump-md"]).await {
            Ok(_) => Ok(true),
            Err(error) => match metadata_absent(&error) {
                true => Ok(false),
                false => Err(error),
            },
        }
    }
}

/// Pure: the failure of `dump-md` that means "no metadata", as opposed to a tooling failure.
pub fn metadata_absent(error: &DrbdError) -> bool {
    error
        .drbd_output()
        .is_some_and(|out| out.contains(NO_METADATA))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::drbdadm::classify;

    /// drbd-utils 9.22 on a zeroed loop device (exit 1).
    #[test]
    fn tells_no_metadata_from_a_failure() {
        let none = classify(
            "drbdadm dump-md r0",
            "r0",
            Some(1),
            "No valid meta data found\n",
        );
        assert!(metadata_absent(&none));
        let spawn = DrbdError::Spawn {
            command: "drbdadm dump-md r0".into(),
            error: "No such file or directory".into(),
        };
        assert!(!metadata_absent(&spawn));
    }
}
