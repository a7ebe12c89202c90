//! The metrics endpoint: a deliberately tiny HTTP/1.x server that answers `GET /metrics`
//! and nothing else, one request per connection. Everything is bounded: connections at once,
//! request size, and the time to read a request and to write an answer. A hand-rolled
//! handler of ~150 lines keeps hyper's dependency tree out of a daemon that serves one URL to
//! one scraper (docs/decisions.md).

use crate::metrics::{self, Snapshot};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

/// Scrapers at once: one Prometheus (or two, in an HA pair) and an operator's curl. More are
/// turned away (the connection is closed at once) rather than queued.
pub const MAX_CONNECTIONS: usize = 8;
/// A scrape request is one line plus a few headers; anything longer is not a scraper.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// A client that has not sent its request within this long is dropped.
pub const REQUEST_TIMEOUT_MS: u64 = 2_000;
/// A client that does not take the answer within this long is dropped.
pub const WRITE_TIMEOUT_MS: u64 = 5_000;
/// Pause after a failed `accept()` (e.g. out of file descriptors), so that it does not spin.
const ACCEPT_BACKOFF_MS: u64 = 100;

/// What a request gets: the daemon's latest snapshot and the journal to measure.
#[derive(Clone)]
pub struct Source {
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    /// The journal file; its size is read at each scrape, off the daemon's loop.
    pub journal: PathBuf,
}

/// Binds `address`; a failure is the operator's to fix (port in use, address not local).
pub async fn bind(address: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// Serves scrapes until the process ends.
pub async fn serve(listener: TcpListener, source: Source) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "metrics: accept failed");
                tokio::time::sleep(Duration::from_millis(ACCEPT_BACKOFF_MS)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "metrics: too many connections; closing this one");
            continue;
        };
        let source = source.clone();
        tokio::spawn(async move {
            if let Err(error) = answer(stream, &source).await {
                tracing::debug!(%peer, %error, "metrics: request not answered");
            }
            drop(permit);
        });
    }
}

/// What the request asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// `GET /metrics`; true when the client accepts OpenMetrics.
    Metrics {
        openmetrics: bool,
    },
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

/// Reads the request head (up to the blank line), bounded in size and time.
pub(crate) async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::with_capacity(512);
    let mut buffer = [0u8; 1024];
    let deadline = Duration::from_millis(REQUEST_TIMEOUT_MS);
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
            let n = stream.read(&mut buffer).await?;
            if n == 0 || head.len() + n > MAX_REQUEST_BYTES {
                return Ok(false);
            }
            head.extend_from_slice(&buffer[..n]);
        }
        Ok::<bool, std::io::Error>(true)
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(Ok(true)) => Ok(Some(String::from_utf8_lossy(&head).into_owned())),
        Ok(Ok(false)) | Err(_) => Ok(None),
        Ok(Err(error)) => Err(error),
    }
}

pub(crate) fn parse(head: &str) -> Wanted {
    let mut lines = head.lines();
    let request = lines.next().unwrap_or_default();
    let mut words = request.split(' ');
    let (method, target, version) = (words.next(), words.next(), words.next());
    if !version.is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Wanted::BadRequest;
    }
    if method != Some("GET") {
        return Wanted::MethodNotAllowed;
    }
    let path = target
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default();
    if path != "/metrics" {
        return Wanted::NotFound;
    }
    let openmetrics = lines.any(|line| {
        let lower = line.to_ascii_lowercase();
        lower.starts_with("accept:") && lower.contains("application/openmetrics-text")
    });
    Wanted::Metrics { openmetrics }
}

