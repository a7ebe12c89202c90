//! The frame codec on exact byte layouts.

use super::*;
use crate::peer::auth::{Direction, PeerKey, SessionId};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const KEY_BYTES: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

fn key() -> PeerKey {
    PeerKey::from_bytes(KEY_BYTES).expect("32-byte key")
}

fn session() -> SessionId {
    SessionId::derive(&key(), (&[1; 16], "a"), (&[2; 16], "b"))
}

#[test]
fn sealed_frame_has_the_documented_layout() {
    let bytes = seal(
        &key(),
        &session(),
        Direction::ClientToServer,
        FrameKind::Message,
        0x0102_0304_0506_0708,
        b"{}",
    )
    .expect("seal");
    assert_eq!(bytes.len(), HEADER_BYTES + 2 + TAG_BYTES);
    assert_eq!(&bytes[0..4], b"TNDM");
    assert_eq!(bytes[4], PROTOCOL_VERSION);
    assert_eq!(bytes[5], 3, "MESSAGE");
    assert_eq!(&bytes[6..10], &[0, 0, 0, 2], "payload length, big-endian");
    assert_eq!(
        &bytes[10..18],
        &[1, 2, 3, 4, 5, 6, 7, 8],
        "counter, big-endian"
    );
    assert_eq!(&bytes[18..20], b"{}");

    // The tag, computed independently: HMAC(key, session || direction || header || payload).
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(KEY_BYTES).expect("hmac key");
    mac.update(session().as_bytes());
    mac.update(&[1]);
    mac.update(&bytes[..20]);
    assert_eq!(&bytes[20..], mac.finalize().into_bytes().as_slice());
}

#[test]
fn session_id_is_hmac_of_label_both_nonces_and_both_names() {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(KEY_BYTES).expect("hmac key");
    mac.update(b"tandem-session");
    mac.update(&[1; 16]);
    mac.update(&[2; 16]);
    mac.update(&1u64.to_be_bytes());
    mac.update(b"a");
    mac.update(&1u64.to_be_bytes());
    mac.update(b"b");
    assert_eq!(
        session().as_bytes().as_slice(),
        mac.finalize().into_bytes().as_slice()
    );
    assert_ne!(
        session(),
        SessionId::derive(&key(), (&[2; 16], "a"), (&[1; 16], "b"))
    );
}

#[test]
fn open_returns_the_frame_and_its_length() {
    let mut bytes = seal(
        &key(),
        &session(),
        Direction::ServerToClient,
        FrameKind::Hello,
        7,
        b"abc",
    )
    .expect("seal");
    let length = bytes.len();
    bytes.extend_from_slice(b"next frame");
    let (frame, used) = open(&key(), &session(), Direction::ServerToClient, &bytes).expect("open");
    assert_eq!(used, length);
    assert_eq!(
        frame,
        Frame {
            kind: FrameKind::Hello,
            counter: 7,
            payload: b"abc".to_vec()
        }
    );
}

#[test]
fn tag_binds_key_session_and_direction() {
    let bytes = seal(
        &key(),
        &session(),
        Direction::ClientToServer,
        FrameKind::Message,
        1,
        b"x",
    )
    .expect("seal");
    let other_key = PeerKey::from_bytes(&[7; 32]).expect("key");
    let other_session = SessionId::derive(&key(), (&[1; 16], "a"), (&[3; 16], "b"));
    let cases = [
        (&other_key, session(), Direction::ClientToServer),
        (&key(), other_session, Direction::ClientToServer),
        (&key(), session(), Direction::ServerToClient),
    ];
    for (key, session, direction) in cases {
        assert_eq!(
            open(key, &session, direction, &bytes),
            Err(FrameError::BadTag)
        );
    }
}

