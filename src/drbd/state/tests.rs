//! Unit tests for the resource state model, on events2 lines captured in the VM lab.

use super::*;
use crate::drbd::events2::parse_line;
use crate::drbd::procfs;

fn apply_all(state: &mut ResourceState, lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .flat_map(|line| state.apply(&parse_line(line).expect("fixture line parses")))
        .map(|change| change.to_string())
        .collect()
}

const INITIAL_DUMP: [&str; 5] = [
    "exists resource name:r0 role:Primary suspended:no",
    "exists connection name:r0 peer-node-id:0 conn-name:peer connection:Connected role:Secondary",
    "exists device name:r0 volume:0 minor:0 disk:UpToDate",
    "exists peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 replication:Established \
     peer-disk:UpToDate resync-suspended:no",
    "exists -",
];

#[test]
fn initial_dump_reports_differences_from_unknown() {
    let mut state = ResourceState::new("r0");
    let changes = apply_all(&mut state, &INITIAL_DUMP);
    assert_eq!(
        changes,
        [
            "role Unknown → Primary",
            "connection StandAlone → Connected",
            "peer role Unknown → Secondary",
            "disk DUnknown → UpToDate",
            "replication Off → Established",
            "peer disk DUnknown → UpToDate",
            "initial state dump done",
        ]
    );
    assert!(state.initial_dump_done && state.configured);
}

#[test]
fn split_brain_then_destroy_keeps_standalone() {
    let mut state = ResourceState::new("r0");
    apply_all(&mut state, &INITIAL_DUMP);
    let changes = apply_all(
        &mut state,
        &[
            "call helper name:r0 peer-node-id:0 conn-name:peer volume:0 minor:0 helper:split-brain",
            "response helper name:r0 peer-node-id:0 conn-name:peer volume:0 minor:0 \
             helper:split-brain status:0",
            "change connection name:r0 peer-node-id:0 conn-name:peer connection:StandAlone",
            "destroy peer-device name:r0 peer-node-id:0 conn-name:peer volume:0",
            "destroy connection name:r0 peer-node-id:0 conn-name:peer",
        ],
    );
    assert_eq!(
        changes,
        [
            "helper split-brain called",
            "helper split-brain returned 0",
            "connection Connected → StandAlone",
            "replication Established → Off",
            "peer disk UpToDate → DUnknown",
            "peer-device destroyed",
            "peer role Secondary → Unknown",
            "connection destroyed",
        ]
    );
    assert_eq!(state.connection, ConnectionState::StandAlone);
    let helper = HelperRun {
        name: "split-brain".into(),
        status: Some(0),
    };
    assert_eq!(state.last_helper, Some(helper));
}

#[test]
fn tracks_resync_progress_and_clears_it_when_established() {
    let mut state = ResourceState::new("r0");
    let changes = apply_all(
        &mut state,
        &[
            "exists peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 \
             replication:SyncSource peer-disk:Inconsistent done:17.97 out-of-sync:214996",
            "change peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 \
             replication:Established peer-disk:UpToDate out-of-sync:0",
        ],
    );
    assert_eq!(
        changes,
        [
            "replication Off → SyncSource",
            "peer disk DUnknown → Inconsistent",
            "out-of-sync unknown → 214996 KiB",
            "sync progress unknown → 17.97%",
            "replication SyncSource → Established",
            "peer disk Inconsistent → UpToDate",
            "out-of-sync 214996 KiB → 0 KiB",
            "sync progress 17.97% → unknown",
        ]
    );
}

#[test]
fn ignores_other_resources_and_volumes() {
    let mut state = ResourceState::new("r0");
    let changes = apply_all(
        &mut state,
        &[
            "change resource name:r1 role:Primary",
            "change device name:r0 volume:1 minor:1 disk:Failed",
            "change peer-device name:r0 volume:x replication:SyncTarget",
            "change resource role:Primary",
            "rename resource name:r0 new_name:r9",
        ],
    );
    assert!(changes.is_empty(), "{changes:?}");
}

#[test]
fn destroy_resource_and_suspend() {
    let mut state = ResourceState::new("r0");
    let changes = apply_all(
        &mut state,
        &[
            "create resource name:r0 role:Secondary suspended:fencing",
            "destroy device name:r0 volume:0 minor:0",
            "destroy resource name:r0",
        ],
    );
    assert_eq!(
        changes,
        [
            "resource created",
            "role Unknown → Secondary",
            "suspended no → yes",
            "disk DUnknown → Diskless",
            "device destroyed",
            "role Secondary → Unknown",
            "suspended yes → no",
            "resource destroyed",
        ]
    );
    assert!(!state.configured);
}

#[test]
fn builds_from_procfs_and_diffs_snapshots() {
    let before = procfs::parse(
        "version: 8.4.11 (api:1/proto:86-101)\n \
         0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----\n    \
         ns:0 nr:0 dw:0 dr:0 al:8 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0\n",
    )
    .unwrap();
    let after = procfs::parse(
        "version: 8.4.11 (api:1/proto:86-101)\n \
         0: cs:WFConnection ro:Primary/Unknown ds:UpToDate/DUnknown C r-----\n    \
         ns:0 nr:0 dw:0 dr:0 al:8 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:4\n",
    )
    .unwrap();
    let before = ResourceState::from_procfs("r0", before.minor(0).unwrap());
    let after = ResourceState::from_procfs("r0", after.minor(0).unwrap());
    assert!(before.initial_dump_done && before.configured);
    assert_eq!(before.replication, ReplicationState::Established);
    let changes: Vec<String> = before
        .changes_to(&after)
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        changes,
        [
            "connection Connected → Connecting",
            "peer role Secondary → Unknown",
            "replication Established → Off",
            "peer disk UpToDate → DUnknown",
            "out-of-sync 0 KiB → 4 KiB",
        ]
    );
}

#[test]
fn helper_without_name_or_status_still_reports() {
    let mut state = ResourceState::new("r0");
    let changes = apply_all(
        &mut state,
        &[
            "call helper name:r0",
            "response helper name:r0 helper:fence-peer status:x",
        ],
    );
    assert_eq!(
        changes,
        [
            "helper unknown called",
            "helper fence-peer returned without status"
        ]
    );
}

/// DRBD 8.4's events2 has no `done:`: progress comes from out-of-sync against the amount at
/// the start of the resync (the shape of the lines the VM lab saw on vm-b).
#[test]
fn progress_is_derived_from_out_of_sync_without_done() {
    let mut state = ResourceState::new("r0");
    apply_all(&mut state, &INITIAL_DUMP);
    let peer = "change peer-device name:r0 peer-node-id:0 conn-name:peer volume:0";
    apply_all(
        &mut state,
        &[
            &format!("{peer} replication:WFSyncUUID out-of-sync:32768"),
            &format!("{peer} replication:SyncTarget out-of-sync:27008"),
        ],
    );
    assert_eq!(state.sync_total_kib, Some(32768));
    assert_eq!(state.sync_done_percent, Some(17.6));
    let changes = apply_all(&mut state, &[&format!("{peer} out-of-sync:8192")]);
    assert_eq!(state.sync_done_percent, Some(75.0));
    assert!(
        changes.iter().any(|c| c.starts_with("sync progress 17.6")),
        "{changes:?}"
    );
    apply_all(
        &mut state,
        &[&format!("{peer} replication:Established out-of-sync:0")],
    );
    assert_eq!(
        (state.sync_done_percent, state.sync_total_kib),
        (None, None)
    );
}
