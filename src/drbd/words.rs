//! DRBD state words, in both vocabularies, and the `drbdadm role|dstate|cstate` outputs.
//!
//! DRBD 8.4 with drbd-utils 9.x speaks two vocabularies (docs/decisions.md, "State words"):
//! `drbdsetup events2`/`status` use DRBD 9 words, where the connection state
//! (`connection:Connected`) and the replication state (`replication:SyncSource`) are separate;
//! `/proc/drbd` and `drbdadm cstate` use one 8.4 `cs:` word for both. The model uses the DRBD 9
//! words, and [`from_84_cstate`] translates.
//!
//! Every enum keeps a word it does not know as `Other(word)`: a newer DRBD must never make a
//! parser fail. `FromStr` is therefore infallible, `Display` prints the word DRBD prints, and
//! the two round-trip. Serde uses the same words, so status JSON reads like DRBD output.

/// Declares a DRBD word enum: known variants plus `Other(String)`, with `from_word`, `as_str`,
/// `FromStr` (infallible), `Display` and serde as the plain word.
macro_rules! word_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident => $word:literal,)+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A word this version of tandem does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The enum value for a word; unknown words become `Other(word)`.
            pub fn from_word(word: &str) -> Self {
                match word {
                    $($word => Self::$variant,)+
                    other => Self::Other(other.to_string()),
                }
            }

            /// The word as DRBD prints it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $word,)+
                    Self::Other(word) => word,
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(word: &str) -> Result<Self, std::convert::Infallible> {
                Ok(Self::from_word(word))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<String> for $name {
            fn from(word: String) -> Self {
                Self::from_word(&word)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_string()
            }
        }
    };
}
pub(crate) use word_enum;

word_enum! {
    /// A DRBD role (`role:` in events2, `ro:` in /proc/drbd, `drbdadm role`).
    ///
    /// `Unknown` is DRBD's own word (the peer's role while disconnected), so it is a real
    /// variant; words tandem does not know go to `Other`.
    Role {
        Primary => "Primary",
        Secondary => "Secondary",
        /// DRBD does not know the role, e.g. of a disconnected peer.
        Unknown => "Unknown",
    }
}

word_enum! {
    /// A DRBD disk state (`disk:`/`peer-disk:` in events2, `ds:` in /proc/drbd).
    DiskState {
        Diskless => "Diskless",
        Attaching => "Attaching",
        Detaching => "Detaching",
        Failed => "Failed",
        Negotiating => "Negotiating",
        Inconsistent => "Inconsistent",
        Outdated => "Outdated",
        /// Unknown disk state: the peer's disk while disconnected.
        DUnknown => "DUnknown",
        Consistent => "Consistent",
        UpToDate => "UpToDate",
    }
}

word_enum! {
    /// A DRBD 9 connection state (`connection:` in events2).
    ConnectionState {
        StandAlone => "StandAlone",
        Disconnecting => "Disconnecting",
        Unconnected => "Unconnected",
        Timeout => "Timeout",
        BrokenPipe => "BrokenPipe",
        NetworkFailure => "NetworkFailure",
        ProtocolError => "ProtocolError",
        TearDown => "TearDown",
        Connecting => "Connecting",
        Connected => "Connected",
    }
}

word_enum! {
    /// A DRBD 9 replication state (`replication:` in events2).
    ReplicationState {
        Off => "Off",
        Established => "Established",
        StartingSyncS => "StartingSyncS",
        StartingSyncT => "StartingSyncT",
        WFBitMapS => "WFBitMapS",
        WFBitMapT => "WFBitMapT",
        WFSyncUUID => "WFSyncUUID",
        SyncSource => "SyncSource",
        SyncTarget => "SyncTarget",
        PausedSyncS => "PausedSyncS",
        PausedSyncT => "PausedSyncT",
        VerifyS => "VerifyS",
        VerifyT => "VerifyT",
        Ahead => "Ahead",
        Behind => "Behind",
    }
}

impl ReplicationState {
    /// True while a resync or online verify is being set up or running; a sync progress
    /// figure only means something in these states.
    pub fn is_syncing(&self) -> bool {
        matches!(
            self,
            Self::StartingSyncS
                | Self::StartingSyncT
                | Self::WFBitMapS
                | Self::WFBitMapT
                | Self::WFSyncUUID
                | Self::SyncSource
                | Self::SyncTarget
                | Self::PausedSyncS
                | Self::PausedSyncT
                | Self::VerifyS
                | Self::VerifyT
        )
    }
}

