//! `wipefs`: which signatures (filesystems, partition tables, RAID or DRBD metadata) a block
//! device holds, all of them, with their offsets (`blkid -p` names only one when a device holds
//! both an ext4 and DRBD metadata); and erasing them when the operator said the data may go.

use super::tool::{self, ToolError};
use std::path::Path;
use std::time::Duration;

/// Probing reads a few sectors; erasing writes a few. Either is done in seconds.
const WIPEFS_TIMEOUT_MS: u64 = 30_000;

/// One signature `wipefs` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// e.g. `ext4`, `xfs`, `dos`, `gpt`, `drbd`, `LVM2_member`.
    pub kind: String,
    /// Byte offset on the device, as wipefs prints it (`0x438`).
    pub offset: String,
    /// The filesystem label, if any.
    pub label: String,
}

impl Signature {
    /// DRBD's own metadata (internal, at the end of the backing disk).
    pub fn is_drbd_metadata(&self) -> bool {
        self.kind == "drbd"
    }
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {}", self.kind, self.offset)?;
        if !self.label.is_empty() {
            write!(f, " (label \"{}\")", self.label)?;
        }
        Ok(())
    }
}

/// Parses `wipefs --noheadings --output TYPE,OFFSET,LABEL DEVICE`.
pub fn parse(text: &str) -> Vec<Signature> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let kind = fields.next()?.to_string();
            let offset = fields.next()?.to_string();
            let label = fields.collect::<Vec<_>>().join(" ");
            Some(Signature {
                kind,
                offset,
                label,
            })
        })
        .collect()
}

/// Every signature on `device` (read only).
pub async fn signatures(device: &Path) -> Result<Vec<Signature>, ToolError> {
    let device = device.to_string_lossy();
    let args = ["--noheadings", "--output", "TYPE,OFFSET,LABEL", &device];
    let out = tool::run_ok("wipefs", &args, timeout()).await?;
    Ok(parse(&out))
}

/// Erases every signature on `device` (`wipefs --all`): its data is unreadable afterwards.
pub async fn erase_all(device: &Path) -> Result<(), ToolError> {
    let device = device.to_string_lossy();
    tool::run_ok("wipefs", &["--all", &device], timeout())
        .await
        .map(drop)
}

fn timeout() -> Duration {
    Duration::from_millis(WIPEFS_TIMEOUT_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loop device holding an ext4 and, at its end, DRBD 8.4 internal metadata (this host's
    /// util-linux 2.38).
    #[test]
    fn parses_every_signature() {
        let text = "drbd  0x3fff03c \next4  0x438     data disk\n";
        let found = parse(text);
        assert_eq!(found.len(), 2);
        assert!(found[0].is_drbd_metadata());
        assert_eq!(
            found[1].to_string(),
            "ext4 at offset 0x438 (label \"data disk\")"
        );
        assert!(parse("").is_empty());
    }
}
