//! The control socket server. Each accepted connection is checked (root only), read (one
//! bounded line), handed to the daemon loop with a reply channel, and answered.

use super::{ControlRequest, ControlResponse, MAX_LINE_BYTES};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// More concurrent operators than this is a runaway script; the rest wait in the backlog.
pub const MAX_CONNECTIONS: usize = 16;

/// A client gets this long to send its request line.
const READ_TIMEOUT_MS: u64 = 5_000;

/// The longest a request may wait for the daemon: a fence-peer helper waits for the peer's
/// answer, bounded by the peer timeout; a switchover `--wait` polls instead.
const ANSWER_TIMEOUT_MS: u64 = 60_000;

/// A request and where its answer goes.
pub type Envelope = (ControlRequest, oneshot::Sender<ControlResponse>);

/// Binds the socket (replacing a stale one), mode 0600.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Accepts connections forever, forwarding requests into `tx`.
pub async fn serve(listener: UnixListener, tx: mpsc::Sender<Envelope>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, tx).await {
                tracing::debug!(error = %e, "control connection ended");
            }
            drop(permit);
        });
    }
}

async fn handle(stream: UnixStream, tx: mpsc::Sender<Envelope>) -> std::io::Result<()> {
    let uid = stream.peer_cred()?.uid();
    let (read, mut write) = stream.into_split();
    let response = if uid != 0 {
        ControlResponse::Error(format!(
            "refused: only root may control tandem (you are uid {uid}); use sudo"
        ))
    } else {
        match read_request(read).await {
            Ok(request) => ask_daemon(request, &tx).await,
            Err(e) => ControlResponse::Error(e),
        }
    };
    let mut line = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    write.shutdown().await
}

async fn read_request(read: tokio::net::unix::OwnedReadHalf) -> Result<ControlRequest, String> {
    let mut reader = BufReader::new(read.take(MAX_LINE_BYTES as u64 + 1));
    let mut line = String::new();
    let read = tokio::time::timeout(
        Duration::from_millis(READ_TIMEOUT_MS),
        reader.read_line(&mut line),
    )
    .await;
    match read {
        Err(_) => Err("no request line within the read timeout".into()),
        Ok(Err(e)) => Err(format!("cannot read the request: {e}")),
        Ok(Ok(_)) if line.len() > MAX_LINE_BYTES => Err("request line too long".into()),
        Ok(Ok(_)) => serde_json::from_str(line.trim())
            .map_err(|e| format!("malformed request (is tandem the same version?): {e}")),
    }
}

async fn ask_daemon(request: ControlRequest, tx: &mpsc::Sender<Envelope>) -> ControlResponse {
    let (answer_tx, answer_rx) = oneshot::channel();
    if tx.send((request, answer_tx)).await.is_err() {
        return ControlResponse::Error("tandemd is shutting down".into());
    }
    match tokio::time::timeout(Duration::from_millis(ANSWER_TIMEOUT_MS), answer_rx).await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => ControlResponse::Error("tandemd dropped the request".into()),
        Err(_) => ControlResponse::Error("tandemd did not answer in time".into()),
    }
}