/// Translates a DRBD 8.4 `cs:` word (from /proc/drbd or `drbdadm cstate`) into the DRBD 9 pair.
///
/// - Not connected (`StandAlone` … `TearDown`): that connection state, replication `Off`.
/// - `WFConnection` and `WFReportParams` (the handshake): `Connecting`, `Off`.
/// - `Connected`: `Connected`, `Established`.
/// - The sync, verify and congestion words: `Connected` plus that replication state.
/// - `Unconfigured` (a minor that is down): `Other("Unconfigured")`, `Off`.
/// - A word tandem does not know: `Other(word)` for both, so nothing is claimed about it.
pub fn from_84_cstate(word: &str) -> (ConnectionState, ReplicationState) {
    use ConnectionState as C;
    use ReplicationState as R;
    match word {
        "StandAlone" | "Disconnecting" | "Unconnected" | "Timeout" | "BrokenPipe"
        | "NetworkFailure" | "ProtocolError" | "TearDown" => (C::from_word(word), R::Off),
        "WFConnection" | "WFReportParams" => (C::Connecting, R::Off),
        "Connected" => (C::Connected, R::Established),
        "Unconfigured" => (C::Other(word.to_string()), R::Off),
        _ => match R::from_word(word) {
            R::Other(_) | R::Off | R::Established => {
                (C::Other(word.to_string()), R::Other(word.to_string()))
            }
            replication => (C::Connected, replication),
        },
    }
}

/// Why the output of `drbdadm role|dstate|cstate` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrbdadmOutputError {
    /// The command printed nothing but whitespace.
    #[error("drbdadm printed nothing")]
    Empty,
    /// The last non-empty line is not in the expected shape.
    #[error("drbdadm printed {line:?}, expected {expected}")]
    Garbled {
        /// The offending line, trimmed.
        line: String,
        /// What was expected, e.g. "two words joined by '/'".
        expected: &'static str,
    },
}

/// Parses `drbdadm role RES` output, e.g. `Primary/Secondary` → (local, peer).
pub fn parse_drbdadm_role(output: &str) -> Result<(Role, Role), DrbdadmOutputError> {
    let (local, peer) = word_pair(output)?;
    Ok((Role::from_word(local), Role::from_word(peer)))
}

/// Parses `drbdadm dstate RES` output, e.g. `UpToDate/DUnknown` → (local, peer).
pub fn parse_drbdadm_dstate(output: &str) -> Result<(DiskState, DiskState), DrbdadmOutputError> {
    let (local, peer) = word_pair(output)?;
    Ok((DiskState::from_word(local), DiskState::from_word(peer)))
}

/// Parses `drbdadm cstate RES` output: one 8.4 word, translated by [`from_84_cstate`].
pub fn parse_drbdadm_cstate(
    output: &str,
) -> Result<(ConnectionState, ReplicationState), DrbdadmOutputError> {
    let line = last_line(output)?;
    if !is_word(line) {
        return Err(DrbdadmOutputError::Garbled {
            line: line.to_string(),
            expected: "one connection state word",
        });
    }
    Ok(from_84_cstate(line))
}

/// The last non-empty line, trimmed: drbdadm may print warnings on the lines before it.
fn last_line(output: &str) -> Result<&str, DrbdadmOutputError> {
    output
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .ok_or(DrbdadmOutputError::Empty)
}

/// Splits `Word/Word`, both sides DRBD words.
fn word_pair(output: &str) -> Result<(&str, &str), DrbdadmOutputError> {
    let line = last_line(output)?;
    match line.split_once('/') {
        Some((local, peer)) if is_word(local) && is_word(peer) => Ok((local, peer)),
        _ => Err(DrbdadmOutputError::Garbled {
            line: line.to_string(),
            expected: "two state words joined by '/'",
        }),
    }
}

