//! The operator CLI's commands as library code: `src/bin/tandem.rs` only parses the arguments
//! and calls in here.
//!
//! - [`drbd`]: `tandem drbd …`: render the resource file, show the state as tandem's model sees
//!   it (`state`), follow it (`watch`), and thin, verified wrappers over `drbdadm` (`up`,
//!   `primary`, …) that name DRBD's refusals.
//! - [`args`]: the clap definitions of `tandem` and `tandemd`; [`package_files`] renders man
//!   pages and shell completions from them.
//!
//! Exit codes of the `tandem drbd` commands: [`EXIT_OK`], [`EXIT_FAILED`], [`EXIT_REFUSED`].

pub mod args;
pub mod confirm;
pub mod drbd;
pub mod drbd_state;
pub mod drbd_watch;
pub mod json;
pub mod ops;
pub mod package_files;
pub mod replica;
pub mod replica_cmd;
pub mod replica_promote;
pub mod replica_seed;
pub mod split_brain;
pub mod split_brain_resolve;
pub mod status_view;
pub mod status_watch;
pub mod usermode_helper;

/// The command did what it says.
pub const EXIT_OK: u8 = 0;
/// The command failed: the tooling, the config, or DRBD's state did not allow it to run.
pub const EXIT_FAILED: u8 = 1;
/// DRBD refused the state change (`refused: NAME: …` on stderr, e.g. `PeerIsPrimary`); the
/// operator must act first (demote the peer, unmount, …).
pub const EXIT_REFUSED: u8 = 3;

/// The CLI's runtime: one thread, like the daemon; the commands wait on child processes.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
}
