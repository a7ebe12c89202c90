//! A frame-aware proxy on loopback: it relays each frame through a rule that may drop,
//! duplicate, alter or replace it, and records what it forwarded.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    ToServer,
    ToClient,
}

/// Decides what the proxy forwards for frame number `index` (0-based, per connection and way)
/// of connection `connection`: nothing, the frame, or other bytes.
pub(crate) type Rule = Arc<dyn Fn(usize, Way, usize, Vec<u8>) -> Vec<Vec<u8>> + Send + Sync>;

/// What the proxy forwarded: connection, way, bytes.
pub(crate) type Wire = Arc<Mutex<Vec<(usize, Way, Vec<u8>)>>>;

pub(crate) fn pass_through() -> Rule {
    Arc::new(|_, _, _, frame| vec![frame])
}

/// Listens on loopback and relays to `upstream`, frame by frame, through `rule`.
pub(crate) async fn proxy(upstream: SocketAddr, rule: Rule) -> (SocketAddr, Wire) {
    let (listener, addr) = bind().await;
    let wire: Wire = Arc::default();
    let log = wire.clone();
    tokio::spawn(async move {
        for connection in 0.. {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let server = TcpStream::connect(upstream).await.expect("upstream");
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            let (rule_a, log_a) = (rule.clone(), log.clone());
            let (rule_b, log_b) = (rule.clone(), log.clone());
            tokio::spawn(async move {
                pump(
                    client_read,
                    server_write,
                    connection,
                    Way::ToServer,
                    rule_a,
                    log_a,
                )
                .await
            });
            tokio::spawn(async move {
                pump(
                    server_read,
                    client_write,
                    connection,
                    Way::ToClient,
                    rule_b,
                    log_b,
                )
                .await
            });
        }
    });
    (addr, wire)
}

pub(crate) async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    connection: usize,
    way: Way,
    rule: Rule,
    log: Wire,
) {
    for index in 0.. {
        let mut frame = vec![0u8; HEADER_BYTES];
        if from.read_exact(&mut frame).await.is_err() {
            break;
        }
        let length = u32::from_be_bytes(frame[6..10].try_into().expect("4 bytes"));
        assert!(
            length <= MAX_FRAME_PAYLOAD_BYTES,
            "endpoints send valid frames"
        );
        frame.resize(HEADER_BYTES + length as usize + TAG_BYTES, 0);
        if from.read_exact(&mut frame[HEADER_BYTES..]).await.is_err() {
            break;
        }
        for bytes in rule(connection, way, index, frame) {
            log.lock()
                .expect("log")
                .push((connection, way, bytes.clone()));
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
    }
    let _ = to.shutdown().await;
}

pub(crate) fn sent(wire: &Wire, way: Way) -> usize {
    let wire = wire.lock().expect("wire");
    wire.iter().filter(|(_, w, _)| *w == way).count()
}

/// Client and server through a proxy with `rule`; returns both handshake outcomes.
pub(crate) async fn through_proxy(
    rule: Rule,
    client_key: &PeerKey,
    client: &Identity,
) -> (Result<Session, LinkError>, Result<Session, LinkError>, Wire) {
    let (listener, upstream) = bind().await;
    let server = serve(listener, key(), 1);
    let (addr, wire) = proxy(upstream, rule).await;
    let client = connect(addr, client_key, client).await;
    let server = server.await.expect("join").pop().expect("one outcome");
    (client, server, wire)
}
