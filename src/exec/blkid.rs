//! `blkid -p`: the filesystem type on a device, probed from the device itself (not a cache).

use super::tool::{self, ToolError};
use std::path::Path;
use std::time::Duration;

const BLKID_TIMEOUT_MS: u64 = 30_000;
/// blkid(8): exit 2 means no signature was found.
const EXIT_NOTHING_FOUND: i32 = 2;

/// The `TYPE` of the filesystem (or other signature) on `device`, `None` when it is blank.
pub async fn filesystem_type(device: &Path) -> Result<Option<String>, ToolError> {
    let device = device.to_string_lossy();
    let args = ["-p", "-o", "value", "-s", "TYPE", &device];
    let output = tool::run("blkid", &args, Duration::from_millis(BLKID_TIMEOUT_MS)).await?;
    match output.code {
        Some(0) => Ok(Some(output.stdout.trim().to_string()).filter(|t| !t.is_empty())),
        Some(EXIT_NOTHING_FOUND) => Ok(None),
        code => Err(ToolError::Failed {
            command: tool::command_line("blkid", &args),
            code,
            stderr: output.stderr.trim().to_string(),
        }),
    }
}
