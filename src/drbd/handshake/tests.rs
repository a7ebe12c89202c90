use super::*;

/// Node A's kernel log around the split-brain of the captured PoC run (transcript-fast.txt).
const NODE_A: &str = "\
[  110.926731] block drbd0: self 964D83CF204B0747:48B65319264C561B:A2621A4F5BB31689:A2611A4F5BB31689 bits:12 flags:0
[  110.927056] block drbd0: peer 9F2283E0547672EB:48B65319264C561A:A2621A4F5BB31688:A2611A4F5BB31689 bits:11 flags:0
[  110.927437] block drbd0: uuid_compare()=100 by rule 90
[  110.927925] block drbd0: helper command: /sbin/drbdadm initial-split-brain minor-0
[  111.122471] block drbd0: Split-Brain detected but unresolved, dropping connection!
[  111.288899] drbd r0: conn( WFReportParams -> Disconnecting ) 
";

#[test]
fn unresolved_split_brain_from_a_real_log() {
    let handshake = last_handshake(NODE_A, 0).expect("a handshake");
    assert_eq!(handshake.at_s, Some(110.926731));
    assert_eq!(handshake.local.current, 0x964D83CF204B0747);
    assert_eq!(handshake.peer.current, 0x9F2283E0547672EB);
    assert_eq!((handshake.local.bits, handshake.peer.bits), (12, 11));
    assert_eq!(handshake.local.changed_kib(), 48);
    assert!(handshake.local.primary_when_diverged());
    assert!(handshake.peer.primary_when_diverged());
    assert_eq!(handshake.common_ancestor(), Some(0x48B65319264C561A));
    assert_eq!(
        handshake.compare.as_deref(),
        Some("uuid_compare()=100 by rule 90")
    );
    assert_eq!(handshake.verdict, Verdict::SplitBrainUnresolved);
}

#[test]
fn the_last_handshake_wins_and_records_a_manual_resolution() {
    let later = "\
[  120.300000] block drbd0: self 964D83CF204B0747:48B65319264C561B:A2621A4F5BB31689:A2611A4F5BB31689 bits:12 flags:0
[  120.300100] block drbd0: peer 9F2283E0547672EB:48B65319264C561A:A2621A4F5BB31688:A2611A4F5BB31689 bits:11 flags:0
[  120.356792] block drbd0: Split-Brain detected, manually solved. Sync from this node
";
    let handshake = last_handshake(&format!("{NODE_A}{later}"), 0).unwrap();
    assert_eq!(handshake.at_s, Some(120.3));
    assert_eq!(
        handshake.verdict,
        Verdict::SplitBrainResolved {
            automatic: false,
            kept_local: true
        }
    );
}

#[test]
fn other_minors_and_garbage_are_ignored() {
    assert_eq!(last_handshake(NODE_A, 1), None);
    assert_eq!(last_handshake("", 0), None);
    let broken = "[ 1.0] block drbd0: self ZZZ:1:2:3 bits:1 flags:0\n\
                  [ 1.1] block drbd0: peer 1:2:3:4 bits:x flags:0\n\
                  [ 1.2] block drbd0: self 1:2:3 bits:1\n";
    assert_eq!(last_handshake(broken, 0), None);
}
