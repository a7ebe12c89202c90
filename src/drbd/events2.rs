//! Parser for `drbdsetup events2` lines, with or without `--timestamps` and `--statistics`.
//!
//! A line is `[TIMESTAMP] VERB OBJECT key:value…`, e.g.
//! `2026-11-23T19:29:42.655525+00:00 change connection name:r0 peer-node-id:0 conn-name:peer
//! connection:NetworkFailure role:Unknown`. Every field is kept, in order; the accessors read
//! the common ones. The end of the initial state dump is the line `exists -`: it parses as
//! verb [`Verb::Exists`] with object [`ObjectKind::InitialStateDone`] and no fields.
//!
//! DRBD 8.4 with drbd-utils 9.x prints DRBD 9 words here (`connection:Connecting`,
//! `replication:Established`); see [`crate::drbd::words`].

use std::fmt;

use serde::{Deserialize, Serialize};

use super::words::{word_enum, ConnectionState, DiskState, ReplicationState, Role};

word_enum! {
    /// What happened to the object.
    Verb {
        /// Part of the initial state dump (or of `--now`).
        Exists => "exists",
        Create => "create",
        Change => "change",
        Destroy => "destroy",
        /// A usermode helper was started (object `helper`).
        Call => "call",
        /// A usermode helper returned (object `helper`, field `status`).
        Response => "response",
    }
}

word_enum! {
    /// Which DRBD object the line is about.
    ObjectKind {
        Resource => "resource",
        /// The connection to a peer; its `role:` is the PEER's role.
        Connection => "connection",
        Device => "device",
        PeerDevice => "peer-device",
        Helper => "helper",
        Path => "path",
        /// The `-` of `exists -`: the initial state dump is complete.
        InitialStateDone => "-",
    }
}

/// One parsed events2 line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The `--timestamps` prefix verbatim (ISO 8601), kept for logs; the core uses ticks.
    pub timestamp: Option<String>,
    /// What happened.
    pub verb: Verb,
    /// To which kind of object.
    pub kind: ObjectKind,
    /// Every `key:value` field in line order, statistics included, so nothing DRBD said is lost.
    pub fields: Vec<(String, String)>,
}

/// Why an events2 line could not be parsed. Each variant carries the offending line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line is empty or only whitespace.
    #[error("empty events2 line")]
    Empty,
    /// The first word starts with a digit but is not an ISO 8601 timestamp.
    #[error("events2 line starts with a malformed timestamp: {line:?}")]
    BadTimestamp { line: String },
    /// There is no verb word (or it looks like a field).
    #[error("events2 line has no verb: {line:?}")]
    MissingVerb { line: String },
    /// There is no object word (or it looks like a field).
    #[error("events2 line has no object kind: {line:?}")]
    MissingObject { line: String },
    /// A field token has no ':'.
    #[error("events2 field {token:?} has no ':' in line {line:?}")]
    FieldWithoutColon { token: String, line: String },
    /// A field token starts with ':'.
    #[error("events2 field {token:?} has an empty name in line {line:?}")]
    EmptyFieldName { token: String, line: String },
}

/// Parses one `drbdsetup events2` line. Never panics; trailing `\n`/`\r\n` is fine.
pub fn parse_line(line: &str) -> Result<Event, ParseError> {
    let owned = || line.trim().to_string();
    let mut tokens = line.split_whitespace();
    let first = tokens.next().ok_or(ParseError::Empty)?;
    let (timestamp, verb_word) = if first.starts_with(|c: char| c.is_ascii_digit()) {
        if !is_timestamp(first) {
            return Err(ParseError::BadTimestamp { line: owned() });
        }
        let verb = tokens
            .next()
            .ok_or_else(|| ParseError::MissingVerb { line: owned() })?;
        (Some(first.to_string()), verb)
    } else {
        (None, first)
    };
    if verb_word.contains(':') {
        return Err(ParseError::MissingVerb { line: owned() });
    }
    let kind_word = match tokens.next() {
        Some(word) if !word.contains(':') => word,
        _ => return Err(ParseError::MissingObject { line: owned() }),
    };
    let mut fields = Vec::new();
    for token in tokens {
        let Some((key, value)) = token.split_once(':') else {
            return Err(ParseError::FieldWithoutColon {
                token: token.to_string(),
                line: owned(),
            });
        };
        if key.is_empty() {
            return Err(ParseError::EmptyFieldName {
                token: token.to_string(),
                line: owned(),
            });
        }
        fields.push((key.to_string(), value.to_string()));
    }
    Ok(Event {
        timestamp,
        verb: Verb::from_word(verb_word),
        kind: ObjectKind::from_word(kind_word),
        fields,
    })
}

