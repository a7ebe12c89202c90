//! The key file's checks, on real files in a temporary directory.

use super::*;
use std::os::unix::fs::PermissionsExt;

fn key() -> PeerKey {
    PeerKey::from_bytes(&[0x42; 32]).expect("key")
}

fn write_key(dir: &tempfile::TempDir, bytes: &[u8], mode: u32) -> std::path::PathBuf {
    let path = dir.path().join("peer.key");
    std::fs::write(&path, bytes).expect("write key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

#[test]
fn key_file_must_be_private_and_long_enough() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_key(&dir, &[9; 32], 0o644);
    let refused = PeerKey::load(&path).expect_err("0644");
    assert!(
        matches!(refused, KeyError::Mode { mode: 0o644, .. }),
        "{refused:?}"
    );
    let shown = path.display();
    assert_eq!(
        refused.to_string(),
        format!("refused: peer key {shown} has mode 0644; run `chmod 600 {shown}`")
    );
    assert!(matches!(
        PeerKey::load(&write_key(&dir, &[9; 32], 0o640)),
        Err(KeyError::Mode { mode: 0o640, .. })
    ));
    let short = PeerKey::load(&write_key(&dir, &[9; 31], 0o600)).expect_err("31 bytes");
    assert!(
        short.to_string().contains("holds 31 bytes, fewer than 32"),
        "{short}"
    );
    PeerKey::load(&write_key(&dir, &[9; 32], 0o600)).expect("0600, 32 bytes");
    PeerKey::load(&write_key(&dir, &[9; 64], 0o400)).expect("0400 is stricter");
    let too_long = PeerKey::load(&write_key(&dir, &[9; 5000], 0o600)).expect_err("5000 bytes");
    assert!(matches!(too_long, KeyError::TooLong { .. }), "{too_long:?}");
    assert!(matches!(
        PeerKey::load(dir.path()),
        Err(KeyError::NotAFile { .. })
    ));
    let missing = PeerKey::load(&dir.path().join("absent")).expect_err("missing");
    assert!(
        missing.to_string().contains("head -c 32 /dev/urandom"),
        "{missing}"
    );
}

#[test]
fn loaded_key_is_the_file_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_key(&dir, &[0x42; 32], 0o600);
    let loaded = PeerKey::load(&path).expect("load");
    let session = SessionId::derive(&loaded, (&[1; 16], "a"), (&[2; 16], "b"));
    assert_eq!(
        session,
        SessionId::derive(&key(), (&[1; 16], "a"), (&[2; 16], "b"))
    );
    assert_eq!(format!("{loaded:?}"), "PeerKey(<redacted>)");
}

#[test]
fn key_owned_by_another_user_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        return; // only root can give a file away; the check itself runs everywhere
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_key(&dir, &[9; 32], 0o600);
    let stranger = nix::unistd::Uid::from_raw(4242);
    nix::unistd::chown(&path, Some(stranger), None).expect("chown");
    let refused = PeerKey::load(&path).expect_err("owned by 4242");
    assert!(
        matches!(
            refused,
            KeyError::Owner {
                owner_uid: 4242,
                our_uid: 0,
                ..
            }
        ),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("run `chown 0 "), "{refused}");
}

#[test]
fn session_id_binds_both_node_names_and_their_order() {
    let (client, server) = (&[1; 16], &[2; 16]);
    let a_to_b = SessionId::derive(&key(), (client, "a"), (server, "b"));
    let b_to_a = SessionId::derive(&key(), (client, "b"), (server, "a"));
    let a_to_a = SessionId::derive(&key(), (client, "a"), (server, "a"));
    assert_ne!(a_to_b, b_to_a);
    assert_ne!(a_to_b, a_to_a);
    assert_ne!(b_to_a, a_to_a);
    // Length-prefixed: moving a byte from one name to the other changes the id.
    assert_ne!(
        SessionId::derive(&key(), (client, "ab"), (server, "c")),
        SessionId::derive(&key(), (client, "a"), (server, "bc"))
    );
    assert_eq!(
        a_to_b,
        SessionId::derive(&key(), (client, "a"), (server, "b")),
        "deterministic"
    );
}
