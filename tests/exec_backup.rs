//! exec/backup.rs on real files and a real (tiny) tmpfs: the copy is byte-for-byte with a
//! matching SHA-256 in its manifest, a second run reuses it, and a directory without room is
//! refused before anything is written. (The VM lab copies a real DRBD backing device.)

use sha2::{Digest, Sha256};
use std::io::Write;
use tandem::drbd::handshake::Generations;
use tandem::exec::backup::{preserve, BackupError, BackupSpec};

fn device_with(bytes: usize) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let data: Vec<u8> = (0..bytes).map(|i| (i * 7 % 251) as u8).collect();
    file.write_all(&data).unwrap();
    file.flush().unwrap();
    file
}

fn spec(device: &std::path::Path, dir: &std::path::Path) -> BackupSpec {
    BackupSpec {
        resource: "r0".into(),
        node: "vm-b".into(),
        device: device.to_path_buf(),
        dir: dir.to_path_buf(),
        generations: Some(Generations {
            current: 0x33EDD93590114E8B,
            bitmap: 0x6E73EEE370C89014,
            history: [0, 0],
            bits: 47,
        }),
    }
}

#[tokio::test]
async fn copy_matches_its_manifest_and_is_reused() {
    let device = device_with(5 * 1024 * 1024 + 123);
    let dir = tempfile::tempdir().unwrap();
    let (manifest, reused) = preserve(spec(device.path(), dir.path())).await.unwrap();
    assert!(!reused);
    assert_eq!(
        manifest.image,
        dir.path().join("r0-vm-b-33EDD93590114E8B.img")
    );
    let copy = std::fs::read(&manifest.image).unwrap();
    let original = std::fs::read(device.path()).unwrap();
    assert!(copy == original, "the copy differs from the device");
    let sha: String = Sha256::digest(&original)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(manifest.sha256, sha);
    assert_eq!(manifest.bytes, original.len() as u64);
    let json = dir.path().join("r0-vm-b-33EDD93590114E8B.json");
    assert!(json.exists());
    let (again, reused) = preserve(spec(device.path(), dir.path())).await.unwrap();
    assert!(reused, "a complete copy of the same generation is kept");
    assert_eq!(again, manifest);
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
    let device = device_with(8 * 1024 * 1024);
    let result = preserve(spec(device.path(), dir.path())).await;
    let listing: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
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