/// `YYYY-MM-DDTHH:MM:SS` followed by anything (fraction, offset): what `--timestamps` prints.
fn is_timestamp(word: &str) -> bool {
    let shape = b"dddd-dd-ddTdd:dd:dd";
    let bytes = word.as_bytes();
    bytes.len() >= shape.len()
        && shape.iter().zip(bytes).all(|(want, got)| match want {
            b'd' => got.is_ascii_digit(),
            other => other == got,
        })
}

impl Event {
    /// The first value of field `key`, verbatim.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// True for the `exists -` line that ends the initial state dump.
    pub fn is_initial_state_done(&self) -> bool {
        self.kind == ObjectKind::InitialStateDone
    }

    /// The resource name (`name:`).
    pub fn name(&self) -> Option<&str> {
        self.field("name")
    }

    /// The volume number (`volume:`), on device, peer-device and helper lines.
    pub fn volume(&self) -> Option<u32> {
        self.number("volume")
    }

    /// The device minor (`minor:`), on device and helper lines.
    pub fn minor(&self) -> Option<u32> {
        self.number("minor")
    }

    /// The peer's node id (`peer-node-id:`), on connection, peer-device and helper lines.
    pub fn peer_node_id(&self) -> Option<u32> {
        self.number("peer-node-id")
    }

    /// The connection name (`conn-name:`).
    pub fn conn_name(&self) -> Option<&str> {
        self.field("conn-name")
    }

    /// The LOCAL role: `role:` on a resource line. `None` on other lines, because on a
    /// connection line `role:` is the peer's role (see [`Event::peer_role`]).
    pub fn role(&self) -> Option<Role> {
        self.role_on(ObjectKind::Resource)
    }

    /// The PEER's role: `role:` on a connection line. `None` on other lines.
    pub fn peer_role(&self) -> Option<Role> {
        self.role_on(ObjectKind::Connection)
    }

    /// The local disk state (`disk:`), on device lines.
    pub fn disk(&self) -> Option<DiskState> {
        self.field("disk").map(DiskState::from_word)
    }

    /// The peer's disk state (`peer-disk:`), on peer-device lines.
    pub fn peer_disk(&self) -> Option<DiskState> {
        self.field("peer-disk").map(DiskState::from_word)
    }

    /// The connection state (`connection:`), on connection lines.
    pub fn connection(&self) -> Option<ConnectionState> {
        self.field("connection").map(ConnectionState::from_word)
    }

    /// The replication state (`replication:`), on peer-device lines.
    pub fn replication(&self) -> Option<ReplicationState> {
        self.field("replication").map(ReplicationState::from_word)
    }

    /// The helper's name (`helper:`), e.g. `split-brain`, on call/response helper lines.
    pub fn helper(&self) -> Option<&str> {
        self.field("helper")
    }

    /// The helper's exit status (`status:`), on response helper lines.
    pub fn helper_status(&self) -> Option<i32> {
        self.field("status")?.parse().ok()
    }

    /// KiB out of sync (`out-of-sync:`), on peer-device lines with `--statistics`.
    pub fn out_of_sync_kib(&self) -> Option<u64> {
        self.field("out-of-sync")?.parse().ok()
    }

    /// Resync progress in percent (`done:`), on peer-device lines while syncing, with
    /// `--statistics`. Only finite values in 0..=100 are returned.
    pub fn done_percent(&self) -> Option<f64> {
        let done: f64 = self.field("done")?.parse().ok()?;
        (0.0..=100.0).contains(&done).then_some(done)
    }

    /// Whether I/O is suspended (`suspended:` on resource lines): `no` is false, any reason
    /// (`user`, `no-data`, `fencing`, `quorum`, …) is true; see [`Event::field`] for the reason.
    pub fn suspended(&self) -> Option<bool> {
        self.field("suspended").map(|value| value != "no")
    }

    fn number(&self, key: &str) -> Option<u32> {
        self.field(key)?.parse().ok()
    }

    fn role_on(&self, kind: ObjectKind) -> Option<Role> {
        if self.kind == kind {
            self.field("role").map(Role::from_word)
        } else {
            None
        }
    }
}