/// DRBD state words are ASCII letters and digits only.
fn is_word(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[test]
    fn words_round_trip_and_keep_unknown_words() {
        for word in ["Primary", "Secondary", "Unknown", "Leader"] {
            assert_eq!(Role::from_word(word).to_string(), word);
        }
        assert_eq!(Role::from_word("Unknown"), Role::Unknown);
        assert_eq!(Role::from_word("Leader"), Role::Other("Leader".into()));
        assert_eq!("DUnknown".parse(), Ok(DiskState::DUnknown));
        assert_eq!("UpToDate".parse(), Ok(DiskState::UpToDate));
        assert_eq!("Connecting".parse(), Ok(ConnectionState::Connecting));
        assert_eq!("WFBitMapS".parse(), Ok(ReplicationState::WFBitMapS));
        assert_eq!(ReplicationState::WFSyncUUID.to_string(), "WFSyncUUID");
    }

    #[test]
    fn serde_uses_the_drbd_words() {
        let (text, back) = serde_roundtrip(&DiskState::UpToDate);
        assert_eq!(text, "\"UpToDate\"");
        assert_eq!(back, DiskState::UpToDate);
        let (text, back) = serde_roundtrip(&Role::Other("Leader".into()));
        assert_eq!(text, "\"Leader\"");
        assert_eq!(back, Role::Other("Leader".into()));
    }

    /// Serializes through toml (no JSON crate is a dependency) and returns the value's text.
    fn serde_roundtrip<T: Serialize + for<'de> Deserialize<'de>>(value: &T) -> (String, T) {
        #[derive(Serialize, Deserialize)]
        struct Wrap<T> {
            v: T,
        }
        let text = toml::to_string(&Wrap { v: value }).expect("serialize");
        let back: Wrap<T> = toml::from_str(&text).expect("deserialize");
        let serialized = text.trim().trim_start_matches("v = ").to_string();
        (serialized, back.v)
    }

    #[test]
    fn maps_84_cstate_words() {
        use ConnectionState as C;
        use ReplicationState as R;
        assert_eq!(from_84_cstate("WFConnection"), (C::Connecting, R::Off));
        assert_eq!(from_84_cstate("WFReportParams"), (C::Connecting, R::Off));
        assert_eq!(from_84_cstate("StandAlone"), (C::StandAlone, R::Off));
        assert_eq!(from_84_cstate("TearDown"), (C::TearDown, R::Off));
        assert_eq!(from_84_cstate("Connected"), (C::Connected, R::Established));
        assert_eq!(from_84_cstate("SyncSource"), (C::Connected, R::SyncSource));
        assert_eq!(
            from_84_cstate("PausedSyncT"),
            (C::Connected, R::PausedSyncT)
        );
        assert_eq!(from_84_cstate("Behind"), (C::Connected, R::Behind));
        let unconfigured = from_84_cstate("Unconfigured");
        assert_eq!(unconfigured, (C::Other("Unconfigured".into()), R::Off));
        let odd = from_84_cstate("Established");
        assert_eq!(
            odd,
            (
                C::Other("Established".into()),
                R::Other("Established".into())
            )
        );
    }

    #[test]
    fn parses_drbdadm_outputs_from_the_lab() {
        use ConnectionState as C;
        assert_eq!(
            parse_drbdadm_role("Primary/Secondary\n"),
            Ok((Role::Primary, Role::Secondary))
        );
        assert_eq!(
            parse_drbdadm_role("Primary/Unknown"),
            Ok((Role::Primary, Role::Unknown))
        );
        assert_eq!(
            parse_drbdadm_dstate("UpToDate/DUnknown\n"),
            Ok((DiskState::UpToDate, DiskState::DUnknown))
        );
        let warned = "WARN: stdin/stdout is not a TTY; using /dev/consoleplaceholder\n\
                      StandAlone\n\n";
        assert_eq!(
            parse_drbdadm_cstate(warned),
            Ok((C::StandAlone, ReplicationState::Off))
        );
        assert_eq!(
            parse_drbdadm_cstate("  WFConnection  "),
            Ok((C::Connecting, ReplicationState::Off))
        );
    }

    #[test]
    fn rejects_empty_and_garbled_drbdadm_output() {
        assert_eq!(parse_drbdadm_role(" \n\n"), Err(DrbdadmOutputError::Empty));
        assert_eq!(parse_drbdadm_cstate(""), Err(DrbdadmOutputError::Empty));
        for bad in [
            "Primary",
            "Primary/",
            "/Secondary",
            "Pri mary/Secondary",
            "a/b/c",
        ] {
            assert!(
                matches!(
                    parse_drbdadm_role(bad),
                    Err(DrbdadmOutputError::Garbled { .. })
                ),
                "{bad}"
            );
        }
        let failure = "0: Failure: (127) Device minor not allocated";
        let err = parse_drbdadm_cstate(failure).unwrap_err();
        assert_eq!(
            err.to_string(),
            "drbdadm printed \"0: Failure: (127) Device minor not allocated\", \
             expected one connection state word"
        );
    }
}
