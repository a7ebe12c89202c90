//! Small read-only probes of the host: its name, programs on PATH, network interfaces, files.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// `uname -n`, which DRBD also matches against its `on NAME` sections.
pub fn node_name() -> std::io::Result<String> {
    let uts = nix::sys::utsname::uname()?;
    Ok(uts.nodename().to_string_lossy().into_owned())
}

/// Where `program` would be run from: itself if it contains a '/', otherwise the first
/// executable match on PATH (plus the sbin directories root's PATH usually has).
pub fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return is_executable(program).then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// A regular file with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Whether a network interface of that name exists in this network namespace.
pub fn interface_exists(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && Path::new("/sys/class/net").join(name).exists()
}

/// Whether the DRBD kernel module is loaded (it creates /proc/drbd).
pub fn drbd_module_loaded() -> bool {
    Path::new("/proc/drbd").exists()
}

/// The permission bits and size of a file, for the peer key check.
pub fn file_mode_and_size(path: &Path) -> std::io::Result<(u32, u64)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.permissions().mode() & 0o7777, meta.len()))
}

/// Writes `text` to a new private temporary file that is removed when the handle drops.
pub fn temp_file_with(text: &str) -> std::io::Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let mut file = tempfile::Builder::new().prefix("tandem-").tempfile()?;
    file.write_all(text.as_bytes())?;
    file.flush()?;
    Ok(file)
}

/// The text of `/proc/drbd` (DRBD 8.4's status file, with the protocol in effect).
pub fn read_proc_drbd() -> std::io::Result<String> {
    std::fs::read_to_string("/proc/drbd")
}
