//! Preserving a split-brain victim's data before DRBD discards it: a full copy of the node's
//! backing device (`<dir>/<resource>-<node>-<generation>.img`) and a manifest next to it
//! (`.json`: generations, time, size, SHA-256). With `meta-disk internal` the filesystem
//! starts at offset 0 of the copy, so the copy mounts read-only as it is.
//!
//! Nothing is ever lost:
//! - A copy is reported only once it has been read back from the disk and its SHA-256 equals
//!   the one computed of the device while copying; otherwise `ReadBackMismatch`, and the
//!   resolution stops before `--discard-my-data`.
//! - The image, the manifest and the directory entries are fsynced; the manifest, written
//!   last, is written atomically: a copy with a manifest is complete.
//! - An existing copy is reused only if its manifest names this node's generations (all of
//!   them, as the kernel logged them at the split) and it still reads back with its
//!   manifest's SHA-256. Any other copy stays as it is, and the new one goes beside it
//!   (`<base>.2.img`, `<base>.3.img`, …): no copy is ever overwritten or deleted. Only an
//!   unfinished `.partial` is replaced.
//! - The directory is mode 0700 and the files 0600, whatever the umask.

mod files;

use crate::drbd::handshake::Generations;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use files::{DIR_MODE, FILE_MODE};

/// Room left free beside the copy, so that preserving data does not fill the disk it lands on.
const HEADROOM_BYTES: u64 = 64 * 1024 * 1024;
/// Copies of one generation kept side by side before tandem refuses to add another: each is
/// a whole backing device, and this many failed or differing attempts needs an operator.
const MAX_COPIES_PER_GENERATION: u32 = 16;

#[derive(Debug, Clone)]
pub struct BackupSpec {
    pub resource: String,
    pub node: String,
    /// The node's DRBD backing device (what DRBD will overwrite).
    pub device: PathBuf,
    pub dir: PathBuf,
    /// This node's generations at the split, from the kernel log, when it holds them. They
    /// identify the divergent data: without them no earlier copy is reused.
    pub generations: Option<Generations>,
    /// Runs on the fsynced copy just before it is read back; the tests corrupt the copy there
    /// to show that the read-back catches it. The daemon passes `None`.
    pub before_read_back: Option<ReadBackHook>,
}

/// See `BackupSpec::before_read_back`.
#[derive(Clone)]
pub struct ReadBackHook(pub Arc<dyn Fn(&Path) + Send + Sync>);

impl std::fmt::Debug for ReadBackHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadBackHook")
    }
}

/// What `<image>.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub resource: String,
    pub node: String,
    pub device: PathBuf,
    pub image: PathBuf,
    pub bytes: u64,
    /// Of the device as read while copying, equal to the image's as read back from the disk.
    pub sha256: String,
    pub unix_ms: u64,
    /// The identity of the copied data; `None` (unknown) is never reused.
    pub generations: Option<Generations>,
}

/// The outcome of `preserve`.
#[derive(Debug, Clone, PartialEq)]
pub struct Preserved {
    pub manifest: Manifest,
    /// An earlier copy of the same generations, read back intact, stands for this one.
    pub reused: bool,
    /// Earlier copies found under this generation's name and left as they are, each with why
    /// it could not stand for this one (for the log).
    pub passed_over: Vec<String>,
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
    #[error(
        "the copy {image} reads back from the disk as {image_bytes} bytes with SHA-256 \
         {image_sha256}, but {device} was read as {device_bytes} bytes with SHA-256 \
         {device_sha256}: the disk under it does not keep what was written; this node's data \
         is not discarded; check that disk (dmesg) or set [engine] split_brain_backup_dir \
         elsewhere, then run the resolve again"
    )]
    ReadBackMismatch {
        device: PathBuf,
        image: PathBuf,
        device_bytes: u64,
        device_sha256: String,
        image_bytes: u64,
        image_sha256: String,
    },
    #[error(
        "refused: {dir} already holds {count} copies named {base}*.img, none reusable; move \
         the ones no longer needed elsewhere, or pass --no-backup to discard without a copy"
    )]
    TooManyCopies {
        dir: PathBuf,
        base: String,
        count: u32,
    },
    #[error("cannot {what}: {error}")]
    Io { what: String, error: String },
}

/// Copies the device (in a blocking thread) unless an intact copy of the same generations
/// exists.
pub async fn preserve(spec: BackupSpec) -> Result<Preserved, BackupError> {
    tokio::task::spawn_blocking(move || preserve_blocking(&spec))
        .await
        .map_err(|e| BackupError::Io {
            what: "run the copy".into(),
            error: e.to_string(),
        })?
}

/// The names of one copy: slot 1 is `<base>.img`, slot N is `<base>.N.img`.
struct Slot {
    image: PathBuf,
    manifest: PathBuf,
    partial: PathBuf,
}

impl Slot {
    fn new(dir: &Path, base: &str, number: u32) -> Self {
        let stem = match number {
            1 => base.to_string(),
            n => format!("{base}.{n}"),
        };
        Slot {
            image: dir.join(format!("{stem}.img")),
            manifest: dir.join(format!("{stem}.json")),
            partial: dir.join(format!("{stem}.img.partial")),
        }
    }

    fn free(&self) -> Result<bool, BackupError> {
        Ok(!files::name_taken(&self.image)? && !files::name_taken(&self.manifest)?)
    }
}

