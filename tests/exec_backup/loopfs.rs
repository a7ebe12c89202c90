//! A small ext4 on a loop device for the exec_backup tests (root only): its journal commits
//! every 300 s, so only fsyncs put anything on its disk while a test runs; `power_cut` mounts
//! a copy of that disk as it stands, i.e. what a node finds after losing power.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Room for one test copy plus `exec::backup`'s 64 MiB headroom.
const DISK_BYTES: u64 = 128 * 1024 * 1024;
/// mkfs's block size, which filefrag's offsets count in.
const BLOCK_BYTES: u64 = 4096;

pub struct LoopFs {
    dir: tempfile::TempDir,
    device: String,
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

impl LoopFs {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("disk");
        std::fs::File::create(&disk)
            .unwrap()
            .set_len(DISK_BYTES)
            .unwrap();
        let lazy = "lazy_itable_init=0,lazy_journal_init=0";
        run(
            "mkfs.ext4",
            &["-q", "-F", "-b", "4096", "-E", lazy, path(&disk)],
        );
        Self::attach(dir)
    }

    /// Mounts `<dir>/disk` on `<dir>/mnt`.
    fn attach(dir: tempfile::TempDir) -> Self {
        let disk = dir.path().join("disk");
        let device = run("losetup", &["-f", "--show", path(&disk)])
            .trim()
            .to_string();
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).unwrap();
        run("mount", &["-o", "commit=300", &device, path(&mountpoint)]);
        LoopFs { dir, device }
    }

    pub fn mountpoint(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    pub fn backing_file(&self) -> PathBuf {
        self.dir.path().join("disk")
    }

    /// Copies the disk as it stands now, drops this filesystem, mounts the copy (which
    /// replays its journal as a boot after a power cut would).
    pub fn power_cut(self) -> LoopFs {
        let copy = tempfile::tempdir().unwrap();
        std::fs::copy(self.backing_file(), copy.path().join("disk")).unwrap();
        drop(self);
        Self::attach(copy)
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.mountpoint()).status();
        let _ = Command::new("losetup").args(["-d", &self.device]).status();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Flips the byte at `offset_bytes` of `file` where it lies on the disk (`backing`), below
/// the filesystem's page cache, which keeps the byte as written.
pub fn flip_byte_on_disk(backing: &Path, file: &Path, offset_bytes: u64) {
    use std::os::unix::fs::FileExt;
    let extents = run("filefrag", &["-v", path(file)]);
    let first = extents
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("0:"))
        .unwrap_or_else(|| panic!("no extent in {extents}"));
    let fields: Vec<&str> = first.split(':').map(str::trim).collect();
    let physical_block: u64 = fields[1]
        .split("..")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let length_blocks: u64 = fields[2].parse().unwrap();
    assert!(offset_bytes / BLOCK_BYTES < length_blocks, "{extents}");
    let at = physical_block * BLOCK_BYTES + offset_bytes;
    let disk = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(backing)
        .unwrap();
    let mut byte = [0u8];
    disk.read_exact_at(&mut byte, at).unwrap();
    disk.write_all_at(&[byte[0] ^ 0x01], at).unwrap();
    disk.sync_data().unwrap();
}