#[test]
fn every_flipped_bit_after_the_checked_fields_is_a_bad_tag() {
    let bytes = seal(
        &key(),
        &session(),
        Direction::ClientToServer,
        FrameKind::Message,
        1,
        b"hello",
    )
    .expect("seal");
    // Counter, payload and tag are checked by the tag alone.
    for index in 10..bytes.len() {
        for bit in 0..8 {
            let mut flipped = bytes.clone();
            flipped[index] ^= 1 << bit;
            assert_eq!(
                open(&key(), &session(), Direction::ClientToServer, &flipped),
                Err(FrameError::BadTag),
                "byte {index} bit {bit}"
            );
        }
    }
}

fn header_bytes(version: u8, kind: u8, length: u32) -> Vec<u8> {
    let mut bytes = b"TNDM".to_vec();
    bytes.push(version);
    bytes.push(kind);
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes.extend_from_slice(&9u64.to_be_bytes());
    bytes
}

#[test]
fn header_checks_in_order() {
    assert_eq!(
        parse_header(&header_bytes(PROTOCOL_VERSION, 3, 5)),
        Ok(Header {
            version: PROTOCOL_VERSION,
            kind: FrameKind::Message,
            payload_length: 5,
            counter: 9
        })
    );
    let mut bad_magic = header_bytes(PROTOCOL_VERSION, 3, 5);
    bad_magic[0] = b'X';
    assert_eq!(
        parse_header(&bad_magic),
        Err(FrameError::BadMagic { got: *b"XNDM" })
    );
    assert_eq!(
        parse_header(&header_bytes(1, 3, 5)),
        Err(FrameError::UnsupportedVersion { got: 1 })
    );
    assert_eq!(
        parse_header(&header_bytes(
            PROTOCOL_VERSION,
            3,
            MAX_FRAME_PAYLOAD_BYTES + 1
        )),
        Err(FrameError::TooLong {
            len: u64::from(MAX_FRAME_PAYLOAD_BYTES) + 1
        })
    );
    assert_eq!(
        parse_header(&header_bytes(PROTOCOL_VERSION, 3, u32::MAX)),
        Err(FrameError::TooLong {
            len: u64::from(u32::MAX)
        })
    );
    assert!(parse_header(&header_bytes(PROTOCOL_VERSION, 3, MAX_FRAME_PAYLOAD_BYTES)).is_ok());
    assert_eq!(
        parse_header(&header_bytes(PROTOCOL_VERSION, 9, 5)),
        Err(FrameError::UnknownKind { got: 9 })
    );
    assert_eq!(
        parse_header(&header_bytes(PROTOCOL_VERSION, 3, 5)[..17]),
        Err(FrameError::Truncated { have: 17, need: 18 })
    );
}

#[test]
fn split_wants_the_whole_frame() {
    let bytes = header_bytes(PROTOCOL_VERSION, 3, 5);
    assert_eq!(
        split(&bytes).map(|raw| raw.len()),
        Err(FrameError::Truncated {
            have: 18,
            need: 18 + 5 + 32
        })
    );
}

#[test]
fn seal_refuses_an_oversize_payload() {
    let payload = vec![0; MAX_FRAME_PAYLOAD_BYTES as usize + 1];
    assert_eq!(
        seal(
            &key(),
            &session(),
            Direction::ClientToServer,
            FrameKind::Message,
            0,
            &payload
        ),
        Err(FrameError::TooLong {
            len: payload.len() as u64
        })
    );
}

#[test]
fn replay_guard_wants_exactly_the_next_counter() {
    let mut guard = ReplayGuard::expecting(2);
    assert_eq!(guard.accept(2), Ok(()));
    assert_eq!(
        guard.accept(2),
        Err(FrameError::Replay {
            counter: 2,
            last: 2
        })
    );
    assert_eq!(
        guard.accept(0),
        Err(FrameError::Replay {
            counter: 0,
            last: 2
        })
    );
    assert_eq!(
        guard.accept(5),
        Err(FrameError::Gap {
            counter: 5,
            expected: 3
        })
    );
    assert_eq!(guard.accept(3), Ok(()));
}

#[test]
fn short_key_is_refused() {
    let refused = PeerKey::from_bytes(&[1; 31]).expect_err("31 bytes");
    assert!(refused
        .to_string()
        .contains("holds 31 bytes, fewer than 32"));
}
