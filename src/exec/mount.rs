//! The filesystem that holds the datadir: mount (after an optional fsck), unmount that evicts
//! the processes holding it busy, and a monitor that the expected device is mounted.
//!
//! Everything reads `/proc/thread-self`, not `/proc/self`: a thread that entered another mount
//! namespace must see its own mounts, not the process leader's.

use nix::mount::{umount2, MntFlags, MsFlags};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

/// How long holders get between SIGTERM and SIGKILL: long enough for a shell or a backup
/// tool to exit cleanly, short enough to keep a switchover in seconds.
pub const HOLDER_GRACE_MS: u64 = 2_000;

/// After SIGKILL the kernel still needs a moment to release files.
const AFTER_KILL_WAIT_MS: u64 = 1_000;

/// Polling step while waiting for holders to exit.
const POLL_MS: u64 = 20;

/// An fsck that runs longer than this is left to the operator.
const FSCK_TIMEOUT_MS: u64 = 600_000;

/// What to mount where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub device: PathBuf,
    pub mountpoint: PathBuf,
    pub fstype: String,
    /// Comma-separated, as in fstab.
    pub options: String,
    pub fsck: bool,
}

impl MountSpec {
    pub fn from_config(config: &crate::config::Config) -> Self {
        let fs = &config.settings.filesystem;
        Self {
            device: fs.device.clone(),
            mountpoint: fs.mountpoint.clone(),
            fstype: fs.fstype.clone(),
            options: fs.options.clone(),
            fsck: fs.fsck_before_mount,
        }
    }
}

pub use super::holders::Holder;

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("fsck of {device} found errors it could not fix (exit {exit:?}): {output}; repair it by hand before mounting")]
    Fsck {
        device: PathBuf,
        exit: Option<i32>,
        output: String,
    },
    #[error("cannot mount {device} on {mountpoint}: {error}")]
    Mount {
        device: PathBuf,
        mountpoint: PathBuf,
        error: String,
    },
    #[error("{mountpoint} is mounted from {found}, not {expected}; unmount it before tandem mounts there")]
    WrongDevice {
        mountpoint: PathBuf,
        expected: PathBuf,
        found: String,
    },
    #[error("{mountpoint} is still busy after stopping its holders (killed: {}); look for nested mounts or processes in other namespaces (`fuser -vm {mountpoint}`)", list(killed))]
    StillBusy {
        mountpoint: PathBuf,
        killed: Vec<Holder>,
    },
    #[error("cannot unmount {mountpoint}: {error}")]
    Umount { mountpoint: PathBuf, error: String },
    #[error("cannot read the mount table: {0}")]
    MountTable(String),
}

fn list(holders: &[Holder]) -> String {
    if holders.is_empty() {
        return "none".into();
    }
    let parts: Vec<String> = holders.iter().map(Holder::to_string).collect();
    parts.join(", ")
}

/// What the monitor sees at the mountpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountState {
    NotMounted,
    /// Mounted from the expected device.
    Mounted,
    /// Mounted, but from another device (given as the mount table's source).
    Other {
        source: String,
    },
}

/// One line of /proc/…/mountinfo, the fields tandem needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// `major:minor` of the mounted filesystem.
    pub device_number: (u64, u64),
    pub mountpoint: String,
    pub fstype: String,
    pub source: String,
}

/// Parses mountinfo text (proc(5)). Pure; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<MountInfo> {
    let (left, right) = line.split_once(" - ")?;
    let left: Vec<&str> = left.split(' ').collect();
    let (major, minor) = left.get(2)?.split_once(':')?;
    let mut right = right.split(' ');
    Some(MountInfo {
        device_number: (major.parse().ok()?, minor.parse().ok()?),
        mountpoint: unescape(left.get(4)?),
        fstype: right.next()?.to_string(),
        source: unescape(right.next()?),
    })
}

