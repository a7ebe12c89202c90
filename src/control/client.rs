//! The control socket client, used by `tandem`.

use super::{ControlRequest, ControlResponse, MAX_LINE_BYTES};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot reach tandemd at {path}: {error}; is tandemd running on this node?")]
    Connect { path: String, error: String },
    #[error("tandemd did not answer within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    #[error("talking to tandemd failed: {0}")]
    Io(String),
    #[error("tandemd's answer is not understood (is tandem the same version?): {0}")]
    Malformed(String),
}

/// Sends one request and waits for its answer.
pub async fn request(
    path: &Path,
    request: &ControlRequest,
    timeout: Duration,
) -> Result<ControlResponse, ControlError> {
    let exchange = async {
        let mut stream = UnixStream::connect(path)
            .await
            .map_err(|e| ControlError::Connect {
                path: path.display().to_string(),
                error: e.to_string(),
            })?;
        let mut line = serde_json::to_vec(request).map_err(|e| ControlError::Io(e.to_string()))?;
        line.push(b'\n');
        stream
            .write_all(&line)
            .await
            .map_err(|e| ControlError::Io(e.to_string()))?;
        let mut reader = BufReader::new(stream.take(MAX_LINE_BYTES as u64 * 16));
        let mut answer = String::new();
        reader
            .read_line(&mut answer)
            .await
            .map_err(|e| ControlError::Io(e.to_string()))?;
        serde_json::from_str(answer.trim()).map_err(|e| ControlError::Malformed(e.to_string()))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ControlError::Timeout {
            timeout_ms: timeout.as_millis() as u64,
        })?
}
