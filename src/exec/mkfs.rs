//! `mkfs -t TYPE DEVICE`: a new, empty filesystem.

use super::tool::{self, ToolError};
use std::path::Path;
use std::time::Duration;

/// mkfs.ext4 on a large device with lazy init is quick; xfs too. A stuck one is killed.
const MKFS_TIMEOUT_MS: u64 = 600_000;

/// Creates a `fstype` filesystem on `device` (quietly: the caller reports).
pub async fn make(fstype: &str, device: &Path) -> Result<(), ToolError> {
    let device = device.to_string_lossy();
    tool::run_ok(
        "mkfs",
        &["-t", fstype, "-q", &device],
        Duration::from_millis(MKFS_TIMEOUT_MS),
    )
    .await
    .map(drop)
}
