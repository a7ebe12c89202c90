//! A minimal QMP client: qemu's monitor protocol over the guest's unix socket, used to pull a
//! virtual network cable (`set_link`) from the hypervisor side, as a switch failure would.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// qemu answers in microseconds; a monitor silent for this long is wedged.
const QMP_TIMEOUT_MS: u64 = 10_000;

/// Runs one QMP command and returns its `return` value, or the error text.
pub fn execute(socket: &Path, command: serde_json::Value) -> Result<serde_json::Value, String> {
    let describe = |e: std::io::Error| format!("QMP {}: {e}", socket.display());
    let stream = UnixStream::connect(socket).map_err(describe)?;
    stream
        .set_read_timeout(Some(Duration::from_millis(QMP_TIMEOUT_MS)))
        .map_err(describe)?;
    let mut writer = stream.try_clone().map_err(describe)?;
    let mut reader = BufReader::new(stream);
    read_reply(&mut reader)?; // the greeting
    for request in [serde_json::json!({"execute": "qmp_capabilities"}), command] {
        writeln!(writer, "{request}").map_err(describe)?;
        let reply = read_reply(&mut reader)?;
        if let Some(error) = reply.get("error") {
            return Err(format!("QMP {request} failed: {error}"));
        }
        if request["execute"] != "qmp_capabilities" {
            return Ok(reply["return"].clone());
        }
    }
    Err("QMP: no reply".into())
}

/// The next line that is not an asynchronous event.
fn read_reply(reader: &mut impl BufRead) -> Result<serde_json::Value, String> {
    loop {
        let mut line = String::new();
        let read = reader
            .read_line(&mut line)
            .map_err(|e| format!("QMP read: {e}"))?;
        if read == 0 {
            return Err("QMP: qemu closed the monitor".into());
        }
        let value: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("QMP reply {line:?}: {e}"))?;
        if value.get("event").is_none() {
            return Ok(value);
        }
    }
}

/// Sets the link of netdev `name` up or down: the guest sees its carrier come and go.
pub fn set_link(socket: &Path, name: &str, up: bool) -> Result<(), String> {
    execute(
        socket,
        serde_json::json!({"execute": "set_link", "arguments": {"name": name, "up": up}}),
    )
    .map(drop)
}