async fn answer(mut stream: TcpStream, source: &Source) -> std::io::Result<()> {
    let Some(head) = read_head(&mut stream).await? else {
        return respond(
            &mut stream,
            "400 Bad Request",
            "text/plain",
            "bad request\n",
        )
        .await;
    };
    match parse(&head) {
        Wanted::Metrics { openmetrics } => {
            let mut snapshot = Snapshot::clone(&source.snapshot.borrow());
            snapshot.journal_bytes = tokio::fs::metadata(&source.journal)
                .await
                .ok()
                .map(|m| m.len());
            let Ok(text) = metrics::render(&snapshot) else {
                return respond(
                    &mut stream,
                    "500 Internal Server Error",
                    "text/plain",
                    "cannot render\n",
                )
                .await;
            };
            if openmetrics {
                respond(&mut stream, "200 OK", metrics::CONTENT_TYPE, &text).await
            } else {
                let text = metrics::to_classic_text(&text);
                respond(&mut stream, "200 OK", metrics::CLASSIC_CONTENT_TYPE, &text).await
            }
        }
        Wanted::NotFound => {
            respond(
                &mut stream,
                "404 Not Found",
                "text/plain",
                "only /metrics is here\n",
            )
            .await
        }
        Wanted::MethodNotAllowed => {
            respond(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain",
                "only GET\n",
            )
            .await
        }
        Wanted::BadRequest => {
            respond(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                "bad request\n",
            )
            .await
        }
    }
}

pub(crate) async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    match tokio::time::timeout(Duration::from_millis(WRITE_TIMEOUT_MS), write).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "write timed out",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_parsed_strictly() {
        let get = |head: &str| parse(head);
        assert_eq!(
            get("GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0\r\n\r\n"),
            Wanted::Metrics { openmetrics: true }
        );
        assert_eq!(
            get("GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Wanted::Metrics { openmetrics: false }
        );
        assert_eq!(get("GET / HTTP/1.1\r\n\r\n"), Wanted::NotFound);
        assert_eq!(
            get("POST /metrics HTTP/1.1\r\n\r\n"),
            Wanted::MethodNotAllowed
        );
        assert_eq!(get("GET /metrics\r\n\r\n"), Wanted::BadRequest);
    }

    #[tokio::test]
    async fn a_scrape_over_loopback_and_the_bounds() {
        let listener = bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let address = listener.local_addr().expect("addr");
        let snapshot = Snapshot {
            node: "a".into(),
            ..Snapshot::default()
        };
        let (_keep, receiver) = watch::channel(Arc::new(snapshot));
        let journal = PathBuf::from("/nonexistent/journal");
        tokio::spawn(serve(
            listener,
            Source {
                snapshot: receiver,
                journal,
            },
        ));
        let exchange = |request: Vec<u8>| async move {
            let mut stream = TcpStream::connect(address).await.expect("connect");
            stream.write_all(&request).await.expect("send");
            let mut text = String::new();
            // A refused request may be cut off by a reset: then there is no answer to read.
            let _ = stream.read_to_string(&mut text).await;
            text
        };
        let text = exchange(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()).await;
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("text/plain; version=0.0.4"), "{text}");
        assert!(text.contains("tandem_mysqld_up{node=\"a\"} 0"), "{text}");
        assert!(
            !text.contains("journal_size"),
            "no journal file, no series: {text}"
        );
        let openmetrics = b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n\r\n";
        let text = exchange(openmetrics.to_vec()).await;
        assert!(text.contains("application/openmetrics-text"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        let huge = [
            b"GET /metrics HTTP/1.1\r\nX: ".to_vec(),
            vec![b'a'; MAX_REQUEST_BYTES],
        ]
        .concat();
        let text = exchange(huge).await;
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 400"),
            "{text}"
        );

        // Past MAX_CONNECTIONS idle clients, the next connection is closed at once.
        let mut idle = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            idle.push(TcpStream::connect(address).await.expect("connect"));
        }
        // Each idle connection is accepted (its permit taken) before the next is judged.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut refused = TcpStream::connect(address).await.expect("connect");
        let mut rest = Vec::new();
        let read = tokio::time::timeout(
            Duration::from_millis(REQUEST_TIMEOUT_MS / 2),
            refused.read_to_end(&mut rest),
        )
        .await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "not closed at once: {read:?}"
        );
        drop(idle);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let text = exchange(b"GET /metrics HTTP/1.1\r\n\r\n".to_vec()).await;
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n"),
            "served again: {text}"
        );
    }
}
