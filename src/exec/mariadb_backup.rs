//! mariadb-backup and mbstream: the sending side streams `mariadb-backup --backup
//! --stream=xbstream` of the local server over TCP in frames (crate::replica::seed); the
//! receiving side unpacks the frames through `mbstream -x` into a datadir and prepares it.
//! Every wait is bounded: a stalled stream, a receiver that never answers, a prepare that
//! never ends.

use crate::replica::seed::{SeedReply, MAX_FRAME_BYTES, STREAM_HEADER};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::time::timeout;

/// Connecting to the receiver: it already listens when the operator runs `add`.
pub const CONNECT_TIMEOUT_MS: u64 = 5_000;
/// No byte moved for this long, in either direction, while streaming: the other side is
/// gone. mariadb-backup writes continuously, even while it waits for its short lock.
pub const STREAM_STALL_TIMEOUT_MS: u64 = 300_000;
/// After the stream, the receiver prepares the copy and sets the GTID position before it
/// answers; preparing replays the redo log written during the copy, bounded by this.
pub const RECEIVER_REPLY_TIMEOUT_MS: u64 = 3_600_000;
/// `mariadb-backup --prepare` on the receiver.
pub const PREPARE_TIMEOUT_MS: u64 = 3_000_000;
/// Each read from the backup's stdout, and the size of each frame.
const CHUNK_BYTES: usize = 64 * 1024;
/// The reply is one short line.
const MAX_REPLY_BYTES: u64 = 4096;
/// Enough of mariadb-backup's stderr to show why it failed.
const KEPT_STDERR_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedIoError {
    #[error("cannot connect to the receiver at {address}: {error}; is `tandem replica receive` running there?")]
    Connect { address: String, error: String },
    #[error("cannot run {tool}: {error}")]
    Spawn { tool: String, error: String },
    #[error("{tool} failed with exit code {code:?}: {stderr}")]
    Tool {
        tool: String,
        code: Option<i32>,
        stderr: String,
    },
    #[error("the stream broke: {0}")]
    Stream(String),
    #[error("{what} did not finish within {timeout_ms} ms")]
    Timeout { what: String, timeout_ms: u64 },
}

fn stream_error(e: impl std::fmt::Display) -> SeedIoError {
    SeedIoError::Stream(e.to_string())
}

async fn stalled<T, F>(what: &str, f: F) -> Result<T, SeedIoError>
where
    F: std::future::Future<Output = std::io::Result<T>>,
{
    match timeout(Duration::from_millis(STREAM_STALL_TIMEOUT_MS), f).await {
        Ok(result) => result.map_err(stream_error),
        Err(_) => Err(SeedIoError::Timeout {
            what: what.to_string(),
            timeout_ms: STREAM_STALL_TIMEOUT_MS,
        }),
    }
}

/// Streams a backup of the server on `socket` (as `user`, over the socket) to the receiver
/// at `address`, and returns its answer. A failed backup never sends the end mark, so the
/// receiver prepares nothing.
pub async fn send_backup(
    binary: &str,
    socket: &Path,
    user: &str,
    address: &str,
) -> Result<SeedReply, SeedIoError> {
    let connect = timeout(
        Duration::from_millis(CONNECT_TIMEOUT_MS),
        TcpStream::connect(address),
    );
    let mut tcp = match connect.await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            return Err(SeedIoError::Connect {
                address: address.to_string(),
                error: e.to_string(),
            })
        }
        Err(_) => {
            return Err(SeedIoError::Connect {
                address: address.to_string(),
                error: format!("no answer within {CONNECT_TIMEOUT_MS} ms"),
            })
        }
    };
    let mut child = Command::new(binary)
        .arg("--backup")
        .arg("--stream=xbstream")
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--user={user}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| SeedIoError::Spawn {
            tool: binary.to_string(),
            error: e.to_string(),
        })?;
    let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(stream_error("the backup's output pipes are missing"));
    };
    let stderr_task = tokio::spawn(keep_tail(stderr));
    stalled(
        "sending the header",
        tcp.write_all(STREAM_HEADER.as_bytes()),
    )
    .await?;
    let sent = send_frames(&mut stdout, &mut tcp).await;
    if sent.is_err() {
        // The receiver is gone: the backup would block on its full pipe until the stall
        // timeout.
        let _ = child.start_kill();
    }
    let status = stalled("mariadb-backup's exit", child.wait()).await?;
    let stderr = stderr_task.await.unwrap_or_default();
    sent?;
    if !status.success() {
        return Err(SeedIoError::Tool {
            tool: binary.to_string(),
            code: status.code(),
            stderr,
        });
    }
    stalled("sending the end mark", tcp.write_all(&0u32.to_be_bytes())).await?;
    stalled("closing the stream", tcp.shutdown()).await?;
    read_reply(tcp).await
}