fn preserve_blocking(spec: &BackupSpec) -> Result<Preserved, BackupError> {
    let generation = spec
        .generations
        .as_ref()
        .map(|g| format!("{:016X}", g.current))
        .unwrap_or_else(|| "unknown-generation".into());
    let base = format!("{}-{}-{generation}", spec.resource, spec.node);
    files::ensure_private_dir(&spec.dir)?;
    let mut source =
        File::open(&spec.device).map_err(files::io(format!("open {}", spec.device.display())))?;
    let bytes = source
        .seek(SeekFrom::End(0))
        .and_then(|size| source.seek(SeekFrom::Start(0)).map(|_| size))
        .map_err(files::io(format!("size {}", spec.device.display())))?;
    let mut passed_over = Vec::new();
    for number in 1..=MAX_COPIES_PER_GENERATION {
        let slot = Slot::new(&spec.dir, &base, number);
        if slot.free()? {
            let manifest = make_copy(spec, &slot, &mut source, bytes)?;
            return Ok(Preserved {
                manifest,
                reused: false,
                passed_over,
            });
        }
        match reusable(spec, &slot, bytes) {
            Ok(manifest) => {
                return Ok(Preserved {
                    manifest,
                    reused: true,
                    passed_over,
                })
            }
            Err(why) => passed_over.push(format!("{}: {why}", slot.image.display())),
        }
    }
    Err(BackupError::TooManyCopies {
        dir: spec.dir.clone(),
        base,
        count: MAX_COPIES_PER_GENERATION,
    })
}

/// The slot's manifest if its copy can stand for a new one, else why not.
fn reusable(spec: &BackupSpec, slot: &Slot, bytes: u64) -> Result<Manifest, String> {
    let Some(generations) = &spec.generations else {
        return Err(
            "this node's generations are unknown (no handshake in the kernel log), \
                    so no earlier copy can be shown to hold the same data"
                .into(),
        );
    };
    let manifest: Manifest = files::read_bounded(&slot.manifest)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_slice(&text).map_err(|e| e.to_string()))
        .map_err(|error| {
            format!(
                "no readable manifest {} ({error}): an unfinished or foreign copy",
                slot.manifest.display()
            )
        })?;
    if manifest.generations.as_ref() != Some(generations) {
        return Err(format!(
            "its manifest names generations {}, this node's are {}",
            describe(manifest.generations.as_ref()),
            describe(Some(generations))
        ));
    }
    if manifest.resource != spec.resource
        || manifest.node != spec.node
        || manifest.image != slot.image
        || manifest.bytes != bytes
    {
        return Err(format!(
            "its manifest is of {}/{}, {} bytes, at {}; this copy would be of {}/{}, {bytes} \
             bytes, at {}",
            manifest.resource,
            manifest.node,
            manifest.bytes,
            manifest.image.display(),
            spec.resource,
            spec.node,
            slot.image.display()
        ));
    }
    let (image_bytes, sha256) = files::hash_from_disk(&slot.image).map_err(|e| e.to_string())?;
    if image_bytes != manifest.bytes || sha256 != manifest.sha256 {
        return Err(format!(
            "it reads back as {image_bytes} bytes with SHA-256 {sha256}, its manifest says {} \
             bytes with SHA-256 {}: damaged, kept as it is",
            manifest.bytes, manifest.sha256
        ));
    }
    Ok(manifest)
}

fn describe(generations: Option<&Generations>) -> String {
    generations.map_or_else(
        || "unknown".to_string(),
        |g| {
            format!(
                "{:016X} (bitmap {:016X}, history {:016X} {:016X}, {} blocks changed)",
                g.current, g.bitmap, g.history[0], g.history[1], g.bits
            )
        },
    )
}

/// Copies into `slot`: `.partial`, fsynced, read back and compared, renamed to the image,
/// then the manifest; each name fsynced into the directory.
fn make_copy(
    spec: &BackupSpec,
    slot: &Slot,
    source: &mut File,
    bytes: u64,
) -> Result<Manifest, BackupError> {
    files::remove_unfinished(&slot.partial)?;
    check_room(spec, bytes)?;
    let mut out = files::create_private(&slot.partial)?;
    let device_sha256 = files::copy_hashing(source, &mut out, bytes, &slot.partial)?;
    drop(out);
    if let Some(hook) = &spec.before_read_back {
        (hook.0)(&slot.partial);
    }
    let (image_bytes, image_sha256) = files::hash_from_disk(&slot.partial)?;
    if image_bytes != bytes || image_sha256 != device_sha256 {
        return Err(BackupError::ReadBackMismatch {
            device: spec.device.clone(),
            image: slot.partial.clone(),
            device_bytes: bytes,
            device_sha256,
            image_bytes,
            image_sha256,
        });
    }
    files::rename_no_replace(&slot.partial, &slot.image)?;
    files::sync_dir(&spec.dir)?;
    let manifest = Manifest {
        resource: spec.resource.clone(),
        node: spec.node.clone(),
        device: spec.device.clone(),
        image: slot.image.clone(),
        bytes,
        sha256: device_sha256,
        unix_ms: unix_ms(),
        generations: spec.generations.clone(),
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Io {
        what: "encode the manifest".into(),
        error: e.to_string(),
    })?;
    files::write_atomically(&slot.manifest, &text)?;
    Ok(manifest)
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

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