/// mountinfo escapes space, tab, newline and backslash as octal `\NNN`.
fn unescape(field: &str) -> String {
    let mut out = Vec::with_capacity(field.len());
    let bytes = field.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(value)) => {
                out.push(value);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits fstab-style options into mount(2) flags and the filesystem's own data string.
pub fn split_options(options: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for option in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match option {
            "defaults" | "rw" => {}
            "ro" => flags |= MsFlags::MS_RDONLY,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "dirsync" => flags |= MsFlags::MS_DIRSYNC,
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// The monitor: is `spec.device` mounted at `spec.mountpoint`?
pub fn state(spec: &MountSpec) -> Result<MountState, MountError> {
    let text = std::fs::read_to_string("/proc/thread-self/mountinfo")
        .map_err(|e| MountError::MountTable(e.to_string()))?;
    let mountpoint = spec.mountpoint.to_string_lossy();
    // The last entry wins: it is the one on top at that path.
    let Some(entry) = parse_mountinfo(&text)
        .into_iter()
        .rfind(|m| m.mountpoint == mountpoint)
    else {
        return Ok(MountState::NotMounted);
    };
    let expected = std::fs::metadata(&spec.device)
        .ok()
        .filter(|m| m.file_type().is_block_device())
        .map(|m| {
            (
                nix::sys::stat::major(m.rdev()),
                nix::sys::stat::minor(m.rdev()),
            )
        });
    if expected == Some(entry.device_number) {
        Ok(MountState::Mounted)
    } else {
        Ok(MountState::Other {
            source: entry.source,
        })
    }
}

/// Whether a mount found the filesystem already there (adopted) or mounted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountOutcome {
    Mounted,
    AlreadyMounted,
}

/// Mounts `spec`, after fsck if asked. An existing mount of the right device is adopted; a
/// mount of another device at the same place is refused.
pub async fn mount(spec: &MountSpec) -> Result<MountOutcome, MountError> {
    match state(spec)? {
        MountState::Mounted => return Ok(MountOutcome::AlreadyMounted),
        MountState::Other { source } => {
            return Err(MountError::WrongDevice {
                mountpoint: spec.mountpoint.clone(),
                expected: spec.device.clone(),
                found: source,
            })
        }
        MountState::NotMounted => {}
    }
    if spec.fsck {
        fsck(spec).await?;
    }
    let (flags, data) = split_options(&spec.options);
    let data = (!data.is_empty()).then_some(data.as_str());
    nix::mount::mount(
        Some(spec.device.as_path()),
        spec.mountpoint.as_path(),
        Some(spec.fstype.as_str()),
        flags,
        data,
    )
    .map_err(|errno| MountError::Mount {
        device: spec.device.clone(),
        mountpoint: spec.mountpoint.clone(),
        error: errno.desc().to_string(),
    })?;
    Ok(MountOutcome::Mounted)
}

async fn fsck(spec: &MountSpec) -> Result<(), MountError> {
    let run = Command::new("fsck")
        .args(["-p", "-T", "-t", &spec.fstype])
        .arg(&spec.device)
        .kill_on_drop(true)
        .output();
    let fail = |exit, output: String| MountError::Fsck {
        device: spec.device.clone(),
        exit,
        output,
    };
    let output = tokio::time::timeout(Duration::from_millis(FSCK_TIMEOUT_MS), run)
        .await
        .map_err(|_| fail(None, format!("timed out after {FSCK_TIMEOUT_MS} ms")))?
        .map_err(|e| fail(None, e.to_string()))?;
    // fsck(8): 0 clean, 1 errors corrected; anything else needs a human.
    match output.status.code() {
        Some(0 | 1) => Ok(()),
        code => Err(fail(
            code,
            String::from_utf8_lossy(&output.stdout).trim().to_string()
                + String::from_utf8_lossy(&output.stderr).trim(),
        )),
    }
}

/// Unmounts `mountpoint`. If it is busy, its holders get SIGTERM, then SIGKILL after
/// `grace`; the processes killed are returned. Not mounted counts as done.
pub async fn umount(mountpoint: &Path, grace: Duration) -> Result<Vec<Holder>, MountError> {
    let mut evicted = Vec::new();
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGKILL,
    ] {
        match try_umount(mountpoint)? {
            true => return Ok(evicted),
            false => {
                let holders = super::holders::find(mountpoint);
                tracing::warn!(mountpoint = %mountpoint.display(), holders = %list(&holders), ?signal, "mount busy");
                for holder in &holders {
                    super::holders::signal(holder.pid, signal);
                    if !evicted.iter().any(|h: &Holder| h.pid == holder.pid) {
                        evicted.push(holder.clone());
                    }
                }
                let wait = if signal == nix::sys::signal::Signal::SIGTERM {
                    grace
                } else {
                    Duration::from_millis(AFTER_KILL_WAIT_MS)
                };
                wait_until_free(mountpoint, wait).await?;
            }
        }
    }
    match try_umount(mountpoint)? {
        true => Ok(evicted),
        false => Err(MountError::StillBusy {
            mountpoint: mountpoint.to_path_buf(),
            killed: evicted,
        }),
    }
}

/// true: unmounted (or was not mounted); false: busy.
fn try_umount(mountpoint: &Path) -> Result<bool, MountError> {
    match umount2(mountpoint, MntFlags::empty()) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => Ok(true),
        Err(nix::errno::Errno::EBUSY) => Ok(false),
        Err(errno) => Err(MountError::Umount {
            mountpoint: mountpoint.to_path_buf(),
            error: errno.desc().to_string(),
        }),
    }
}

async fn wait_until_free(mountpoint: &Path, wait: Duration) -> Result<(), MountError> {
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        if super::holders::find(mountpoint).is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines() {
        let text = "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext4 /dev/loop3 rw,errors=continue\n\
                    garbage\n\
                    22 1 0:21 / /run rw shared:5 - tmpfs tmpfs rw,mode=755\n";
        let entries = parse_mountinfo(text);
        assert_eq!(
            entries,
            vec![
                MountInfo {
                    device_number: (98, 0),
                    mountpoint: "/mnt/with space".into(),
                    fstype: "ext4".into(),
                    source: "/dev/loop3".into(),
                },
                MountInfo {
                    device_number: (0, 21),
                    mountpoint: "/run".into(),
                    fstype: "tmpfs".into(),
                    source: "tmpfs".into(),
                },
            ]
        );
    }

    #[test]
    fn options_split_into_flags_and_data() {
        let (flags, data) = split_options("noatime, ro,data=ordered,,errors=remount-ro");
        assert_eq!(flags, MsFlags::MS_NOATIME | MsFlags::MS_RDONLY);
        assert_eq!(data, "data=ordered,errors=remount-ro");
        assert_eq!(split_options("defaults"), (MsFlags::empty(), String::new()));
    }
}
