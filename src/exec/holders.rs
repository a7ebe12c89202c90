//! Which processes keep a mounted filesystem busy, found through /proc: their working
//! directory, root, open files and memory maps. Only processes in the caller's mount namespace
//! count: a process elsewhere holds its own copy of the mount, not ours.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A process that kept the filesystem busy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: i32,
    pub command: String,
    /// How it held the filesystem: "cwd", "root", "fd /path", "mmap /path".
    pub how: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {})", self.pid, self.command, self.how)
    }
}

/// Holders of the filesystem mounted at `mountpoint`; empty if nothing is mounted there (the
/// directory would then report its parent's filesystem, and every process on it would look
/// like a holder).
pub fn find(mountpoint: &Path) -> Vec<Holder> {
    let Some(dev) = mounted_device(mountpoint) else {
        return Vec::new();
    };
    let Ok(my_mnt_ns) = std::fs::metadata("/proc/thread-self/ns/mnt").map(|m| m.ino()) else {
        return Vec::new();
    };
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me && *pid != 1)
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/mnt"))
                .map(|m| m.ino())
                .ok()
                == Some(my_mnt_ns)
        })
        .filter_map(|pid| holds(pid, dev))
        .collect()
}

/// The st_dev of the filesystem mounted at `mountpoint`, if one is mounted there.
fn mounted_device(mountpoint: &Path) -> Option<u64> {
    let here = std::fs::metadata(mountpoint).ok()?;
    let parent = std::fs::metadata(mountpoint.join("..")).ok()?;
    (here.dev() != parent.dev()).then_some(here.dev())
}

fn holds(pid: i32, dev: u64) -> Option<Holder> {
    let proc_dir = format!("/proc/{pid}");
    let on_dev = |path: &str| {
        std::fs::metadata(path)
            .map(|m| m.dev() == dev)
            .unwrap_or(false)
    };
    let how = if on_dev(&format!("{proc_dir}/cwd")) {
        Some("cwd".to_string())
    } else if on_dev(&format!("{proc_dir}/root")) {
        Some("root".to_string())
    } else {
        open_file_on(&proc_dir, dev).or_else(|| mapping_on(&proc_dir, dev))
    }?;
    let command = std::fs::read_to_string(format!("{proc_dir}/comm"))
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
    Some(Holder { pid, command, how })
}

fn open_file_on(proc_dir: &str, dev: u64) -> Option<String> {
    std::fs::read_dir(format!("{proc_dir}/fd"))
        .ok()?
        .flatten()
        .find(|fd| {
            std::fs::metadata(fd.path())
                .map(|m| m.dev() == dev)
                .unwrap_or(false)
        })
        .map(|fd| {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            format!("fd {}", target.display())
        })
}

fn mapping_on(proc_dir: &str, dev: u64) -> Option<String> {
    let maps = std::fs::read_to_string(format!("{proc_dir}/maps")).ok()?;
    let wanted = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    mapped_paths(&maps, wanted)
        .into_iter()
        .next()
        .map(|path| format!("mmap {path}"))
}

/// Paths in /proc/PID/maps text that live on device `(major, minor)`. Pure.
pub fn mapped_paths(maps: &str, (major, minor): (u64, u64)) -> Vec<String> {
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let device = fields.nth(3)?;
            let inode = fields.next()?;
            let path = fields.collect::<Vec<_>>().join(" ");
            let (ma, mi) = device.split_once(':')?;
            let same = u64::from_str_radix(ma, 16).ok()? == major
                && u64::from_str_radix(mi, 16).ok()? == minor;
            (same && inode != "0").then_some(path)
        })
        .collect()
}

/// Sends `signal` to `pid`; a process that is already gone is fine.
pub fn signal(pid: i32, signal: nix::sys::signal::Signal) {
    assert!(pid > 1, "refusing to signal pid {pid}");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_on_a_device() {
        let maps = "55d0c0a00000-55d0c0a02000 r--p 00000000 07:03 12 /mnt/data/ib_logfile0\n\
                    7f00-7f01 rw-p 00000000 00:00 0 \n\
                    7f02-7f03 r--p 00000000 fe:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6\n";
        assert_eq!(mapped_paths(maps, (7, 3)), ["/mnt/data/ib_logfile0"]);
        assert_eq!(
            mapped_paths(maps, (254, 1)),
            ["/usr/lib/x86_64-linux-gnu/libc.so.6"]
        );
        assert!(mapped_paths(maps, (0, 0)).is_empty());
    }
}
