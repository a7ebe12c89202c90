//! tandem: high availability for two-node active/passive MySQL on DRBD.
//!
//! # Architecture map
//! - [`config`]: the TOML model, `validate()` with sentence errors at file:line:column, and
//!   rendering of the DRBD resource file.
//! - [`core`]: the pure decision state machine (`step`, `tick`, `ready`, `advance`): inputs in,
//!   actions out, one sentence of why per decision; tested by transcripts and a seeded
//!   random-fault simulation.
//! - [`drbd`]: pure parsers (`drbdsetup events2`, `/proc/drbd`, `drbdadm` state words) and the
//!   state model that turns events into old→new changes.
//! - [`exec`]: the only code that touches the host: `drbdadm`/`drbdsetup` with timeouts and
//!   typed errors, the supervised events2 child, and host probes used by `tandem check`.
//! - [`metrics`]: the Prometheus metrics as a plain snapshot, rendered purely; the daemon
//!   fills it, `exec::metrics_http` serves it, `exec::hook` runs the notification hook.
//! - [`replica`]: replicas fed through the VIP, the pure part: `SHOW SLAVE STATUS` and GTID
//!   parsers, each replica's state, and when to point it at the VIP (the daemon's check task
//!   is `daemon::replicas`, its SQL `exec::replica`).
//! - [`proxy`]: `tandem proxy`, the read/write-split MySQL proxy: a pure protocol codec,
//!   login relay and router, and its own runtime (`proxy::runtime`).
//! - [`cli`]: the operator CLI's commands (`tandem drbd state|watch|primary|…`) as library code.
//!
//! # The driver loop (contract)
//! 1. `exec` produces observations (events2 lines, child exits, command outcomes).
//! 2. Observations are parsed at the edge by pure functions in `drbd`.
//! 3. The parsed events update the state model, which yields typed changes.
//! 4. Decisions are taken from those changes by the core (a later milestone); `exec` performs
//!    the resulting actions and verifies their effect by re-reading state, never by trusting an
//!    exit code alone.

pub mod check;
pub mod cli;
pub mod config;
pub mod control;
pub mod core;
pub mod daemon;
pub mod drbd;
pub mod exec;
pub mod init;
pub mod metrics;
pub mod peer;
pub mod proxy;
pub mod replica;
