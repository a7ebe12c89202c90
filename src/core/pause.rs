//! The cluster-wide pause (issue #12). Pausing is a cluster fact, not a node's: the node an
//! operator asks journals a new [`ClusterPause`] with the next epoch and applies it; every
//! heartbeat carries it, and the peer adopts any state that orders after its own, journals
//! it and applies it. Both nodes restore the last one from the journal at start.
//!
//! The rule, for partitions: the state with the higher epoch wins; at the same epoch (both
//! sides changed it while apart) paused wins over resumed, since pausing is the safe
//! direction; after that the fields break the tie so that both sides agree. A resume made
//! while the peer is unreachable is applied here at once and adopted by the peer when it is
//! heard again, because its epoch is newer than the pause the peer holds. Each adoption is
//! journaled with the sender's name, so that no change is undone or lost silently.

use super::{Action, JournalEvent, Node, Reply};
use serde::{Deserialize, Serialize};

/// One operator decision to pause or resume the cluster. The derived order (epoch, then
/// paused, then the rest) is the rule above: a heartbeat's state is adopted when it is greater.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClusterPause {
    /// Counts pause and resume commands across the cluster: one more than the highest this
    /// node had seen when the command arrived. 0 means never paused.
    pub epoch: u64,
    pub paused: bool,
    /// The node the operator ran `tandem pause` or `tandem resume` on.
    pub by: String,
    /// When, by the clock of the host the command ran on (Unix milliseconds).
    pub at_unix_ms: u64,
    /// The operator's sentence (`--reason`), or empty.
    pub reason: String,
}

impl Node {
    /// `tandem pause` or `tandem resume` on this node: a new epoch for the whole cluster.
    pub(crate) fn request_pause(&mut self, paused: bool, reason: String, at_unix_ms: u64) {
        let pause = ClusterPause {
            epoch: self.pause.epoch + 1,
            paused,
            by: self.cfg.me.clone(),
            at_unix_ms,
            reason,
        };
        let epoch = pause.epoch;
        self.apply_pause(pause, false);
        let peer = &self.cfg.peer;
        let text = match (paused, self.peer_fresh()) {
            (true, true) => format!(
                "paused the cluster (pause epoch {epoch}): tandem observes and reports, and \
                 acts only on explicit commands; {peer} adopts the pause from the next heartbeat"
            ),
            (true, false) => format!(
                "paused this node (pause epoch {epoch}): tandem observes and reports, and acts \
                 only on explicit commands; {peer} is not answering on the peer link and adopts \
                 the pause when it is heard again"
            ),
            (false, true) => format!(
                "resumed the cluster (pause epoch {epoch}): automatic decisions are back on, \
                 here and on {peer} from the next heartbeat"
            ),
            (false, false) => format!(
                "resumed this node (pause epoch {epoch}): automatic decisions are back on here. \
                 WARNING: {peer} is not answering on the peer link; it stays as it was until \
                 it hears this node again, and then adopts this newer resume"
            ),
        };
        self.queued.push(Action::Reply(Reply::Accepted(text)));
    }

    /// The peer's heartbeat carried its pause state: adopt it if it orders after ours.
    pub(crate) fn on_peer_pause(&mut self, pause: Option<ClusterPause>) {
        if let Some(pause) = pause.filter(|p| *p > self.pause) {
            self.apply_pause(pause, true);
        }
    }

    fn apply_pause(&mut self, pause: ClusterPause, from_peer: bool) {
        self.pause = pause.clone();
        self.queue_journal(JournalEvent::PauseChanged { pause, from_peer });
    }

    /// The last pause state from the journal, at start: a node that starts while the
    /// cluster is paused stays paused and acts on nothing until a resume.
    pub fn restore_pause(&mut self, pause: ClusterPause) {
        self.pause = pause;
    }

    /// The cluster pause this node holds (epoch 0: never paused).
    pub fn cluster_pause(&self) -> &ClusterPause {
        &self.pause
    }
}

#[cfg(test)]
mod tests {
    use super::ClusterPause;
    use crate::core::PeerView;

    fn state(epoch: u64, paused: bool, by: &str) -> ClusterPause {
        ClusterPause {
            epoch,
            paused,
            by: by.into(),
            at_unix_ms: 0,
            reason: String::new(),
        }
    }

    #[test]
    fn the_higher_epoch_wins_and_paused_wins_a_tie() {
        assert!(
            state(2, false, "a") > state(1, true, "b"),
            "a newer resume wins"
        );
        assert!(
            state(2, true, "a") > state(2, false, "b"),
            "paused wins a tie"
        );
        assert!(
            state(1, true, "b") > state(1, true, "a"),
            "then the name, so both agree"
        );
        assert!(state(1, false, "a") > ClusterPause::default());
    }

    #[test]
    fn a_heartbeat_from_an_older_daemon_decodes_without_a_pause() {
        let old = r#"{"role":"Secondary","disk":"UpToDate","active":false,"busy":false,
            "paused":true,"split_brain":false,"drbd_known":true}"#;
        let view: PeerView = serde_json::from_str(old).expect("decodes");
        assert_eq!(view.pause, None);
        assert!(view.paused);
    }
}