async fn send_frames(
    from: &mut (impl AsyncRead + Unpin),
    to: &mut (impl AsyncWrite + Unpin),
) -> Result<u64, SeedIoError> {
    let mut buffer = vec![0u8; CHUNK_BYTES];
    let mut total = 0u64;
    loop {
        let n = stalled("reading the backup", from.read(&mut buffer)).await?;
        if n == 0 {
            return Ok(total);
        }
        let length = u32::try_from(n).map_err(stream_error)?;
        stalled("sending", to.write_all(&length.to_be_bytes())).await?;
        stalled("sending", to.write_all(&buffer[..n])).await?;
        total += n as u64;
    }
}

async fn read_reply(tcp: TcpStream) -> Result<SeedReply, SeedIoError> {
    let mut line = String::new();
    let mut reader = BufReader::new(tcp).take(MAX_REPLY_BYTES);
    let bound = Duration::from_millis(RECEIVER_REPLY_TIMEOUT_MS);
    match timeout(bound, reader.read_line(&mut line)).await {
        Ok(Ok(_)) => Ok(SeedReply::parse(&line)),
        Ok(Err(e)) => Err(stream_error(e)),
        Err(_) => Err(SeedIoError::Timeout {
            what: "the receiver's answer".into(),
            timeout_ms: RECEIVER_REPLY_TIMEOUT_MS,
        }),
    }
}

async fn keep_tail(mut stderr: impl AsyncRead + Unpin) -> String {
    let mut all = Vec::new();
    let _ = stderr.read_to_end(&mut all).await;
    let start = all.len().saturating_sub(KEPT_STDERR_BYTES);
    String::from_utf8_lossy(&all[start..]).trim().to_string()
}

/// Reads the header and the frames from `tcp` into `mbstream -x -C datadir`; `Ok` only when
/// the end mark arrived and mbstream succeeded. Returns the bytes received.
pub async fn receive_into(tcp: &mut TcpStream, datadir: &Path) -> Result<u64, SeedIoError> {
    let mut header = vec![0u8; STREAM_HEADER.len()];
    stalled("reading the header", tcp.read_exact(&mut header)).await?;
    if header != STREAM_HEADER.as_bytes() {
        return Err(stream_error(
            "the sender did not speak tandem's seed protocol; nothing was written",
        ));
    }
    let mut child = Command::new("mbstream")
        .arg("-x")
        .arg("-C")
        .arg(datadir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| SeedIoError::Spawn {
            tool: "mbstream".into(),
            error: e.to_string(),
        })?;
    let (Some(mut stdin), Some(stderr)) = (child.stdin.take(), child.stderr.take()) else {
        return Err(stream_error("mbstream's pipes are missing"));
    };
    let stderr_task = tokio::spawn(keep_tail(stderr));
    let received = receive_frames(tcp, &mut stdin).await;
    drop(stdin);
    let status = stalled("mbstream's exit", child.wait()).await?;
    let stderr = stderr_task.await.unwrap_or_default();
    let received = received?;
    if !status.success() {
        return Err(SeedIoError::Tool {
            tool: "mbstream".into(),
            code: status.code(),
            stderr,
        });
    }
    Ok(received)
}

async fn receive_frames(
    tcp: &mut TcpStream,
    to: &mut (impl AsyncWrite + Unpin),
) -> Result<u64, SeedIoError> {
    let mut buffer = Vec::new();
    let mut total = 0u64;
    let ended = "the stream ended before the sender's end mark: the backup failed or the \
                 sender died on the active node";
    loop {
        let mut length = [0u8; 4];
        stalled("receiving", tcp.read_exact(&mut length))
            .await
            .map_err(|_| stream_error(ended))?;
        let length = u32::from_be_bytes(length);
        if length == 0 {
            return Ok(total);
        }
        if length > MAX_FRAME_BYTES {
            return Err(stream_error(format!(
                "a frame of {length} bytes is over the limit of {MAX_FRAME_BYTES}"
            )));
        }
        buffer.resize(length as usize, 0);
        stalled("receiving", tcp.read_exact(&mut buffer))
            .await
            .map_err(|_| stream_error(ended))?;
        stalled("writing to mbstream", to.write_all(&buffer)).await?;
        total += u64::from(length);
    }
}

/// `mariadb-backup --prepare --target-dir DATADIR`: applies the redo log written during the
/// copy, so that the datadir is consistent at the backup's binlog position.
pub async fn prepare(binary: &str, datadir: &Path) -> Result<(), SeedIoError> {
    let target = format!("--target-dir={}", datadir.display());
    let bound = Duration::from_millis(PREPARE_TIMEOUT_MS);
    super::tool::run_ok(binary, &["--prepare", &target], bound)
        .await
        .map(|_| ())
        .map_err(|e| SeedIoError::Tool {
            tool: format!("{binary} --prepare"),
            code: None,
            stderr: e.to_string(),
        })
}
