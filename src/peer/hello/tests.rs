//! The HELLO layout, byte by byte, and its refusals.

use super::*;

fn hello() -> Hello {
    Hello {
        nonce: [0xaa; 16],
        instance: [0xbb; 16],
        cluster: "prod-db".into(),
        sender: "db-a".into(),
        receiver: "db-b2".into(),
    }
}

#[test]
fn hello_has_the_documented_layout_and_round_trips() {
    let bytes = hello().encode().expect("encode");
    let mut expected = vec![0xaa; 16];
    expected.extend_from_slice(&[0xbb; 16]);
    expected.push(7);
    expected.extend_from_slice(b"prod-db");
    expected.push(4);
    expected.extend_from_slice(b"db-a");
    expected.push(5);
    expected.extend_from_slice(b"db-b2");
    assert_eq!(bytes, expected);
    assert_eq!(Hello::decode(&bytes), Ok(hello()));
}

#[test]
fn trailing_or_missing_bytes_are_refused() {
    let bytes = hello().encode().expect("encode");
    let mut long = bytes.clone();
    long.push(b'x');
    assert_eq!(
        Hello::decode(&long),
        Err(HelloError::WrongLength {
            have: bytes.len() + 1,
            need: bytes.len()
        })
    );
    for cut in 0..bytes.len() {
        assert!(
            matches!(
                Hello::decode(&bytes[..cut]),
                Err(HelloError::WrongLength { .. })
            ),
            "cut at {cut}"
        );
    }
    // The version 1 layout (nonce and cluster only) is refused, not misread.
    let mut version_1 = vec![0xaa; 16];
    version_1.push(7);
    version_1.extend_from_slice(b"prod-db");
    assert!(matches!(
        Hello::decode(&version_1),
        Err(HelloError::WrongLength { .. } | HelloError::BadNameLength { .. })
    ));
}

#[test]
fn empty_and_overlong_names_are_refused() {
    let bytes = hello().encode().expect("encode");
    let mut empty_sender = bytes.clone();
    empty_sender[40] = 0; // nonce 16, instance 16, cluster 1 + 7

    assert_eq!(
        Hello::decode(&empty_sender),
        Err(HelloError::BadNameLength {
            field: HelloField::Sender,
            length_bytes: 0
        })
    );
    let long_cluster = Hello {
        cluster: "x".repeat(65),
        ..hello()
    };
    assert_eq!(
        long_cluster.encode(),
        Err(HelloError::BadNameLength {
            field: HelloField::Cluster,
            length_bytes: 65
        })
    );
    let longest_host = Hello {
        receiver: "h".repeat(MAX_NODE_NAME_BYTES),
        ..hello()
    };
    let encoded = longest_host.encode().expect("253 bytes fit");
    assert_eq!(Hello::decode(&encoded), Ok(longest_host));
    let long_receiver = Hello {
        receiver: "h".repeat(254),
        ..hello()
    };
    let refused = long_receiver.encode().expect_err("254 bytes");
    assert_eq!(
        refused.to_string(),
        "receiver node name is 254 bytes; it must be 1 to 253"
    );
}

#[test]
fn names_that_are_not_utf8_are_refused() {
    let mut bytes = hello().encode().expect("encode");
    let last = bytes.len() - 1;
    bytes[last] = 0xff;
    assert_eq!(
        Hello::decode(&bytes),
        Err(HelloError::NotUtf8 {
            field: HelloField::Receiver
        })
    );
}
