//! Preserving a split-brain victim's data before DRBD discards it: a full copy of the node's
//! backing device (`<dir>/<resource>-<node>-<generation>.img`) and a manifest next to it
//! (`.json`: generations, time, size, SHA-256). With `meta-disk internal` the filesystem
//! starts at offset 0 of the copy, so the copy mounts read-only as it is.
//!
//! Safe to repeat: a complete copy of the same generation (its manifest exists) is kept and
//! reused; a copy interrupted halfway is a `.partial` file that the next run replaces.

use crate::drbd::handshake::Generations;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Read/write chunk: large enough for sequential throughput, small enough to stay in cache.
const COPY_CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Room left free beside the copy, so that preserving data does not fill the disk it lands on.
const HEADROOM_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct BackupSpec {
    pub resource: String,
    pub node: String,
    /// The node's DRBD backing device (what DRBD will overwrite).
    pub device: PathBuf,
    pub dir: PathBuf,
    /// This node's generations at the split, from the kernel log, when it holds them.
    pub generations: Option<Generations>,
}

/// What `<image>.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub resource: String,
    pub node: String,
    pub device: PathBuf,
    pub image: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    pub unix_ms: u64,
    pub generations: Option<Generations>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    #[error(
        "refused: preserving {device} needs {needed_mib} MiB in {dir}, which has {free_mib} MiB \
         free; free space there, set [engine] split_brain_backup_dir to a larger filesystem, or \
         pass --no-backup to discard without a copy"
    )]
    NoRoom {
        device: PathBuf,
        dir: PathBuf,
        needed_mib: u64,
        free_mib: u64,
    },
    #[error("cannot {what}: {error}")]
    Io { what: String, error: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |e| BackupError::Io {
        what,
        error: e.to_string(),
    }
}

/// Copies the device (in a blocking thread) unless a complete copy of this generation exists.
/// Returns the manifest and whether an existing copy was reused.
pub async fn preserve(spec: BackupSpec) -> Result<(Manifest, bool), BackupError> {
    tokio::task::spawn_blocking(move || preserve_blocking(&spec))
        .await
        .map_err(|e| BackupError::Io {
            what: "run the copy".into(),
            error: e.to_string(),
        })?
}

fn preserve_blocking(spec: &BackupSpec) -> Result<(Manifest, bool), BackupError> {
    let generation = spec
        .generations
        .as_ref()
        .map(|g| format!("{:016X}", g.current))
        .unwrap_or_else(|| "unknown-generation".into());
    let base = format!("{}-{}-{generation}", spec.resource, spec.node);
    let image = spec.dir.join(format!("{base}.img"));
    let manifest_path = spec.dir.join(format!("{base}.json"));
    if let Some(manifest) = fs::read(&manifest_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Manifest>(&bytes).ok())
    {
        if fs::metadata(&image).is_ok_and(|m| m.len() == manifest.bytes) {
            return Ok((manifest, true));
        }
    }
    fs::create_dir_all(&spec.dir).map_err(io(format!("create {}", spec.dir.display())))?;
    let mut source =
        File::open(&spec.device).map_err(io(format!("open {}", spec.device.display())))?;
    let bytes = source
        .seek(SeekFrom::End(0))
        .and_then(|size| source.seek(SeekFrom::Start(0)).map(|_| size))
        .map_err(io(format!("size {}", spec.device.display())))?;
    check_room(spec, bytes)?;
    let partial = spec.dir.join(format!("{base}.img.partial"));
    let sha256 = copy(&mut source, &partial, bytes)?;
    fs::rename(&partial, &image).map_err(io(format!("rename {}", partial.display())))?;
    let manifest = Manifest {
        resource: spec.resource.clone(),
        node: spec.node.clone(),
        device: spec.device.clone(),
        image,
        bytes,
        sha256,
        unix_ms: unix_ms(),
        generations: spec.generations.clone(),
    };
    write_manifest(&manifest_path, &manifest)?;
    Ok((manifest, false))
}

fn check_room(spec: &BackupSpec, bytes: u64) -> Result<(), BackupError> {
    let stats = nix::sys::statvfs::statvfs(&spec.dir).map_err(|e| BackupError::Io {
        what: format!("statvfs {}", spec.dir.display()),
        error: e.to_string(),
    })?;
    let free = stats.blocks_available() as u64 * stats.fragment_size() as u64;
    let needed = bytes + HEADROOM_BYTES;
    if free < needed {
        return Err(BackupError::NoRoom {
            device: spec.device.clone(),
            dir: spec.dir.clone(),
            needed_mib: needed.div_ceil(1 << 20),
            free_mib: free >> 20,
        });
    }
    Ok(())
}

/// Copies `bytes` from `source` into a new `target`, fsynced; returns the SHA-256 in hex.
fn copy(source: &mut File, target: &Path, bytes: u64) -> Result<String, BackupError> {
    let mut out = File::create(target).map_err(io(format!("create {}", target.display())))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; COPY_CHUNK_BYTES];
    let mut left = bytes;
    while left > 0 {
        let want = buffer
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        let got = source
            .read(&mut buffer[..want])
            .map_err(io("read the backing device"))?;
        if got == 0 {
            return Err(BackupError::Io {
                what: "read the backing device".into(),
                error: format!("it ended {left} bytes early"),
            });
        }
        hasher.update(&buffer[..got]);
        out.write_all(&buffer[..got])
            .map_err(io(format!("write {}", target.display())))?;
        left -= got as u64;
    }
    out.sync_all()
        .map_err(io(format!("fsync {}", target.display())))?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn write_manifest(path: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let text = serde_json::to_string_pretty(manifest).map_err(|e| BackupError::Io {
        what: "encode the manifest".into(),
        error: e.to_string(),
    })?;
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, text).map_err(io(format!("write {}", tmp.display())))?;
    fs::rename(&tmp, path).map_err(io(format!("rename {}", tmp.display())))
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
