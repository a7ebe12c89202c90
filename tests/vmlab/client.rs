//! The lab's MySQL client, run INSIDE a guest: the harness binary started as
//! `vmlab-client --client HOST FIRST_ID DIR`. It writes a row every 10 ms through `HOST`
//! (the VIP) with the host lab's acknowledged-write client until `DIR/client.stop` appears,
//! then writes every acknowledged id to `DIR/client.acked` and a summary line to stdout.

#[allow(dead_code)] // the host lab's schema helpers run there, not here
#[path = "../hostlab/client.rs"]
mod acked_writes;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Under TCG a commit through DRBD protocol C takes tens of ms, a TCP connect with
/// authentication a few hundred: a longer patience than the host lab's, so that a slow
/// write is not mistaken for a dead server.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(2_000);
/// How often the stop file is looked for.
const STOP_POLL_MS: u64 = 50;

pub use acked_writes::{APP_PASSWORD, APP_USER};

/// The file the client writes its acknowledged ids to.
pub fn acked_file(dir: &Path) -> PathBuf {
    dir.join("client.acked")
}

pub fn stop_file(dir: &Path) -> PathBuf {
    dir.join("client.stop")
}

/// `--client HOST FIRST_ID DIR` (the arguments after `--client`).
pub fn run(args: &[String]) -> ExitCode {
    let [host, first_id, dir] = args else {
        eprintln!("usage: vmlab-client --client HOST FIRST_ID DIR");
        return ExitCode::FAILURE;
    };
    let Ok(first_id) = first_id.parse::<u64>() else {
        eprintln!("vmlab-client: FIRST_ID {first_id:?} is not a number");
        return ExitCode::FAILURE;
    };
    // Its traffic goes to lab addresses that exist only between the guests: on the host it
    // would leave through the host's own interface. Only a lab guest has this boot option.
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    if !cmdline
        .split_whitespace()
        .any(|w| w.starts_with("tandem_vmlab="))
    {
        eprintln!(
            "vmlab-client: refused: not inside a VM-lab guest (no tandem_vmlab= boot option)"
        );
        return ExitCode::FAILURE;
    }
    let dir = PathBuf::from(dir);
    let stop = AtomicBool::new(false);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vmlab-client: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let log = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop_file(&dir).exists() {
                std::thread::sleep(Duration::from_millis(STOP_POLL_MS));
            }
            stop.store(true, Ordering::SeqCst);
        });
        runtime.block_on(acked_writes::write_until_with(
            &stop,
            host,
            first_id,
            CLIENT_TIMEOUT,
        ))
    });
    let ids: String = log.acked.iter().map(|id| format!("{id}\n")).collect();
    if let Err(e) = std::fs::write(acked_file(&dir), ids) {
        eprintln!(
            "vmlab-client: cannot write {}: {e}",
            acked_file(&dir).display()
        );
        return ExitCode::FAILURE;
    }
    println!(
        "acked {} failed {} longest_gap_ms {} last_id {}",
        log.acked.len(),
        log.failed,
        log.longest_gap.as_millis(),
        log.last_id
    );
    ExitCode::SUCCESS
}
