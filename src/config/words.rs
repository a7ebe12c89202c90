//! The closed vocabularies of the config: DRBD protocol, fencing policy and the three
//! after-split-brain policies. Each parses from the exact word DRBD uses, and a wrong word is
//! refused with a sentence that lists the accepted ones.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::str::FromStr;

/// Deserialize through `FromStr`, so that the refusal sentence is ours, not serde's.
fn from_word<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    let word = String::deserialize(deserializer)?;
    word.parse().map_err(serde::de::Error::custom)
}

macro_rules! word_enum {
    (
        $(#[$meta:meta])* $name:ident, $what:literal, $fix:literal,
        { $($(#[$vmeta:meta])* $variant:ident => $word:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every accepted word, in documentation order.
            pub const WORDS: &'static [&'static str] = &[$($word),+];

            /// The word DRBD uses for this value.
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $word,)+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(word: &str) -> Result<Self, String> {
                match word {
                    $($word => Ok(Self::$variant),)+
                    other => Err(format!(
                        "{} \"{}\" is not valid; use one of {}{}",
                        $what, other, quoted_list(Self::WORDS), $fix
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                from_word(d)
            }
        }
    };
}

/// `"A", "B" or "C"`: the accepted words as an English list.
pub fn quoted_list(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {}", rest.join(", "), last),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

word_enum!(
    /// Where the data lives, and so whether tandem drives DRBD.
    Storage, "storage",
    " (\"shared-disk\" is safe only with fencing: both nodes see the disk)",
    {
        /// A DRBD resource replicates the data between the nodes' own disks.
        Drbd => "drbd",
        /// Both nodes see one disk (a SAN LUN); the storage step is a no-op, and only
        /// fencing keeps the other node from mounting it at the same time.
        SharedDisk => "shared-disk",
    }
);

word_enum!(
    /// DRBD replication protocol: when a write counts as complete.
    Protocol, "protocol",
    " (A: asynchronous, B: memory-synchronous, C: synchronous, the safe default)",
    {
        /// Complete once on the local disk and in the local TCP send buffer.
        A => "A",
        /// Complete once on the local disk and received by the peer.
        B => "B",
        /// Complete once on both disks.
        C => "C",
    }
);

word_enum!(
    /// DRBD `fencing` policy: what DRBD does when it loses the peer while Primary.
    Fencing, "fencing",
    " (tandem needs \"resource-only\" or \"resource-and-stonith\" for automatic failover)",
    {
        /// No fencing: DRBD never calls fence-peer. Automatic failover is then unsafe.
        DontCare => "dont-care",
        /// Call fence-peer to outdate the peer's disk; I/O continues meanwhile.
        ResourceOnly => "resource-only",
        /// Freeze I/O and call fence-peer; DRBD refuses this with protocol A.
        ResourceAndStonith => "resource-and-stonith",
    }
);

word_enum!(
    /// `after-sb-1pri`: split-brain recovery when one node is Primary.
    AfterSb1Pri, "after-sb-1pri",
    " (\"disconnect\" leaves the choice to the operator)",
    {
        Disconnect => "disconnect",
        Consensus => "consensus",
        ViolentlyAs0p => "violently-as0p",
        DiscardSecondary => "discard-secondary",
        CallPriLostAfterSb => "call-pri-lost-after-sb",
    }
);

word_enum!(
    /// `after-sb-2pri`: split-brain recovery when both nodes are Primary.
    AfterSb2Pri, "after-sb-2pri",
    " (\"disconnect\" leaves the choice to the operator)",
    {
        Disconnect => "disconnect",
        ViolentlyAs0p => "violently-as0p",
        CallPriLostAfterSb => "call-pri-lost-after-sb",
    }
);

/// `after-sb-0pri`: split-brain recovery when neither node is Primary. Unlike the other two it
/// has an open-ended member, `discard-node-NAME`, so it is written out by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterSb0Pri {
    Disconnect,
    DiscardYoungerPrimary,
    DiscardOlderPrimary,
    DiscardZeroChanges,
    DiscardLeastChanges,
    /// Always discard the named node's changes; validate() checks that the node exists.
    DiscardNode(String),
}

impl AfterSb0Pri {
    /// The fixed words; `discard-node-NAME` comes on top.
    pub const WORDS: &'static [&'static str] = &[
        "disconnect",
        "discard-younger-primary",
        "discard-older-primary",
        "discard-zero-changes",
        "discard-least-changes",
        "discard-node-NAME",
    ];
}

impl FromStr for AfterSb0Pri {
    type Err = String;
    fn from_str(word: &str) -> Result<Self, String> {
        Ok(match word {
            "disconnect" => Self::Disconnect,
            "discard-younger-primary" => Self::DiscardYoungerPrimary,
            "discard-older-primary" => Self::DiscardOlderPrimary,
            "discard-zero-changes" => Self::DiscardZeroChanges,
            "discard-least-changes" => Self::DiscardLeastChanges,
            other => match other.strip_prefix("discard-node-") {
                Some(node) if !node.is_empty() => Self::DiscardNode(node.to_string()),
                _ => {
                    return Err(format!(
                        "after-sb-0pri \"{other}\" is not valid; use one of {} \
                         (\"disconnect\" leaves the choice to the operator)",
                        quoted_list(Self::WORDS)
                    ))
                }
            },
        })
    }
}

impl fmt::Display for AfterSb0Pri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disconnect => f.write_str("disconnect"),
            Self::DiscardYoungerPrimary => f.write_str("discard-younger-primary"),
            Self::DiscardOlderPrimary => f.write_str("discard-older-primary"),
            Self::DiscardZeroChanges => f.write_str("discard-zero-changes"),
            Self::DiscardLeastChanges => f.write_str("discard-least-changes"),
            Self::DiscardNode(node) => write!(f, "discard-node-{node}"),
        }
    }
}

impl<'de> Deserialize<'de> for AfterSb0Pri {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_word(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for w in Protocol::WORDS {
            assert_eq!(w.parse::<Protocol>().unwrap().to_string(), *w);
        }
        for w in Fencing::WORDS {
            assert_eq!(w.parse::<Fencing>().unwrap().to_string(), *w);
        }
        for w in AfterSb1Pri::WORDS {
            assert_eq!(w.parse::<AfterSb1Pri>().unwrap().to_string(), *w);
        }
        for w in AfterSb2Pri::WORDS {
            assert_eq!(w.parse::<AfterSb2Pri>().unwrap().to_string(), *w);
        }
        for w in ["disconnect", "discard-least-changes", "discard-node-db-a"] {
            assert_eq!(w.parse::<AfterSb0Pri>().unwrap().to_string(), w);
        }
    }

    #[test]
    fn refusals_list_the_accepted_words() {
        assert_eq!(
            "D".parse::<Protocol>().unwrap_err(),
            "protocol \"D\" is not valid; use one of \"A\", \"B\" or \"C\" (A: asynchronous, \
             B: memory-synchronous, C: synchronous, the safe default)"
        );
        assert!("discard-node-"
            .parse::<AfterSb0Pri>()
            .unwrap_err()
            .contains("\"discard-node-NAME\""));
    }
}
