//! Reading the journal file back: record framing, checks, and the search for intact records
//! after a damaged one (which tells a torn tail from damage in the middle).
//!
//! Pure over `Read`; the file handling lives in the parent module.

use serde::de::DeserializeOwned;
use std::io::{self, Read};

use super::view::View;
use super::{Compactable, Entry, HEADER_BYTES, MAX_RECORD_BYTES};

/// How far past a damaged record the scan looks for intact records. Sixteen maximal records:
/// enough to tell damage in the middle from a torn tail, small enough to hold in memory.
pub(super) const MAX_RESYNC_SCAN_BYTES: usize = 16 * (HEADER_BYTES + MAX_RECORD_BYTES as usize);

/// Every payload starts with these bytes: `Entry` serializes `seq` first. The resync scan uses
/// them to skip offsets cheaply before it computes a CRC.
const PAYLOAD_PREFIX: &[u8] = b"{\"seq\":";

/// Why a record was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Damage {
    /// The file ends inside a record header.
    ShortHeader { have: usize },
    /// The length field is above [`MAX_RECORD_BYTES`]; nothing was allocated for it.
    TooLong { len: u32 },
    /// The file ends inside a record payload.
    ShortPayload { len: u32, have: usize },
    /// The payload does not match its checksum.
    BadCrc { stored: u32, computed: u32 },
    /// The checksum matches but the payload is not a journal entry.
    BadJson { error: String },
}

impl Damage {
    /// A write that stopped early (power loss mid-append): the expected way for a tail to end
    /// badly, and the only damage that loses nothing that was ever acknowledged.
    pub(super) fn is_short(&self) -> bool {
        matches!(
            self,
            Damage::ShortHeader { .. } | Damage::ShortPayload { .. }
        )
    }
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::ShortHeader { have } => {
                write!(
                    f,
                    "the file ends {have} bytes into a {HEADER_BYTES}-byte header"
                )
            }
            Damage::TooLong { len } => write!(
                f,
                "the length field says {len} bytes, above the {MAX_RECORD_BYTES}-byte limit"
            ),
            Damage::ShortPayload { len, have } => {
                write!(f, "the file ends {have} bytes into a {len}-byte record")
            }
            Damage::BadCrc { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:08x}, computed {computed:08x})"
            ),
            Damage::BadJson { error } => write!(f, "the record is not a journal entry ({error})"),
        }
    }
}

/// What one pass over the file found.
pub(super) struct Scan<T> {
    /// The intact entries that decode as `T`: the newest, and the newest of each state key.
    pub view: View<T>,
    /// Intact records, including those whose event is of an unknown kind.
    pub records: usize,
    /// Intact records whose event did not decode as `T` (written by another version).
    pub unknown: usize,
    /// Where the last intact record ends: the length the file must have.
    pub good_end: u64,
    /// The first damaged record, if any: where it starts and what is wrong with it.
    pub damage: Option<Damage>,
}

/// One step of the reader.
pub(super) enum Step {
    End,
    Record(Vec<u8>),
    Damaged(Damage),
}

/// Reads records from the start until the end of the file or the first damaged record.
pub(super) fn scan<T: DeserializeOwned + Compactable + Clone>(
    reader: &mut impl Read,
) -> io::Result<Scan<T>> {
    let mut scan = Scan {
        view: View::default(),
        records: 0,
        unknown: 0,
        good_end: 0,
        damage: None,
    };
    loop {
        let payload = match read_record(reader)? {
            Step::End => return Ok(scan),
            Step::Damaged(damage) => {
                scan.damage = Some(damage);
                return Ok(scan);
            }
            Step::Record(payload) => payload,
        };
        let (seq, event) = match decode_payload::<T>(&payload) {
            Ok(decoded) => decoded,
            Err(damage) => {
                scan.damage = Some(damage);
                return Ok(scan);
            }
        };
        scan.records += 1;
        scan.view.note_seq(seq);
        scan.good_end += (HEADER_BYTES + payload.len()) as u64;
        match event {
            Some(entry) => scan.view.push(entry),
            None => scan.unknown += 1,
        }
    }
}

/// Reads one record and checks its framing and checksum.
pub(super) fn read_record(reader: &mut impl Read) -> io::Result<Step> {
    let mut header = [0u8; HEADER_BYTES];
    let have = read_up_to(reader, &mut header)?;
    if have == 0 {
        return Ok(Step::End);
    }
    if have < HEADER_BYTES {
        return Ok(Step::Damaged(Damage::ShortHeader { have }));
    }
    let (len, stored) = split_header(&header);
    if len > MAX_RECORD_BYTES {
        return Ok(Step::Damaged(Damage::TooLong { len }));
    }
    let mut payload = vec![0u8; len as usize];
    let have = read_up_to(reader, &mut payload)?;
    if have < payload.len() {
        return Ok(Step::Damaged(Damage::ShortPayload { len, have }));
    }
    let computed = crc32fast::hash(&payload);
    if computed != stored {
        return Ok(Step::Damaged(Damage::BadCrc { stored, computed }));
    }
    Ok(Step::Record(payload))
}

fn split_header(header: &[u8; HEADER_BYTES]) -> (u32, u32) {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    (len, crc)
}

/// Decodes a checksummed payload: its sequence number, and the entry when the event is of a
/// kind this build knows. A payload that is not an entry at all is damage.
pub(super) fn decode_payload<T: DeserializeOwned>(
    payload: &[u8],
) -> Result<(u64, Option<Entry<T>>), Damage> {
    let raw: Entry<serde_json::Value> =
        serde_json::from_slice(payload).map_err(|error| Damage::BadJson {
            error: error.to_string(),
        })?;
    let seq = raw.seq;
    let entry = serde_json::from_value::<T>(raw.event)
        .ok()
        .map(|event| Entry {
            seq,
            unix_ms: raw.unix_ms,
            event,
        });
    Ok((seq, entry))
}

/// Fills `buf` as far as the reader allows; returns how many bytes were read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Counts the intact records that follow damage: `tail` starts at the damaged record. The first
/// intact record is searched for at every later offset; from there records are chained by
/// their length fields. A count above zero means the damage is in the middle of the journal.
pub(super) fn intact_records_after(tail: &[u8]) -> usize {
    (1..tail.len())
        .find(|&offset| record_at(tail, offset).is_some())
        .map_or(0, |start| {
            let mut offset = start;
            let mut count = 0;
            while let Some(next) = record_at(tail, offset) {
                count += 1;
                offset = next;
            }
            count
        })
}

/// If an intact record starts at `offset`, returns where it ends.
fn record_at(bytes: &[u8], offset: usize) -> Option<usize> {
    let header: &[u8; HEADER_BYTES] = bytes.get(offset..offset + HEADER_BYTES)?.try_into().ok()?;
    let (len, crc) = split_header(header);
    if len > MAX_RECORD_BYTES {
        return None;
    }
    let start = offset + HEADER_BYTES;
    let payload = bytes.get(start..start + len as usize)?;
    if !payload.starts_with(PAYLOAD_PREFIX) || crc32fast::hash(payload) != crc {
        return None;
    }
    Some(start + len as usize)
}
