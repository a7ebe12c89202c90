use super::*;
use crate::drbd::{parse_line, ResourceState};

fn drbd() -> ResourceState {
    let mut state = ResourceState::new("r0");
    // tests/fixtures/drbd84/transcript-full.txt, `drbdsetup events2 --now --statistics`.
    for line in [
        "exists resource name:r0 role:Primary suspended:no write-ordering:flush",
        "exists connection name:r0 peer-node-id:0 conn-name:peer connection:Connected role:Secondary",
        "exists device name:r0 volume:0 minor:0 disk:UpToDate size:262100 read:55296 \
         written:0 al-writes:8 bm-writes:0 upper-pending:0 lower-pending:2 al-suspended:no \
         blocked:no",
        "exists peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 \
         replication:SyncSource peer-disk:Inconsistent resync-suspended:no received:0 \
         sent:55112 out-of-sync:208852 pending:2 unacked:3",
        "exists -",
    ] {
        state.apply(&parse_line(line).expect("a real line parses"));
    }
    state
}

fn snapshot() -> Snapshot {
    Snapshot {
        node: "a".into(),
        peer: "b".into(),
        drbd: Some(drbd()),
        paths: vec![
            PathSample {
                address: "10.0.0.2:7800".into(),
                up: true,
                round_trip_seconds: Some(0.000_125),
            },
            PathSample {
                address: "10.1.0.2:7800".into(),
                up: false,
                round_trip_seconds: None,
            },
        ],
        peer_heard: true,
        decision: DecisionSample {
            reason: "no action: I am \"active\"\nall well".into(),
            mode: "Active".into(),
            since_unix_ms: 1_700_000_000_500,
        },
        services: vec![("Drbd".into(), true), ("Vip".into(), true)],
        mysqld: MysqldSample {
            up: true,
            select_seconds: Some(0.002),
        },
        journal_bytes: Some(4096),
        counters: Counters {
            failovers: 1,
            switchovers: 2,
            ..Counters::default()
        },
        hooks: HookCounters {
            failed: 1,
            timed_out: 1,
            ..HookCounters::default()
        },
        ..Snapshot::default()
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn drbd_states_are_labelled_series_like_drbd_reactor() {
    let text = render(&snapshot()).expect("renders");
    let lines = lines(&text);
    for expected in [
        "tandem_drbd_role{resource=\"r0\",role=\"Primary\"} 1.0",
        "tandem_drbd_peer_role{resource=\"r0\",role=\"Secondary\"} 1.0",
        "tandem_drbd_disk_state{resource=\"r0\",state=\"UpToDate\"} 1.0",
        "tandem_drbd_peer_disk_state{resource=\"r0\",state=\"Inconsistent\"} 1.0",
        "tandem_drbd_connection_state{resource=\"r0\",state=\"Connected\"} 1.0",
        "tandem_drbd_replication_state{resource=\"r0\",state=\"SyncSource\"} 1.0",
        "tandem_drbd_out_of_sync_bytes{resource=\"r0\"} 213864448.0",
        "tandem_drbd_read_bytes_total{resource=\"r0\"} 56623104",
        "tandem_drbd_sent_bytes_total{resource=\"r0\"} 56434688",
        "tandem_drbd_pending{resource=\"r0\"} 2.0",
        "tandem_drbd_unacked{resource=\"r0\"} 3.0",
        "tandem_drbd_lower_pending{resource=\"r0\"} 2.0",
        "# TYPE tandem_drbd_written_bytes counter",
    ] {
        assert!(
            lines.contains(&expected),
            "missing {expected:?} in:\n{text}"
        );
    }
    assert!(
        !text.contains("ap_in_flight"),
        "DRBD 8.4 does not report it"
    );
}

#[test]
fn tandem_series_and_escaped_reason() {
    let text = render(&snapshot()).expect("renders");
    let lines = lines(&text);
    for expected in [
        "tandem_peer_path_up{node=\"a\",peer=\"b\",path=\"10.0.0.2:7800\"} 1.0",
        "tandem_peer_path_up{node=\"a\",peer=\"b\",path=\"10.1.0.2:7800\"} 0.0",
        "tandem_peer_path_round_trip_seconds{node=\"a\",peer=\"b\",path=\"10.0.0.2:7800\"} 0.000125",
        "tandem_decision_info{node=\"a\",mode=\"Active\",reason=\"no action: I am \\\"active\\\"\\nall well\"} 1.0",
        "tandem_decision_timestamp_seconds{node=\"a\"} 1700000000.5",
        "tandem_failovers_total{node=\"a\"} 1",
        "tandem_switchovers_total{node=\"a\"} 2",
        "tandem_vip_present{node=\"a\"} 1.0",
        "tandem_mysqld_up{node=\"a\"} 1.0",
        "tandem_mysqld_select_seconds{node=\"a\"} 0.002",
        "tandem_journal_size_bytes{node=\"a\"} 4096.0",
        "tandem_hook_runs_total{node=\"a\",result=\"failed\"} 1",
        "tandem_hook_timeouts_total{node=\"a\"} 1",
        "# EOF",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(lines.last(), Some(&"# EOF"));
}

#[test]
fn shared_disk_has_no_drbd_series() {
    let text = render(&Snapshot {
        drbd: None,
        ..snapshot()
    })
    .expect("renders");
    assert!(!text.contains("tandem_drbd_"), "{text}");
    assert!(text.contains("tandem_mysqld_up"));
}

#[test]
fn dump_for_promtool() {
    if let Ok(path) = std::env::var("TANDEM_METRICS_DUMP") {
        let text = to_classic_text(&render(&snapshot()).expect("renders"));
        std::fs::write(path, text).expect("write");
    }
}

#[test]
fn the_classic_format_names_counter_families_with_total_and_has_no_eof() {
    let text = to_classic_text(&render(&snapshot()).expect("renders"));
    let lines = lines(&text);
    for expected in [
        "# HELP tandem_failovers_total Automatic failovers begun by this node.",
        "# TYPE tandem_failovers_total counter",
        "tandem_failovers_total{node=\"a\"} 1",
        "# TYPE tandem_drbd_role gauge",
    ] {
        assert!(
            lines.contains(&expected),
            "missing {expected:?} in:\n{text}"
        );
    }
    assert!(!text.contains("# EOF"));
}

#[test]
fn replicas_are_series_labelled_by_replica() {
    use crate::replica::{ReplicaState, ReplicaStatus};
    let mut replicating =
        ReplicaStatus::empty("r1", "10.0.0.21:3306", ReplicaState::Replicating, None, 0);
    replicating.lag_seconds = Some(3);
    replicating.gtid_behind = Some(7);
    let down = ReplicaStatus::unreachable("r2", "10.0.0.22:3306", "cannot connect".into(), 0);
    let text = render(&Snapshot {
        replicas: vec![replicating, down],
        ..snapshot()
    })
    .unwrap();
    let lines = lines(&text);
    for expected in [
        "tandem_replica_up{node=\"a\",replica=\"r1\"} 1.0",
        "tandem_replica_up{node=\"a\",replica=\"r2\"} 0.0",
        "tandem_replica_lag_seconds{node=\"a\",replica=\"r1\"} 3.0",
        "tandem_replica_gtid_behind{node=\"a\",replica=\"r1\"} 7.0",
    ] {
        assert!(lines.contains(&expected), "{expected} not in\n{text}");
    }
    assert!(!text.contains("tandem_replica_lag_seconds{node=\"a\",replica=\"r2\"}"));
}