/// Prints the event back as an events2 line; `parse_line` of the result gives the same event.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(timestamp) = &self.timestamp {
            write!(f, "{timestamp} ")?;
        }
        write!(f, "{} {}", self.verb, self.kind)?;
        for (key, value) in &self.fields {
            write!(f, " {key}:{value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_timestamped_connection_change() {
        let line = "2026-11-23T19:29:42.655525+00:00 change connection name:r0 peer-node-id:0 \
                    conn-name:peer connection:NetworkFailure role:Unknown\n";
        let event = parse_line(line).unwrap();
        assert_eq!(
            event.timestamp.as_deref(),
            Some("2026-11-23T19:29:42.655525+00:00")
        );
        assert_eq!(event.verb, Verb::Change);
        assert_eq!(event.kind, ObjectKind::Connection);
        assert_eq!(event.name(), Some("r0"));
        assert_eq!(event.peer_node_id(), Some(0));
        assert_eq!(event.conn_name(), Some("peer"));
        assert_eq!(event.connection(), Some(ConnectionState::NetworkFailure));
        assert_eq!(event.peer_role(), Some(Role::Unknown));
        assert_eq!(
            event.role(),
            None,
            "role: on a connection line is the peer's"
        );
        assert_eq!(event.to_string(), line.trim_end());
    }

    #[test]
    fn parses_the_initial_state_done_marker() {
        for line in ["exists -", "2026-11-23T19:29:32.306242+00:00 exists -"] {
            let event = parse_line(line).unwrap();
            assert!(event.is_initial_state_done());
            assert_eq!(event.verb, Verb::Exists);
            assert!(event.fields.is_empty());
            assert_eq!(event.to_string(), line);
        }
    }

    #[test]
    fn keeps_statistics_fields_in_order() {
        let line = "exists peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 \
                    replication:SyncSource peer-disk:Inconsistent done:17.97 \
                    resync-suspended:no received:0 sent:55112 out-of-sync:208852 pending:2 \
                    unacked:3";
        let event = parse_line(line).unwrap();
        assert_eq!(event.fields.len(), 13);
        assert_eq!(event.fields[0], ("name".into(), "r0".into()));
        assert_eq!(event.fields[12], ("unacked".into(), "3".into()));
        assert_eq!(event.replication(), Some(ReplicationState::SyncSource));
        assert_eq!(event.peer_disk(), Some(DiskState::Inconsistent));
        assert_eq!(event.volume(), Some(0));
        assert_eq!(event.out_of_sync_kib(), Some(208852));
        assert_eq!(event.done_percent(), Some(17.97));
        assert_eq!(event.field("resync-suspended"), Some("no"));
    }

    #[test]
    fn reads_resource_device_and_helper_lines() {
        let resource = parse_line("exists resource name:r0 role:Primary suspended:no").unwrap();
        assert_eq!(resource.role(), Some(Role::Primary));
        assert_eq!(resource.peer_role(), None);
        assert_eq!(resource.suspended(), Some(false));
        let device = parse_line("change device name:r0 volume:0 minor:0 disk:Outdated").unwrap();
        assert_eq!(
            (device.minor(), device.disk()),
            (Some(0), Some(DiskState::Outdated))
        );
        let response = parse_line(
            "response helper name:r0 peer-node-id:0 conn-name:peer volume:0 minor:0 \
             helper:split-brain status:0",
        )
        .unwrap();
        assert_eq!(response.verb, Verb::Response);
        assert_eq!(response.helper(), Some("split-brain"));
        assert_eq!(response.helper_status(), Some(0));
    }

    #[test]
    fn keeps_unknown_words_and_values_with_colons() {
        let event = parse_line("rename path name:r0 local:ipv4:10.99.0.1:7789").unwrap();
        assert_eq!(event.verb, Verb::Other("rename".into()));
        assert_eq!(event.kind, ObjectKind::Path);
        assert_eq!(event.field("local"), Some("ipv4:10.99.0.1:7789"));
        let odd = parse_line("change widget name:r0 done:NaN").unwrap();
        assert_eq!(odd.kind, ObjectKind::Other("widget".into()));
        assert_eq!(odd.done_percent(), None);
    }

    #[test]
    fn rejects_malformed_lines_with_the_line() {
        assert_eq!(parse_line(""), Err(ParseError::Empty));
        assert_eq!(parse_line(" \t\r\n"), Err(ParseError::Empty));
        let line = "change resource name:r0 role";
        assert_eq!(
            parse_line(line),
            Err(ParseError::FieldWithoutColon {
                token: "role".into(),
                line: line.into()
            })
        );
        assert!(matches!(
            parse_line("change resource :x"),
            Err(ParseError::EmptyFieldName { .. })
        ));
        assert!(matches!(
            parse_line("change"),
            Err(ParseError::MissingObject { .. })
        ));
        assert!(matches!(
            parse_line("change name:r0"),
            Err(ParseError::MissingObject { .. })
        ));
        assert!(matches!(
            parse_line("2026-11-23T19:29:42.655525+00:00"),
            Err(ParseError::MissingVerb { .. })
        ));
        assert!(matches!(
            parse_line("2026-11 change resource"),
            Err(ParseError::BadTimestamp { .. })
        ));
    }
}
