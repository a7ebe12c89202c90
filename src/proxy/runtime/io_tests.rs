//! `relay_answer` over loopback sockets: the client gets the backend's bytes unchanged, a
//! packet of more than one frame included, and nothing after the answer is consumed.

use super::PacketStream;
use crate::proxy::packet::{frame_into, MAX_FRAME_PAYLOAD_BYTES};
use crate::proxy::response::{Expect, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Two ends of one loopback connection.
async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (connected, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
    (connected.expect("connect"), accepted.expect("accept").0)
}

/// EOF with server status AUTOCOMMIT (2).
const EOF: [u8; 5] = [0xFE, 0, 0, 2, 0];

#[tokio::test]
async fn an_answer_is_relayed_byte_for_byte_and_no_further() {
    // A text resultset: one column, a row of more than one frame (a length-encoded string
    // of 16 MiB - 1 bytes), a small row, then the next answer's OK, which is not relayed.
    let mut big_row = vec![0xFE];
    big_row.extend_from_slice(&(MAX_FRAME_PAYLOAD_BYTES as u64).to_le_bytes());
    big_row.resize(9 + MAX_FRAME_PAYLOAD_BYTES, b'x');
    let packets: [&[u8]; 6] = [
        &[1],
        b"\x03def\x00\x00\x00\x01c\x00",
        &EOF,
        &big_row,
        b"\x01y",
        &EOF,
    ];
    let mut answer = Vec::new();
    let mut seq = 1;
    for payload in packets {
        seq = frame_into(&mut answer, seq, payload);
    }
    let mut next = Vec::new();
    frame_into(&mut next, 1, &[0, 0, 0, 2, 0, 0, 0]);

    let (mut server, backend_end) = pair().await;
    let (client_end, mut client_peer) = pair().await;
    let written = [answer.clone(), next.clone()].concat();
    tokio::spawn(async move {
        server.write_all(&written).await.expect("server writes");
        // Kept open until the test reads the next answer.
        let mut rest = Vec::new();
        let _ = server.read_to_end(&mut rest).await;
    });
    let length = answer.len();
    let reader = tokio::spawn(async move {
        let mut got = vec![0; length];
        client_peer
            .read_exact(&mut got)
            .await
            .expect("client reads");
        got
    });
    let mut backend = PacketStream::new(backend_end);
    let mut client = PacketStream::new(client_end);
    let mut response = Response::new(Expect::Results);
    let outcome = backend
        .relay_answer(&mut client, &mut response)
        .await
        .expect("relayed");
    assert_eq!(outcome.status, Some(2));
    assert_eq!(outcome.error, None);
    assert_eq!(client.packets_sent(), 6);
    let got = reader.await.expect("reader");
    assert!(
        got == answer,
        "the client got other bytes than the server sent"
    );
    let after = backend.read().await.expect("the next answer");
    assert_eq!((after.seq, after.payload), (1, vec![0, 0, 0, 2, 0, 0, 0]));
}
