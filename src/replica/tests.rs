//! On `SHOW SLAVE STATUS` rows captured from MariaDB 10.11.19 (Debian 12) replicating from a
//! 10.11.19 source (`mariadb -B`, tests/fixtures/mariadb1011/replica/).

use super::*;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/mariadb1011/replica/"
);

/// A `mariadb -B` result (header line, one value line) as a row: tabs split, `NULL` is None.
fn tsv_row(name: &str) -> ReplicaRow {
    let text = std::fs::read_to_string(format!("{FIXTURES}{name}")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split('\t');
    let values = lines.next().unwrap().split('\t');
    header
        .zip(values)
        .map(|(column, value)| {
            let value = (value != "NULL").then(|| value.replace("\\t", "\t").replace("\\\\", "\\"));
            (column.to_string(), value)
        })
        .collect()
}

fn status(name: &str) -> SlaveStatus {
    slave_status::parse(&tsv_row(name)).unwrap()
}

fn target() -> SourceTarget {
    SourceTarget {
        host: "127.0.0.1".into(),
        port: 3306,
        user: "repl".into(),
        password: "replpw".into(),
    }
}

#[test]
fn a_running_replica_parses_and_is_replicating() {
    let s = status("running.tsv");
    assert_eq!((s.io_running, s.sql_running), (Thread::Yes, Thread::Yes));
    assert_eq!(s.master_host, "127.0.0.1");
    assert_eq!(s.master_user, "repl");
    assert_eq!(s.seconds_behind_master, Some(0));
    assert_eq!(s.using_gtid, "Slave_Pos");
    assert_eq!(s.gtid_io_pos, "1-1-1,0-1-6");
    let reading = Reading {
        status: Some(&s),
        gtid_slave_pos: "0-1-6,1-1-1",
        gtid_current_pos: "0-1-6,1-1-1",
        source_binlog_pos: Some("0-1-6,1-1-1"),
    };
    let out = assess("r1", "127.0.0.1:3307", reading, 7);
    assert_eq!(out.state, ReplicaState::Replicating);
    assert_eq!(
        (out.lag_seconds, out.gtid_behind, out.error.clone()),
        (Some(0), Some(0), None)
    );
    assert!(out.up());
    assert!(!needs_configure(Some(&s), Some(4), &target()));
    assert!(
        needs_configure(Some(&s), Some(60), &target()),
        "MariaDB's default net timeout"
    );
}

#[test]
fn a_stopped_sql_thread_is_stopped_and_counts_the_gtid_distance() {
    let s = status("sql_stopped.tsv");
    assert_eq!((s.io_running, s.sql_running), (Thread::Yes, Thread::No));
    let positions = std::fs::read_to_string(format!("{FIXTURES}sql_stopped.source_pos")).unwrap();
    let mut lines = positions.lines();
    let (source, replica) = (lines.next().unwrap(), lines.next().unwrap());
    let reading = Reading {
        status: Some(&s),
        gtid_slave_pos: replica,
        gtid_current_pos: replica,
        source_binlog_pos: Some(source),
    };
    let out = assess("r1", "a", reading, 0);
    assert_eq!(out.state, ReplicaState::Stopped);
    assert_eq!(out.gtid_behind, Some(2));
    assert_eq!(
        out.error.as_deref(),
        Some("replication is stopped (IO Yes, SQL No) without an error; START SLAVE on it resumes it")
    );
}

#[test]
fn wrong_replication_password_and_unreachable_source_are_errors_with_the_servers_words() {
    let s = status("wrong_password.tsv");
    assert_eq!(s.io_running, Thread::Connecting);
    let reading = Reading {
        status: Some(&s),
        gtid_slave_pos: "0-1-8,1-1-1",
        gtid_current_pos: "0-1-8,1-1-1",
        source_binlog_pos: Some("0-1-8,1-1-1"),
    };
    let out = assess("r1", "a", reading, 0);
    assert_eq!(out.state, ReplicaState::Error);
    assert_eq!(
        out.error.as_deref(),
        Some(
            "IO thread error 1045: error connecting to master 'bad@127.0.0.1:3306' - retry-time: 1  \
             maximum-retries: 100000  message: Access denied for user 'bad'@'127.0.0.1' (using \
             password: YES)"
        )
    );
    assert!(
        needs_configure(Some(&s), None, &target()),
        "another user is configured"
    );
    let s = status("unreachable_source.tsv");
    assert_eq!(s.last_io_errno, 2003);
    assert_eq!(s.master_port, 3399);
    assert!(
        needs_configure(Some(&s), None, &target()),
        "another port is configured"
    );
}

#[test]
fn a_failed_sql_thread_and_an_operator_stop() {
    let s = status("sql_error.tsv");
    assert_eq!((s.io_running, s.sql_running), (Thread::Yes, Thread::No));
    assert_eq!(s.seconds_behind_master, None);
    let reading = Reading {
        status: Some(&s),
        gtid_slave_pos: "0-1-7,1-1-1",
        gtid_current_pos: "0-1-7,1-1-1",
        source_binlog_pos: Some("0-1-8,1-1-1"),
    };
    let out = assess("r1", "a", reading, 0);
    assert_eq!(out.state, ReplicaState::Error);
    assert!(out
        .error
        .unwrap()
        .starts_with("SQL thread error 1062: Could not execute Write_rows_v1"));
    let s = status("stopped.tsv");
    assert_eq!((s.io_running, s.sql_running), (Thread::No, Thread::No));
    assert_eq!(s.last_io_error, "");
}

#[test]
fn gtid_positions_parse_and_measure() {
    let pos: GtidPos = "0-1-6,1-1-1".parse().unwrap();
    assert_eq!(pos.to_string(), "0-1-6,1-1-1");
    assert_eq!("1-1-1,\n0-1-6".parse::<GtidPos>().unwrap(), pos);
    assert_eq!("".parse::<GtidPos>().unwrap(), GtidPos::default());
    assert!("0-1".parse::<GtidPos>().is_err());
    assert!("0-x-1".parse::<GtidPos>().is_err());
    let source: GtidPos = "0-2-12,1-1-3".parse().unwrap();
    let replica: GtidPos = "0-1-8".parse().unwrap();
    assert_eq!(GtidPos::behind(&source, &replica), 4 + 3);
    assert_eq!(GtidPos::errant(&source, &replica), None);
}

#[test]
fn errant_transactions_are_a_sentence() {
    let source: GtidPos = "0-1-8,1-1-1".parse().unwrap();
    let ahead: GtidPos = "0-11-9,1-1-1".parse().unwrap();
    assert_eq!(
        GtidPos::errant(&source, &ahead).unwrap(),
        "errant transactions: 0-11-9 (the source is at 0-1-8) not written by the source; this \
         replica diverged and needs a rebuild (tandem takes no action)"
    );
    let other_domain: GtidPos = "0-1-8,5-11-1".parse().unwrap();
    assert!(GtidPos::errant(&source, &other_domain)
        .unwrap()
        .contains("5-11-1 (domain 5 is not on the source)"));
    let same_seq_other_server: GtidPos = "0-11-8".parse().unwrap();
    assert!(GtidPos::errant(&source, &same_seq_other_server).is_some());
    let s = status("running.tsv");
    let reading = Reading {
        status: Some(&s),
        gtid_slave_pos: "0-1-8,1-1-1",
        gtid_current_pos: "0-11-9,1-1-1",
        source_binlog_pos: Some("0-1-8,1-1-1"),
    };
    assert_eq!(assess("r1", "a", reading, 0).state, ReplicaState::Error);
}

#[test]
fn configure_hides_the_password_and_quotes_values() {
    let mut t = target();
    t.password = "p'w\\".into();
    let statements = configure_statements(&t);
    assert_eq!(statements[0].text, "STOP SLAVE");
    assert_eq!(statements[1].text, "SET GLOBAL slave_net_timeout = 4");
    assert_eq!(
        statements[2].text,
        "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=3306, MASTER_USER='repl', \
         MASTER_PASSWORD='p\\'w\\\\', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, \
         MASTER_HEARTBEAT_PERIOD=1"
    );
    assert!(statements[2].shown.contains("MASTER_PASSWORD='<hidden>'"));
    assert_eq!(statements[3].text, "START SLAVE");
    assert!(needs_configure(None, None, &t));
}
