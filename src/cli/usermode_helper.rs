//! `tandem-drbd-helper`: what tandemd makes DRBD's usermode helper (the drbd module's
//! `usermode_helper` parameter; `[drbd] usermode_helper`). The kernel runs it as
//! `HELPER COMMAND TARGET` (TARGET is the resource for fence-peer, `minor-N` for most others)
//! with a fixed environment, exactly as it runs `/sbin/drbdadm`.
//!
//! fence-peer for tandem's own resource is answered here, as `tandem helper fence-peer` answers
//! it: one request to the local tandemd, its exit code, 1 if tandemd cannot be reached. That
//! skips drbd-utils' `drbdadm` wrapper, `drbdadm-84`, `sh -c` and the handler shim, about
//! 0.4 s of process starts under the VM lab's emulation, on the failover's critical path (DRBD
//! waits for the answer before it promotes). Every other call (other handlers, other
//! resources, a config that cannot be read) is handed to drbdadm unchanged, which runs the
//! rendered handlers as before.

use crate::config::{Config, DEFAULT_PATH};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode};

// DRBD's own usermode helper, which every call but ours goes to (the module's default).
use crate::exec::usermode_helper::DRBD_OWN as FORWARD_TO;

/// The one call answered without drbdadm: the only one on a failover's critical path.
const DIRECT_COMMAND: &str = "fence-peer";

/// Exit code when even drbdadm cannot be started: not one of fence-peer's answers (3–7), so
/// DRBD reads "helper broken", promotes nothing and keeps a Primary's IO frozen.
const EXEC_FAILED_CODE: u8 = 1;

/// Where a call goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `tandem helper fence-peer` for this resource, answered by the local tandemd.
    Answer,
    /// drbdadm, with the same arguments.
    Forward,
}

/// Pure: `command` and `target` as the kernel passed them, `ours` the config's resource.
pub fn route(command: &str, target: &str, ours: Option<&str>) -> Route {
    match ours {
        Some(resource) if command == DIRECT_COMMAND && target == resource => Route::Answer,
        _ => Route::Forward,
    }
}

/// The binary's whole work; `args` as the kernel passed them (argv\[0\] first).
pub fn main(args: Vec<OsString>) -> ExitCode {
    let command = args.get(1).and_then(|a| a.to_str()).unwrap_or_default();
    let target = args.get(2).and_then(|a| a.to_str()).unwrap_or_default();
    let (socket, ours) = Config::helper_view_of(Path::new(DEFAULT_PATH));
    match route(command, target, ours.as_deref()) {
        Route::Answer => super::ops::helper_via(&socket, DIRECT_COMMAND, target),
        Route::Forward => {
            let error = Command::new(FORWARD_TO)
                .arg0(FORWARD_TO)
                .args(args.iter().skip(1))
                .exec();
            eprintln!("tandem-drbd-helper: cannot run {FORWARD_TO} {command} {target}: {error}");
            ExitCode::from(EXEC_FAILED_CODE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fence_peer_of_our_resource_is_answered_here() {
        assert_eq!(route("fence-peer", "r0", Some("r0")), Route::Answer);
        // Another resource on the same host keeps its own handlers.
        assert_eq!(route("fence-peer", "r1", Some("r0")), Route::Forward);
        // The other handlers go through drbdadm, which runs the rendered shim.
        for command in ["split-brain", "after-resync-target", "unfence-peer"] {
            assert_eq!(route(command, "minor-0", Some("r0")), Route::Forward);
            assert_eq!(route(command, "r0", Some("r0")), Route::Forward);
        }
        // A config that cannot be read names no resource: drbdadm decides, as before.
        assert_eq!(route("fence-peer", "r0", None), Route::Forward);
        assert_eq!(route("", "", Some("r0")), Route::Forward);
    }
}
