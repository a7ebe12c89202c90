//! The after-split-brain policies: which combinations `validate()` refuses because they cannot
//! do what they say, and which `tandem check` explains because they can throw away writes.
//! Pure: the config in, sentences out.
//!
//! DRBD applies them when a connection's handshake finds that both sides changed the data:
//! after-sb-0pri when neither node is Primary at that moment, after-sb-1pri when one is,
//! after-sb-2pri when both are. `disconnect` everywhere (the default) decides nothing and
//! leaves the choice to the operator (`tandem split-brain resolve`).

use super::model::Drbd;
use super::words::{AfterSb0Pri, AfterSb1Pri, AfterSb2Pri};
use std::ops::Range;

/// Combinations that cannot work, with where to point and what to write instead.
pub(crate) fn contradictions(drbd: &Drbd) -> Vec<(Range<usize>, String)> {
    let mut found = Vec::new();
    if *drbd.after_sb_0pri.get_ref() != AfterSb0Pri::Disconnect {
        return found;
    }
    let needs_0pri = "applies the choice after-sb-0pri makes, and after-sb-0pri \"disconnect\" \
                      makes none";
    let one = drbd.after_sb_1pri.get_ref();
    if matches!(one, AfterSb1Pri::Consensus | AfterSb1Pri::ViolentlyAs0p) {
        found.push((
            drbd.after_sb_1pri.span(),
            format!(
                "after-sb-1pri \"{one}\" {needs_0pri}; set after_sb_0pri to a discard policy \
                 (e.g. \"discard-zero-changes\") or after_sb_1pri = \"disconnect\""
            ),
        ));
    }
    if *drbd.after_sb_2pri.get_ref() == AfterSb2Pri::ViolentlyAs0p {
        found.push((
            drbd.after_sb_2pri.span(),
            format!(
                "after-sb-2pri \"violently-as0p\" {needs_0pri}; set after_sb_0pri to a discard \
                 policy or after_sb_2pri = \"disconnect\""
            ),
        ));
    }
    found
}

/// One sentence per configured policy that can lose data on its own, for `tandem check`.
pub fn risks(drbd: &Drbd) -> Vec<String> {
    let mut said = Vec::new();
    match drbd.after_sb_0pri.get_ref() {
        AfterSb0Pri::Disconnect | AfterSb0Pri::DiscardZeroChanges => {}
        AfterSb0Pri::DiscardLeastChanges => said.push(
            "after-sb-0pri \"discard-least-changes\" keeps the side with more changed blocks: \
             it can drop the side the application wrote to last (a burst of bulk writes on the \
             wrong side outweighs the real transactions)"
                .to_string(),
        ),
        AfterSb0Pri::DiscardYoungerPrimary | AfterSb0Pri::DiscardOlderPrimary => {
            said.push(format!(
            "after-sb-0pri \"{}\" discards one side by when it became Primary, not by what was \
             written there: every row written on that side during the split is lost",
            drbd.after_sb_0pri.get_ref()
        ))
        }
        AfterSb0Pri::DiscardNode(node) => said.push(format!(
            "after-sb-0pri \"discard-node-{node}\" always discards {node}'s changes, even when \
             {node} is the only side the application wrote to"
        )),
    }
    match drbd.after_sb_1pri.get_ref() {
        AfterSb1Pri::Disconnect | AfterSb1Pri::Consensus => {}
        AfterSb1Pri::DiscardSecondary => said.push(
            "after-sb-1pri \"discard-secondary\" discards whichever side is Secondary at \
             reconnect, even if it was the one the application wrote to during the split"
                .to_string(),
        ),
        AfterSb1Pri::ViolentlyAs0p => said.push(violently("after-sb-1pri")),
        AfterSb1Pri::CallPriLostAfterSb => said.push(pri_lost("after-sb-1pri")),
    }
    match drbd.after_sb_2pri.get_ref() {
        AfterSb2Pri::Disconnect => {}
        AfterSb2Pri::ViolentlyAs0p => said.push(violently("after-sb-2pri")),
        AfterSb2Pri::CallPriLostAfterSb => said.push(pri_lost("after-sb-2pri")),
    }
    said
}

fn violently(key: &str) -> String {
    format!(
        "{key} \"violently-as0p\" can resync a Primary from its peer while its filesystem is \
         mounted and mysqld runs on it: the data changes under both, which corrupts them"
    )
}

fn pri_lost(key: &str) -> String {
    format!(
        "{key} \"call-pri-lost-after-sb\" discards the losing Primary's data and calls its \
         pri-lost-after-sb handler; tandem's handler only records the call, so the services on \
         that node keep running on data that is being replaced until an operator stops them"
    )
}

/// The split-brain copy must outlive the data it preserves: not inside the DRBD filesystem.
pub(crate) fn backup_dir_refusal(config: &super::Config) -> Option<(Range<usize>, String)> {
    let dir = &config.engine.split_brain_backup_dir;
    let mountpoint = config.filesystem.mountpoint.get_ref();
    let path = dir.get_ref();
    let why = if !path.is_absolute() {
        "must be an absolute path"
    } else if path.starts_with(mountpoint) {
        "is inside the DRBD filesystem, where the copy would be discarded with the data it \
         preserves"
    } else {
        return None;
    };
    Some((
        dir.span(),
        format!(
            "split_brain_backup_dir \"{}\" {why}; choose a directory on a local filesystem \
             with room for one backing device, e.g. \"/var/lib/tandem/split-brain\"",
            path.display()
        ),
    ))
}
