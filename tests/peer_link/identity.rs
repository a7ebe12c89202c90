//! Node names in HELLO: a node refuses a HELLO from itself, from a node that is not its peer,
//! or meant for another node, on the server and on the client side, and says which.

use super::*;
use tandem::peer::frame::FrameKind;
use tandem::peer::hello::MAX_NODE_NAME_BYTES;

#[tokio::test]
async fn a_node_dialling_its_own_listener_is_refused_as_a_self_connection() {
    // Node a's listener gets a HELLO signed with a's own key, from a, meant for its peer b:
    // what a misconfigured peer address, or someone reflecting a's connection, produces.
    let (listener, upstream) = bind().await;
    let server = serve_as(listener, key(), as_a(), 1);
    let (addr, wire) = proxy(upstream, pass_through()).await;
    let client = connect(addr, &key(), &as_a()).await;
    let server = server.await.expect("join").pop().expect("one outcome");
    match server {
        Err(LinkError::SelfConnection { ref name }) if name == A => {}
        other => panic!("expected SelfConnection, got {other:?}"),
    }
    let refused = server.expect_err("refused");
    assert!(
        refused.to_string().contains("comes from this node itself"),
        "{refused}"
    );
    assert_eq!(refused.reason(), "self-connection");
    assert_closed_during_handshake(client);
    assert_eq!(sent(&wire, Way::ToClient), 0, "not a byte back");
}

#[tokio::test]
async fn hello_from_a_node_that_is_not_the_peer_is_refused() {
    let (client, server, wire) =
        through_proxy(pass_through(), &key(), &identity(CLUSTER, "c", B)).await;
    match server {
        Err(LinkError::WrongPeer { expected, got }) => {
            assert_eq!((expected.as_str(), got.as_str()), (A, "c"));
        }
        other => panic!("expected WrongPeer, got {other:?}"),
    }
    assert_closed_during_handshake(client);
    assert_eq!(sent(&wire, Way::ToClient), 0);
}

#[tokio::test]
async fn hello_meant_for_another_node_is_refused() {
    let (client, server, wire) =
        through_proxy(pass_through(), &key(), &identity(CLUSTER, A, "c")).await;
    match server {
        Err(LinkError::WrongReceiver { expected, got }) => {
            assert_eq!((expected.as_str(), got.as_str()), (B, "c"));
        }
        other => panic!("expected WrongReceiver, got {other:?}"),
    }
    assert_closed_during_handshake(client);
    assert_eq!(sent(&wire, Way::ToClient), 0);
}

/// A server that holds the key answers any HELLO with a HELLO of its own from `sender` to
/// `receiver`, sealed correctly for the names it claims.
async fn answering_server(sender: &'static str, receiver: &'static str) -> SocketAddr {
    let (listener, addr) = bind().await;
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut header = vec![0u8; HEADER_BYTES];
        stream.read_exact(&mut header).await.expect("header");
        let length = u32::from_be_bytes(header[6..10].try_into().expect("4 bytes"));
        let mut rest = vec![0u8; length as usize + TAG_BYTES];
        stream.read_exact(&mut rest).await.expect("rest");
        header.extend_from_slice(&rest);
        let raw = frame::split(&header).expect("frame");
        let client_hello = Hello::decode(raw.payload()).expect("hello");
        let hello = Hello {
            nonce: [7; 16],
            instance: [8; 16],
            cluster: CLUSTER.into(),
            sender: sender.into(),
            receiver: receiver.into(),
        };
        let session = SessionId::derive(
            &key(),
            (&client_hello.nonce, &client_hello.sender),
            (&hello.nonce, sender),
        );
        let payload = hello.encode().expect("encode");
        let bytes = frame::seal(
            &key(),
            &session,
            Direction::ServerToClient,
            FrameKind::Hello,
            0,
            &payload,
        )
        .expect("seal");
        stream.write_all(&bytes).await.expect("write");
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
    });
    addr
}

#[tokio::test]
async fn client_refuses_a_server_that_is_not_its_peer_or_is_itself() {
    let addr = answering_server("c", A).await;
    match connect(addr, &key(), &as_a()).await {
        Err(LinkError::WrongPeer { expected, got }) => {
            assert_eq!((expected.as_str(), got.as_str()), (B, "c"));
        }
        other => panic!("expected WrongPeer, got {other:?}"),
    }
    let addr = answering_server(B, "c").await;
    assert!(matches!(
        connect(addr, &key(), &as_a()).await,
        Err(LinkError::WrongReceiver { .. })
    ));
    let addr = answering_server(A, A).await;
    assert!(matches!(
        connect(addr, &key(), &as_a()).await,
        Err(LinkError::SelfConnection { .. })
    ));
    // The same server answering correctly is accepted: the refusals above are the names'.
    let addr = answering_server(B, A).await;
    connect(addr, &key(), &as_a()).await.expect("b answering a");
}

fn node_name() -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!(
        "[a-z0-9][a-z0-9.-]{{0,{}}}",
        MAX_NODE_NAME_BYTES - 1
    ))
    .expect("regex")
}

proptest! {
    /// Any HELLO with valid names decodes to itself.
    #[test]
    fn hello_round_trips(
        nonce in any::<[u8; 16]>(),
        instance in any::<[u8; 16]>(),
        cluster in "[A-Za-z0-9_-]{1,64}",
        sender in node_name(),
        receiver in node_name(),
    ) {
        let hello = Hello { nonce, instance, cluster, sender, receiver };
        let bytes = hello.encode().expect("valid names encode");
        prop_assert_eq!(Hello::decode(&bytes), Ok(hello));
    }

    /// A valid HELLO with one byte changed, or cut short, is refused or decodes to a HELLO
    /// that encodes back to exactly those bytes: one encoding per HELLO, and never a panic.
    #[test]
    fn altered_hello_is_refused_or_canonical(
        sender in node_name(),
        receiver in node_name(),
        index in any::<proptest::sample::Index>(),
        value in any::<u8>(),
        cut in any::<bool>(),
    ) {
        let hello = Hello {
            nonce: [1; 16],
            instance: [2; 16],
            cluster: CLUSTER.into(),
            sender,
            receiver,
        };
        let mut bytes = hello.encode().expect("encode");
        let at = index.index(bytes.len());
        if cut {
            bytes.truncate(at);
        } else {
            bytes[at] = value;
        }
        if let Ok(decoded) = Hello::decode(&bytes) {
            prop_assert_eq!(decoded.encode().expect("re-encode"), bytes);
        }
    }
}
