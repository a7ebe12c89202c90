//! exec/backup on real files, a real (tiny) tmpfs and a real ext4 on a loop device: the copy
//! is byte-for-byte with a matching SHA-256 in its manifest; a second run reuses it only when
//! its manifest names the same generations and it still reads back intact, otherwise a new
//! copy goes beside it and no copy is ever overwritten; a copy that reads back from the disk
//! differently is an error; modes are 0700/0600 under umask 022; the copy and its manifest
//! survive a power cut right after `preserve` returns; a directory without room is refused
//! before anything is written. (The VM lab copies a real DRBD backing device.)

#[path = "exec_backup/loopfs.rs"]
mod loopfs;

use loopfs::LoopFs;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tandem::drbd::handshake::Generations;
use tandem::exec::backup::{preserve, BackupError, BackupSpec, Manifest, ReadBackHook};

const DEVICE_BYTES: usize = 5 * 1024 * 1024 + 123;

fn device_with(bytes: usize, seed: usize) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&pattern(bytes, seed)).unwrap();
    file.flush().unwrap();
    file
}

fn pattern(bytes: usize, seed: usize) -> Vec<u8> {
    (0..bytes).map(|i| ((i + seed) * 7 % 251) as u8).collect()
}

fn rewrite(device: &tempfile::NamedTempFile, seed: usize) {
    std::fs::write(device.path(), pattern(DEVICE_BYTES, seed)).unwrap();
}

/// vm-b's generations at the split; `bits` grows if it writes on in the same generation
/// (DRBD makes no new current UUID while the bitmap UUID is set).
fn generations(bits: u64) -> Generations {
    Generations {
        current: 0x33EDD93590114E8B,
        bitmap: 0x6E73EEE370C89014,
        history: [0, 0],
        bits,
    }
}

