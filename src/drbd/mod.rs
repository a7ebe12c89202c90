//! Pure DRBD parsing and state: no I/O, no clocks, no panics on any input.
//!
//! DRBD 8.4 with drbd-utils 9.x speaks two vocabularies, and tandem reads both:
//! - [`events2`]: `drbdsetup events2 [--timestamps] [--statistics]` lines, in DRBD 9 words
//!   (`connection:Connecting`, `replication:Established`). This is the live feed.
//! - [`procfs`]: `/proc/drbd`, in 8.4 words (`cs:WFConnection`), with resync progress.
//! - [`words`]: the state words of both vocabularies, the 8.4 → 9 translation
//!   ([`from_84_cstate`]) and the `drbdadm role|dstate|cstate` outputs.
//! - [`handshake`]: the connection handshake in the kernel log (both sides' generation UUIDs
//!   and changed blocks, and the split-brain verdict), from `dmesg` text.
//! - [`state`]: [`ResourceState`], which folds events into the state of one resource and
//!   returns typed old → new [`Change`]s for the core.

pub mod events2;
pub mod handshake;
pub mod procfs;
pub mod state;
pub mod words;

pub use events2::{parse_line, Event, ObjectKind, ParseError as Events2ParseError, Verb};
pub use procfs::{MinorStatus, ParseError as ProcDrbdParseError, ProcDrbd, ResyncProgress};
pub use state::{Change, HelperRun, ResourceState};
pub use words::{
    from_84_cstate, parse_drbdadm_cstate, parse_drbdadm_dstate, parse_drbdadm_role,
    ConnectionState, DiskState, DrbdadmOutputError, ReplicationState, Role,
};
