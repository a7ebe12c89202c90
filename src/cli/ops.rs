//! The operator commands that talk to the local tandemd over the control socket: status,
//! promote, demote, switchover, pause, resume, history, and `helper` for DRBD's handlers.

use super::json::{ErrorJson, ErrorKind, StatusJson};
use crate::config::Config;
use crate::control::client::{request, ControlError};
use crate::control::{ControlRequest, ControlResponse};
use crate::core::{Reply, Request};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Operator requests are answered at once (the core replies synchronously).
const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// A helper call (fence-peer) waits this long for tandemd's answer, then the shim answers
/// its fallback: as long as a hung power-fence command may take (exec::fence).
pub const HELPER_TIMEOUT_MS: u64 = 60_000;
/// `switchover --wait` gives up after the config's mysqld stop and start timeouts plus this
/// margin (peer timeout, umount, mount, VIP, polling), or after [`WAIT_FALLBACK_TIMEOUT_MS`]
/// when the config cannot be read.
const WAIT_MARGIN_MS: u64 = 30_000;
const WAIT_FALLBACK_TIMEOUT_MS: u64 = 180_000;
const WAIT_POLL_MS: u64 = 200;

/// Where the daemon listens: from the config, else the default.
pub fn socket_path(config_path: &Path) -> PathBuf {
    Config::control_socket_of(config_path)
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

pub(crate) fn ask(
    socket: &Path,
    req: ControlRequest,
    timeout_ms: u64,
) -> Result<ControlResponse, String> {
    let runtime = runtime()?;
    runtime
        .block_on(request(socket, &req, Duration::from_millis(timeout_ms)))
        .map_err(|e: ControlError| e.to_string())
}

/// Like [`ask`], with the failure's kind kept for `--json` (cli/json.rs).
fn ask_json(
    socket: &Path,
    req: ControlRequest,
    timeout_ms: u64,
) -> Result<ControlResponse, ErrorJson> {
    let runtime = runtime().map_err(|e| ErrorJson::new(ErrorKind::Failed, e))?;
    match runtime.block_on(request(socket, &req, Duration::from_millis(timeout_ms))) {
        Ok(ControlResponse::Error(message)) => Err(ErrorJson::new(ErrorKind::Daemon, message)),
        Ok(response) => Ok(response),
        Err(error) => Err(ErrorJson::new((&error).into(), error.to_string())),
    }
}

/// Prints a `--json` command's document, or its error object, on stdout: exit 0 or 1.
fn print_json(result: Result<String, ErrorJson>) -> ExitCode {
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("{}", error.line());
            ExitCode::FAILURE
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ErrorJson> {
    serde_json::to_string_pretty(value)
        .map_err(|e| ErrorJson::new(ErrorKind::Failed, e.to_string()))
}

/// `tandem status [--json]`; `--json` prints cli/json.rs's [`StatusJson`].
pub fn status(config_path: &Path, json: bool) -> Result<ExitCode, String> {
    let socket = socket_path(config_path);
    if json {
        let answer = ask_json(&socket, ControlRequest::Status, REQUEST_TIMEOUT_MS);
        return Ok(print_json(answer.and_then(|response| match response {
            ControlResponse::Status(status) => to_json(&StatusJson::new(&status)),
            other => Err(ErrorJson::new(ErrorKind::Protocol, unexpected(other))),
        })));
    }
    match ask(&socket, ControlRequest::Status, REQUEST_TIMEOUT_MS)? {
        ControlResponse::Status(status) => {
            print!("{}", super::status_view::render(&status));
            Ok(ExitCode::SUCCESS)
        }
        other => Err(unexpected(other)),
    }
}

/// Sends one core request and prints the reply; exit 0 accepted, 3 refused.
pub fn core_request(config_path: &Path, req: Request) -> Result<ExitCode, String> {
    let socket = socket_path(config_path);
    match ask(&socket, ControlRequest::Core(req), REQUEST_TIMEOUT_MS)? {
        ControlResponse::Reply(Reply::Accepted(text)) => {
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        ControlResponse::Reply(Reply::Refused(text)) => {
            eprintln!("{text}");
            Ok(ExitCode::from(3))
        }
        other => Err(unexpected(other)),
    }
}

/// `tandem promote [--force [--yes]]`: a forced promote is confirmed first (cli/confirm.rs).
pub fn promote(config_path: &Path, force: bool, yes: bool) -> Result<ExitCode, String> {
    if force && !yes {
        let socket = socket_path(config_path);
        let status = match ask(&socket, ControlRequest::Status, REQUEST_TIMEOUT_MS) {
            Ok(ControlResponse::Status(status)) => Some(status),
            _ => None,
        };
        let risks = super::confirm::forced_promote_risks(status.as_deref());
        if !super::confirm::confirm_forced_promote(&risks)? {
            eprintln!("not promoting");
            return Ok(ExitCode::from(3));
        }
    }
    core_request(config_path, Request::Promote { force })
}

pub fn switchover(
    config_path: &Path,
    to: &str,
    force: bool,
    wait: bool,
) -> Result<ExitCode, String> {
    if !force {
        if !std::io::stdin().is_terminal() {
            return Err(format!(
                "switchover to {to} needs confirmation; add --force to confirm in a script"
            ));
        }
        eprint!("Switch the service over to {to}? Clients see a short write gap. [y/N] ");
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| e.to_string())?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("not switching over");
            return Ok(ExitCode::from(3));
        }
    }
    let code = core_request(config_path, Request::Switchover { to: to.to_string() })?;
    if code != ExitCode::SUCCESS || !wait {
        return Ok(code);
    }
    wait_until_active(config_path, to)?;
    status(config_path, false)
}

/// How long a switchover may take with this config: stopping mysqld on one node, starting
/// it on the other, and the rest.
pub fn wait_timeout_ms(config_path: &Path) -> u64 {
    match Config::load(config_path) {
        Ok(config) => {
            let mysqld = &config.mysqld;
            mysqld.stop_timeout_ms.get_ref()
                + mysqld.start_timeout_ms.get_ref()
                + config.timings.peer_timeout_ms.get_ref()
                + WAIT_MARGIN_MS
        }
        Err(_) => WAIT_FALLBACK_TIMEOUT_MS,
    }
}

fn wait_until_active(config_path: &Path, node: &str) -> Result<(), String> {
    let socket = socket_path(config_path);
    let started = Instant::now();
    let timeout_ms = wait_timeout_ms(config_path);
    let mut shown = String::new();
    while started.elapsed() < Duration::from_millis(timeout_ms) {
        if let ControlResponse::Status(s) =
            ask(&socket, ControlRequest::Status, REQUEST_TIMEOUT_MS)?
        {
            // The steps as they happen: a line whenever this node's layers, its step in
            // flight, the peer's state or the decision's sentence change.
            let line = progress_line(&s);
            if line != shown {
                println!("  +{:>6} ms  {line}", started.elapsed().as_millis());
                shown = line;
            }
            let local_active = s.local.services.iter().all(|(_, up)| *up);
            let done = if s.local.node == node {
                local_active
            } else {
                s.peer.as_ref().is_some_and(|p| p.active) && !local_active
            };
            if done {
                println!(
                    "{node} is active after {} ms",
                    started.elapsed().as_millis()
                );
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(WAIT_POLL_MS));
    }
    Err(format!(
        "{node} did not become active within {timeout_ms} ms (mysqld stop_timeout_ms + \
         start_timeout_ms + peer_timeout_ms + {WAIT_MARGIN_MS} ms); see `tandem status`"
    ))
}

/// One line of `switchover --wait`'s progress: this node's layers and step in flight, the
/// peer's state, and the current decision's sentence.
pub fn progress_line(s: &crate::control::ClusterStatus) -> String {
    let layers: Vec<String> = s
        .local
        .services
        .iter()
        .map(|(name, up)| format!("{} {}", name.to_lowercase(), if *up { "✓" } else { "·" }))
        .collect();
    let step = s
        .local
        .in_flight
        .as_deref()
        .map(|step| format!(", running {step}"))
        .unwrap_or_default();
    let peer = match &s.peer {
        Some(p) if p.active => "active",
        Some(p) if p.busy => "busy",
        Some(_) => "standby",
        None => "not heard",
    };
    format!(
        "{}: {}{step}; {}: {peer}; {}",
        s.local.node,
        layers.join(" "),
        s.local.peer,
        s.local.reason
    )
}

/// `tandem history [--json]`: the newest `limit` journal records, oldest first. With
/// `--json`, one JSON array of `{unix_ms, time, event, unwritten}` objects.
pub fn history(config_path: &Path, limit: usize, json: bool) -> Result<ExitCode, String> {
    let socket = socket_path(config_path);
    let req = ControlRequest::History { limit };
    if json {
        let answer = ask_json(&socket, req, REQUEST_TIMEOUT_MS);
        return Ok(print_json(answer.and_then(|response| match response {
            ControlResponse::History(lines) => {
                let records: Vec<serde_json::Value> = lines
                    .iter()
                    .map(|line| {
                        serde_json::json!({
                            "unix_ms": line.unix_ms,
                            "time": format_unix_ms(line.unix_ms),
                            "event": line.event,
                            "unwritten": line.unwritten,
                        })
                    })
                    .collect();
                to_json(&records)
            }
            other => Err(ErrorJson::new(ErrorKind::Protocol, unexpected(other))),
        })));
    }
    match ask(&socket, req, REQUEST_TIMEOUT_MS)? {
        ControlResponse::History(lines) => {
            for line in lines {
                let unwritten = match line.unwritten {
                    true => " [NOT WRITTEN to the journal file: a restart will forget it]",
                    false => "",
                };
                println!(
                    "{} {:?}{unwritten}",
                    format_unix_ms(line.unix_ms),
                    line.event
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Err(unexpected(other)),
    }
}

/// `tandem helper NAME`, run by DRBD through kernel-helpers/: relays the call to tandemd and
/// exits with its answer. If tandemd cannot be reached, fence-peer answers 1 (nothing is
/// proven: DRBD refuses a promote, a Primary keeps its peer's disk unknown). Never 5: DRBD
/// 8.4 reads 5 as "peer dead" and promotes (docs/decisions.md). Other handlers answer 0.
pub fn helper(config_path: &Path, name: &str) -> ExitCode {
    let resource = std::env::var("DRBD_RESOURCE").unwrap_or_default();
    helper_via(&socket_path(config_path), name, &resource)
}

/// [`helper`] through the control socket `socket`, with the resource given (it only names
/// the call in messages): also what `tandem-drbd-helper` runs for fence-peer.
pub fn helper_via(socket: &Path, name: &str, resource: &str) -> ExitCode {
    match ask(
        socket,
        ControlRequest::Helper {
            name: name.to_string(),
        },
        HELPER_TIMEOUT_MS,
    ) {
        Ok(ControlResponse::Helper { code }) => ExitCode::from(code),
        Ok(other) => {
            eprintln!("tandem helper {name} ({resource}): {}", unexpected(other));
            fallback_code(name)
        }
        Err(e) => {
            eprintln!("tandem helper {name} ({resource}): {e}");
            fallback_code(name)
        }
    }
}

fn fallback_code(name: &str) -> ExitCode {
    let code = if name == "fence-peer" {
        crate::core::FenceExit::Unproven.code()
    } else {
        0
    };
    ExitCode::from(code)
}

fn unexpected(response: ControlResponse) -> String {
    match response {
        ControlResponse::Error(e) => e,
        other => format!("unexpected answer from tandemd: {other:?}"),
    }
}

/// This host's clock, for a pause's "when" (the core reads no clock); 0 if it is before 1970.
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `2026-11-25T06:30:01.123Z` without a date crate: days from the civil calendar.
pub fn format_unix_ms(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        unix_ms % 1000
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_unix_time() {
        assert_eq!(super::format_unix_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::format_unix_ms(1_795_000_000_123),
            "2026-11-18T11:06:40.123Z"
        );
    }
}