fn spec(device: &Path, dir: &Path) -> BackupSpec {
    BackupSpec {
        resource: "r0".into(),
        node: "vm-b".into(),
        device: device.to_path_buf(),
        dir: dir.to_path_buf(),
        generations: Some(generations(47)),
        before_read_back: None,
    }
}

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn read_manifest(path: &Path) -> Manifest {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

const FIRST: &str = "r0-vm-b-33EDD93590114E8B";

#[tokio::test]
async fn copy_matches_its_manifest_and_is_reused() {
    let device = device_with(DEVICE_BYTES, 0);
    let dir = tempfile::tempdir().unwrap();
    let first = preserve(spec(device.path(), dir.path())).await.unwrap();
    assert!(!first.reused);
    let manifest = first.manifest;
    assert_eq!(manifest.image, dir.path().join(format!("{FIRST}.img")));
    let copy = std::fs::read(&manifest.image).unwrap();
    let original = std::fs::read(device.path()).unwrap();
    assert!(copy == original, "the copy differs from the device");
    assert_eq!(manifest.sha256, sha256(&original));
    assert_eq!(manifest.bytes, original.len() as u64);
    let json = dir.path().join(format!("{FIRST}.json"));
    assert_eq!(read_manifest(&json), manifest);
    let again = preserve(spec(device.path(), dir.path())).await.unwrap();
    assert!(
        again.reused,
        "an intact copy of the same generations is kept"
    );
    assert_eq!(again.manifest, manifest);
    assert!(again.passed_over.is_empty(), "{:?}", again.passed_over);
    assert_eq!(
        listing(dir.path()),
        [format!("{FIRST}.img"), format!("{FIRST}.json")]
    );
}

/// Asserts that the run made a new copy in slot 2 of `base`, of the device as it is now,
/// and that slot 1 still holds exactly `kept` bytes.
fn assert_new_copy_beside(dir: &Path, base: &str, device: &Path, kept: &[u8]) {
    let second = dir.join(format!("{base}.2.img"));
    assert_eq!(
        std::fs::read(&second).unwrap(),
        std::fs::read(device).unwrap()
    );
    let manifest = read_manifest(&dir.join(format!("{base}.2.json")));
    assert_eq!(manifest.image, second);
    let first = std::fs::read(dir.join(format!("{base}.img"))).unwrap();
    assert!(first == kept, "the earlier copy was changed");
}

#[tokio::test]
async fn an_unknown_generation_is_never_reused() {
    let device = device_with(DEVICE_BYTES, 0);
    let dir = tempfile::tempdir().unwrap();
    let unknown = || BackupSpec {
        generations: None,
        ..spec(device.path(), dir.path())
    };
    let first = preserve(unknown()).await.unwrap();
    let kept = std::fs::read(&first.manifest.image).unwrap();
    rewrite(&device, 1);
    let second = preserve(unknown()).await.unwrap();
    assert!(
        !second.reused,
        "a copy of unknown generation stood for new data"
    );
    let base = "r0-vm-b-unknown-generation";
    assert_new_copy_beside(dir.path(), base, device.path(), &kept);
    assert_eq!(second.passed_over.len(), 1, "{:?}", second.passed_over);
    assert!(second.passed_over[0].contains("generations are unknown"));
}

#[tokio::test]
async fn a_copy_of_other_generations_is_kept_and_not_reused() {
    let device = device_with(DEVICE_BYTES, 0);
    let dir = tempfile::tempdir().unwrap();
    let first = preserve(spec(device.path(), dir.path())).await.unwrap();
    let kept = std::fs::read(&first.manifest.image).unwrap();
    // The victim wrote on in the same current generation; a later handshake logged it.
    rewrite(&device, 1);
    let later = BackupSpec {
        generations: Some(generations(52)),
        ..spec(device.path(), dir.path())
    };
    let second = preserve(later).await.unwrap();
    assert!(
        !second.reused,
        "a copy of other generations stood for new data"
    );
    assert_new_copy_beside(dir.path(), FIRST, device.path(), &kept);
    assert_eq!(second.manifest.generations, Some(generations(52)));
    let why = &second.passed_over[0];
    assert!(
        why.contains("47 blocks changed") && why.contains("52 blocks"),
        "{why}"
    );
}

#[tokio::test]
async fn a_damaged_copy_is_detected_and_kept() {
    let device = device_with(DEVICE_BYTES, 0);
    let dir = tempfile::tempdir().unwrap();
    let first = preserve(spec(device.path(), dir.path())).await.unwrap();
    let mut damaged = std::fs::read(&first.manifest.image).unwrap();
    damaged[4096] ^= 0x01;
    std::fs::write(&first.manifest.image, &damaged).unwrap();
    let second = preserve(spec(device.path(), dir.path())).await.unwrap();
    assert!(!second.reused, "a damaged copy stood for the data");
    assert_new_copy_beside(dir.path(), FIRST, device.path(), &damaged);
    let why = &second.passed_over[0];
    assert!(why.contains("damaged, kept as it is"), "{why}");
}

/// A torn manifest (what a non-atomic writer leaves after a crash) proves nothing: its copy is
/// kept as it is, never overwritten, and the new copy goes beside it.
#[tokio::test]
async fn a_copy_with_a_torn_manifest_is_not_trusted_nor_overwritten() {
    let device = device_with(DEVICE_BYTES, 0);
    let dir = tempfile::tempdir().unwrap();
    let first = preserve(spec(device.path(), dir.path())).await.unwrap();
    let kept = std::fs::read(&first.manifest.image).unwrap();
    let json = dir.path().join(format!("{FIRST}.json"));
    let text = std::fs::read(&json).unwrap();
    std::fs::write(&json, &text[..text.len() / 2]).unwrap();
    rewrite(&device, 1);
    let second = preserve(spec(device.path(), dir.path())).await.unwrap();
    assert!(!second.reused);
    assert_new_copy_beside(dir.path(), FIRST, device.path(), &kept);
    assert!(second.passed_over[0].contains("no readable manifest"));
}

#[tokio::test]
async fn modes_are_0700_and_0600_under_umask_022() {
    // SAFETY: umask only sets the process's file-creation mask.
    let previous = unsafe { libc::umask(0o022) };
    let device = device_with(DEVICE_BYTES, 0);
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("split-brain");
    let preserved = preserve(spec(device.path(), &dir)).await;
    let preexisting = tempfile::tempdir().unwrap();
    std::fs::set_permissions(preexisting.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let again = preserve(spec(device.path(), preexisting.path())).await;
    unsafe { libc::umask(previous) };
    let image = preserved.unwrap().manifest.image;
    assert_eq!(mode(&dir), 0o700, "a new directory");
    assert_eq!(mode(&image), 0o600, "the image");
    assert_eq!(
        mode(&dir.join(format!("{FIRST}.json"))),
        0o600,
        "the manifest"
    );
    again.unwrap();
    assert_eq!(mode(preexisting.path()), 0o700, "an existing directory");
}

/// The copy is read back from the disk, not the page cache: a byte flipped on the disk under
/// the just-written copy (below the filesystem's cache) is caught, and no copy is reported.
#[tokio::test]
async fn a_copy_that_reads_back_differently_from_the_disk_is_an_error() {
    let fs = LoopFs::new();
    let dir = fs.mountpoint().join("split-brain");
    let device = device_with(DEVICE_BYTES, 0);
    let backing: PathBuf = fs.backing_file().to_path_buf();
    let corrupting = BackupSpec {
        before_read_back: Some(ReadBackHook(Arc::new(move |image: &Path| {
            loopfs::flip_byte_on_disk(&backing, image, 4096);
        }))),
        ..spec(device.path(), &dir)
    };
    match preserve(corrupting).await {
        Err(error @ BackupError::ReadBackMismatch { .. }) => {
            let text = error.to_string();
            assert!(text.contains("reads back from the disk"), "{text}");
            assert!(text.contains("is not discarded"), "{text}");
        }
        other => panic!("expected ReadBackMismatch, got {other:?}"),
    }
    assert_eq!(
        listing(&dir),
        [format!("{FIRST}.img.partial")],
        "no copy, no manifest"
    );
}

/// A power cut right after `preserve` returns: the filesystem as the disk holds it then (its
/// journal commits only every 300 s, so only fsyncs put anything there) has the image under
/// its final name and the manifest.
#[tokio::test]
async fn the_copy_and_its_manifest_survive_a_power_cut() {
    let fs = LoopFs::new();
    let dir = fs.mountpoint().join("split-brain");
    let device = device_with(DEVICE_BYTES, 0);
    let preserved = preserve(spec(device.path(), &dir)).await.unwrap();
    let after_cut = fs.power_cut();
    let dir = after_cut.mountpoint().join("split-brain");
    let names = listing(&dir);
    assert_eq!(names, [format!("{FIRST}.img"), format!("{FIRST}.json")]);
    let image = std::fs::read(dir.join(format!("{FIRST}.img"))).unwrap();
    assert_eq!(sha256(&image), preserved.manifest.sha256);
    let manifest = read_manifest(&dir.join(format!("{FIRST}.json")));
    assert_eq!(manifest, preserved.manifest);
}

#[tokio::test]
async fn a_directory_without_room_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(mounted.success(), "mount tmpfs (the tests run as root)");
    let device = device_with(8 * 1024 * 1024, 0);
    let result = preserve(spec(device.path(), dir.path())).await;
    let listing = listing(dir.path());
    let _ = std::process::Command::new("umount")
        .arg(dir.path())
        .status();
    match result {
        Err(error @ BackupError::NoRoom { .. }) => {
            let text = error.to_string();
            assert!(text.starts_with("refused: preserving "), "{text}");
            assert!(text.contains("needs 72 MiB in "), "{text}");
            assert!(text.contains("pass --no-backup"), "{text}");
        }
        other => panic!("expected NoRoom, got {other:?}"),
    }
    assert!(listing.is_empty(), "nothing was written: {listing:?}");
}
