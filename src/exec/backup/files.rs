//! The file operations behind a copy that survives a power cut and is private to root: modes
//! set explicitly (whatever the umask), every file and every directory entry fsynced, renames
//! that never replace an existing name, and hashes read back from the disk, not the cache.

use super::BackupError;
use nix::fcntl::{posix_fadvise, renameat2, PosixFadviseAdvice, RenameFlags, AT_FDCWD};
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The copy holds the database: only root may enter the directory that holds it.
pub const DIR_MODE: u32 = 0o700;
/// Images and manifests: read and written by root only.
pub const FILE_MODE: u32 = 0o600;
/// Read/write chunk: large enough for sequential throughput, small enough to stay in cache.
const COPY_CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// A manifest is under 1 KiB; a larger file under a manifest's name is not one of ours.
const MANIFEST_MAX_BYTES: u64 = 64 * 1024;

pub(super) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |e| BackupError::Io {
        what,
        error: e.to_string(),
    }
}

fn errno(what: String) -> impl FnOnce(nix::errno::Errno) -> BackupError {
    move |e| BackupError::Io {
        what,
        error: e.desc().to_string(),
    }
}

/// Creates `dir` (and missing parents) with each new entry fsynced into its parent, then sets
/// `dir` to `DIR_MODE`, also when it existed.
pub(super) fn ensure_private_dir(dir: &Path) -> Result<(), BackupError> {
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|path| !path.as_os_str().is_empty() && !path.exists())
        .map(Path::to_path_buf)
        .collect();
    fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
    for created in &missing {
        if let Some(parent) = created.parent() {
            sync_dir(parent)?;
        }
    }
    fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
        .map_err(io(format!("set mode 0700 on {}", dir.display())))
}

/// fsyncs a directory, so that the names created or renamed in it survive a power cut.
pub(super) fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(io(format!("fsync the directory {}", dir.display())))
}

/// Creates (or truncates) `path` as a `FILE_MODE` file, the mode set on the open file.
pub(super) fn create_private(path: &Path) -> Result<File, BackupError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(io(format!("create {}", path.display())))?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))
        .map_err(io(format!("set mode 0600 on {}", path.display())))?;
    Ok(file)
}

/// Removes `path` if it exists (an unfinished `.partial` or `.tmp`, never a copy).
pub(super) fn remove_unfinished(path: &Path) -> Result<(), BackupError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(io(format!("remove {}", path.display()))(e))
        }
        _ => Ok(()),
    }
}

/// Whether anything (a file, a link, a directory) has this name.
pub(super) fn name_taken(path: &Path) -> Result<bool, BackupError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(format!("look at {}", path.display()))(e)),
    }
}

/// Renames `from` to `to`, failing rather than replacing an existing `to`.
pub(super) fn rename_no_replace(from: &Path, to: &Path) -> Result<(), BackupError> {
    renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_NOREPLACE).map_err(errno(format!(
        "rename {} to {} (never replacing)",
        from.display(),
        to.display()
    )))
}

/// Writes `contents` to `path` so that a reader finds all of it or nothing, even after a
/// power cut: a `FILE_MODE` temp file, fsynced, renamed (never replacing), directory fsynced.
pub(super) fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), BackupError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    let tmp = PathBuf::from(name);
    let mut file = create_private(&tmp)?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(io(format!("write {}", tmp.display())))?;
    drop(file);
    rename_no_replace(&tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Reads a file that should be a manifest, refusing one too large to be one.
pub(super) fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut contents = Vec::new();
    File::open(path)?
        .take(MANIFEST_MAX_BYTES + 1)
        .read_to_end(&mut contents)?;
    if contents.len() as u64 > MANIFEST_MAX_BYTES {
        return Err(std::io::Error::other("larger than any manifest"));
    }
    Ok(contents)
}

/// Copies `bytes` from `source` into `out`, then fsyncs `out`; returns the SHA-256 (hex) of
/// what was read from `source`.
pub(super) fn copy_hashing(
    source: &mut File,
    out: &mut File,
    bytes: u64,
    target: &Path,
) -> Result<String, BackupError> {
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
    Ok(hex(&hasher.finalize()))
}

/// Reads `path` back from the disk: its clean cached pages are dropped first
/// (`POSIX_FADV_DONTNEED`, after the fsync that made them clean), so the hash is of what the
/// disk holds. Returns the length read and its SHA-256 (hex).
pub(super) fn hash_from_disk(path: &Path) -> Result<(u64, String), BackupError> {
    let mut file = File::open(path).map_err(io(format!("open {}", path.display())))?;
    posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED).map_err(errno(format!(
        "drop the cached pages of {}",
        path.display()
    )))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; COPY_CHUNK_BYTES];
    let mut length_bytes = 0u64;
    loop {
        let got = file
            .read(&mut buffer)
            .map_err(io(format!("read back {}", path.display())))?;
        if got == 0 {
            return Ok((length_bytes, hex(&hasher.finalize())));
        }
        hasher.update(&buffer[..got]);
        length_bytes += got as u64;
    }
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomically_never_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("copy.json");
        let tmp = dir.path().join("copy.json.tmp");
        fs::write(&tmp, b"{\"torn").unwrap(); // left by a crash: replaced
        write_atomically(&path, b"{}").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        assert!(!tmp.exists(), "the temp file was renamed into place");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, FILE_MODE);
        let refused = write_atomically(&path, b"{\"other\": 1}");
        assert!(
            matches!(&refused, Err(BackupError::Io { what, .. }) if what.contains("never replacing")),
            "{refused:?}"
        );
        assert_eq!(fs::read(&path).unwrap(), b"{}", "the manifest was replaced");
    }
}
