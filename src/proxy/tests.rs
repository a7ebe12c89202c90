use super::auth::{self, AuthError, Credential};
use super::health::assess;
use super::message::{caps, status, Command, Err, Handshake, HandshakeResponse, Ok};
use super::packet::{frame, take_packet, Packet, PacketError, MAX_FRAME_PAYLOAD_BYTES};
use super::response::{Expect, Progress, Response};
use super::route::{classify, Kind, Rule, Session, Target};
use crate::replica::{SlaveStatus, Thread};
use proptest::prelude::*;

#[test]
fn a_packet_round_trips_and_needs_all_its_bytes() {
    let bytes = frame(3, b"\x03SELECT 1");
    assert_eq!(&bytes[..4], &[9, 0, 0, 3]);
    for cut in 0..bytes.len() {
        assert_eq!(take_packet(&bytes[..cut]), Ok(None), "cut at {cut}");
    }
    let (packet, used) = take_packet(&bytes).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(packet.seq, 3);
    assert_eq!(packet.payload, b"\x03SELECT 1");
    assert_eq!(packet.next_seq(), 4);
}

#[test]
fn a_16_mib_payload_continues_in_an_empty_frame() {
    let payload = vec![7u8; MAX_FRAME_PAYLOAD_BYTES];
    let bytes = frame(0, &payload);
    assert_eq!(bytes.len(), MAX_FRAME_PAYLOAD_BYTES + 8);
    assert_eq!(&bytes[bytes.len() - 4..], &[0, 0, 0, 1]);
    let (packet, used): (Packet, usize) = take_packet(&bytes).unwrap().unwrap();
    assert_eq!(
        (used, packet.frames, packet.next_seq()),
        (bytes.len(), 2, 2)
    );
    assert_eq!(packet.payload.len(), MAX_FRAME_PAYLOAD_BYTES);
}

#[test]
fn a_packet_over_the_limit_is_refused_before_its_bytes_arrive() {
    let mut bytes = Vec::new();
    for seq in 0..2 {
        bytes.extend([0xFF, 0xFF, 0xFF, seq]);
        bytes.resize(bytes.len() + MAX_FRAME_PAYLOAD_BYTES, 0);
    }
    bytes.extend([0xFF, 0xFF, 0xFF, 2]);
    assert_eq!(
        take_packet(&bytes),
        Err(PacketError::TooLarge {
            limit: super::packet::MAX_PACKET_BYTES
        })
    );
}

#[test]
fn a_frame_out_of_sequence_is_refused() {
    let mut bytes = vec![0xFF, 0xFF, 0xFF, 0];
    bytes.extend(vec![0; MAX_FRAME_PAYLOAD_BYTES]);
    bytes.extend([1, 0, 0, 5, 9]);
    assert_eq!(
        take_packet(&bytes),
        Err(PacketError::OutOfSequence {
            expected: 1,
            got: 5
        })
    );
}

#[test]
fn a_handshake_round_trips() {
    let handshake = Handshake {
        server_version: "5.5.5-10.11.6-MariaDB-tandem-proxy".to_string(),
        connection_id: 42,
        scramble: (1..=20).collect(),
        capabilities: caps::PROXY,
        charset: 45,
        status: status::AUTOCOMMIT,
        auth_plugin: "mysql_native_password".to_string(),
    };
    assert_eq!(Handshake::parse(&handshake.encode()), Some(handshake));
}

/// Captured from MariaDB 10.11 (a real server's greeting, scramble included).
#[test]
fn a_real_mariadb_handshake_parses() {
    let mut payload = vec![10];
    payload.extend(b"5.5.5-10.11.6-MariaDB-0+deb12u1\0");
    payload.extend([0x1f, 0, 0, 0]);
    payload.extend(b"Z(Vk%4oE\0");
    payload.extend([0xfe, 0xf7, 0x2d, 0x02, 0, 0xff, 0x81, 0x15]);
    payload.extend([0, 0, 0, 0, 0, 0, 0x1d, 0, 0, 0]);
    payload.extend(b"d:c$Cw_3aFW]\0mysql_native_password\0");
    let h = Handshake::parse(&payload).unwrap();
    assert_eq!(h.connection_id, 31);
    assert_eq!(h.scramble, b"Z(Vk%4oEd:c$Cw_3aFW]");
    assert_eq!(h.auth_plugin, "mysql_native_password");
    assert_ne!(h.capabilities & caps::PLUGIN_AUTH, 0);
}

#[test]
fn a_handshake_response_round_trips_with_and_without_lenenc_data() {
    for extra in [0, caps::PLUGIN_AUTH_LENENC_CLIENT_DATA] {
        let response = HandshakeResponse {
            capabilities: (caps::PROXY & !caps::PLUGIN_AUTH_LENENC_CLIENT_DATA) | extra,
            max_packet_bytes: 1 << 24,
            charset: 45,
            user: "app".to_string(),
            auth_response: vec![9; 20],
            database: Some("shop".to_string()),
            auth_plugin: Some("mysql_native_password".to_string()),
        };
        assert_eq!(HandshakeResponse::parse(&response.encode()), Some(response));
    }
}

#[test]
fn the_primary_gone_answer_is_a_server_error_a_client_library_accepts() {
    let gone = Err::primary_gone("tandem proxy: no active node");
    assert_eq!((gone.code, gone.sql_state.as_str()), (1053, "08S01"));
    assert_eq!(Err::parse(&gone.encode()), Some(gone));
}

#[test]
#[should_panic(expected = "error 2013 is a client library's code")]
fn a_client_code_from_the_proxy_is_a_bug() {
    let _ = Err::new(2013, "HY000", "Lost connection");
}

#[test]
fn ok_and_err_round_trip() {
    let ok = Ok {
        affected_rows: 300,
        last_insert_id: 70_000,
        status: status::AUTOCOMMIT | status::IN_TRANS,
        warnings: 1,
    };
    assert_eq!(Ok::parse(&ok.encode()), Some(ok));
    let err = Err::new(1045, "28000", "Access denied for user 'app'");
    assert_eq!(Err::parse(&err.encode()), Some(err));
}

#[test]
fn commands_parse_by_their_first_byte() {
    assert_eq!(
        Command::parse(b"\x03SELECT 1"),
        Some(Command::Query(b"SELECT 1"))
    );
    assert_eq!(Command::parse(b"\x01"), Some(Command::Quit));
    assert_eq!(Command::parse(b"\x0e"), Some(Command::Ping));
    assert_eq!(Command::parse(b"\x02shop"), Some(Command::InitDb(b"shop")));
    assert_eq!(Command::parse(b"\x11"), Some(Command::Other(0x11)));
    assert_eq!(Command::parse(b""), None);
}

fn eof(server_status: u16) -> Vec<u8> {
    let mut p = vec![0xFE, 0, 0];
    p.extend(server_status.to_le_bytes());
    p
}

#[test]
fn a_resultset_ends_at_its_second_eof_and_more_results_continue() {
    let mut r = Response::new(Expect::Results);
    assert_eq!(r.feed(&[1]), Ok(Progress::More));
    assert_eq!(r.feed(b"\x03def\0\0\0\x011\0"), Ok(Progress::More));
    assert_eq!(r.feed(&eof(status::AUTOCOMMIT)), Ok(Progress::More));
    assert_eq!(r.feed(b"\x011"), Ok(Progress::More));
    assert_eq!(
        r.feed(&eof(status::MORE_RESULTS_EXISTS)),
        Ok(Progress::More)
    );
    let ok = Ok {
        affected_rows: 0,
        last_insert_id: 0,
        status: status::IN_TRANS,
        warnings: 0,
    };
    match r.feed(&ok.encode()) {
        Ok(Progress::Done(outcome)) => assert_eq!(outcome.in_transaction(), Some(true)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_err_ends_any_answer_and_a_prepare_counts_its_definitions() {
    let mut r = Response::new(Expect::Results);
    let err = Err::new(1146, "42S02", "Table 'x' doesn't exist").encode();
    assert!(matches!(r.feed(&err), Ok(Progress::Done(o)) if o.error.is_some()));
    let mut p = Response::new(Expect::Prepare);
    // statement 1, 1 column, 2 parameters
    assert_eq!(
        p.feed(&[0, 1, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0]),
        Ok(Progress::More)
    );
    for _ in 0..2 {
        assert_eq!(p.feed(b"\x03def"), Ok(Progress::More));
    }
    assert_eq!(p.feed(&eof(0)), Ok(Progress::More));
    assert_eq!(p.feed(b"\x03def"), Ok(Progress::More));
    assert!(matches!(p.feed(&eof(0)), Ok(Progress::Done(_))));
}

/// mysql_native_password: a client that knows the password passes, and the recovered
/// SHA1(password) answers any other scramble exactly as that client would.
#[test]
fn native_password_verifies_and_relays_without_the_password() {
    // PASSWORD('secret') in MariaDB.
    let stored = auth::parse_stored("*14E65567ABDB5135D0CFD9A70B3032C179A49EE7")
        .unwrap()
        .unwrap();
    let scramble = b"abcdefghij0123456789";
    let answer = auth::client_answer("secret", scramble);
    let credential = auth::verify(Some(&stored), scramble, &answer).unwrap();
    let backend_scramble = b"ZYXWVUTSRQ9876543210";
    assert_eq!(
        auth::reply(&credential, backend_scramble),
        auth::client_answer("secret", backend_scramble)
    );
    let wrong = auth::client_answer("Secret", scramble);
    assert_eq!(
        auth::verify(Some(&stored), scramble, &wrong),
        Err(AuthError::WrongPassword)
    );
    assert_eq!(auth::verify(None, scramble, &[]), Ok(Credential::Empty));
    assert!(auth::verify(None, scramble, &answer).is_err());
    assert_eq!(auth::parse_stored("*12"), Err(AuthError::MalformedHash));
    assert_eq!(auth::parse_stored(""), Ok(None));
}

#[test]
fn reads_go_to_replicas_and_the_rest_to_the_primary() {
    let replica = [
        "SELECT 1",
        "select * from t where a = 'FOR UPDATE'",
        "/* hi */ SELECT @@server_id",
        "SELECT now() -- @x\n",
        "SELECT 1;",
    ];
    for sql in replica {
        assert_eq!(classify(sql).kind, Kind::Read, "{sql}");
    }
    let primary = [
        ("SELECT * FROM t FOR UPDATE", Kind::PrimaryRead),
        ("SELECT * FROM t LOCK IN SHARE MODE", Kind::PrimaryRead),
        ("SELECT LAST_INSERT_ID()", Kind::PrimaryRead),
        ("SELECT @@last_gtid", Kind::PrimaryRead),
        ("SELECT GET_LOCK('a', 1)", Kind::Pin),
        ("SELECT @x", Kind::Pin),
        ("SET @x = 1", Kind::Pin),
        ("SET NAMES utf8mb4", Kind::Pin),
        ("CREATE TEMPORARY TABLE t (a int)", Kind::Pin),
        ("PREPARE s FROM 'SELECT 1'", Kind::Pin),
        ("INSERT INTO t VALUES (1)", Kind::Write),
        ("SELECT 1; DELETE FROM t", Kind::Write),
        ("SELECT a INTO OUTFILE '/tmp/x' FROM t", Kind::Write),
        ("BEGIN", Kind::Write),
        ("/*!40101 SET x=1 */", Kind::Write),
        ("USE `shop`", Kind::Use("shop".to_string())),
        ("KILL QUERY 12", Kind::Refused),
    ];
    for (sql, kind) in primary {
        assert_eq!(classify(sql).kind, kind, "{sql}");
    }
}

#[test]
fn keywords_match_in_any_ascii_case_and_only_in_ascii() {
    let cases = [
        ("sElEcT * FrOm t fOr UpDaTe", Kind::PrimaryRead),
        ("select * from t lock in share mode", Kind::PrimaryRead),
        ("select last_insert_id ()", Kind::PrimaryRead),
        ("Select @@Last_Gtid", Kind::PrimaryRead),
        ("select sql_calc_found_rows * from t", Kind::PrimaryRead),
        ("select release_all_locks()", Kind::Pin),
        ("deallocate prepare s", Kind::Pin),
        ("create temporary table t (a int)", Kind::Pin),
        ("select a into @x from t", Kind::Pin),
        ("select a into outfile 'x' from t", Kind::Write),
        ("desc t", Kind::PrimaryRead),
        ("SELECT café FROM t", Kind::Read),
        // Not keywords to MariaDB either: a non-ASCII letter or space is part of a word.
        ("ſelect 1", Kind::Write),
        ("SELECT\u{a0}* FROM t", Kind::Write),
        ("SELECT * FROM t FOR\u{3000}UPDATE", Kind::Read),
        ("SELECTED", Kind::Write),
        ("DEALLOCATEX", Kind::Write),
        ("", Kind::Write),
    ];
    for (sql, kind) in cases {
        assert_eq!(classify(sql).kind, kind, "{sql:?}");
    }
}

#[test]
fn a_transaction_and_a_pin_keep_the_session_on_the_primary() {
    let mut session = Session::default();
    assert_eq!(session.route("SELECT 1", &[]).target, Target::Replica);
    session.primary_status(status::AUTOCOMMIT | status::IN_TRANS);
    assert_eq!(session.route("SELECT 1", &[]).target, Target::Primary);
    session.primary_status(status::AUTOCOMMIT);
    assert_eq!(session.route("SELECT 1", &[]).target, Target::Replica);
    session.primary_status(0); // autocommit off
    assert_eq!(session.route("SELECT 1", &[]).target, Target::Primary);
    session.primary_status(status::AUTOCOMMIT);
    session.route("CREATE TEMPORARY TABLE t (a int)", &[]);
    let route = session.route("SELECT 1", &[]);
    assert_eq!(route.target, Target::Primary);
    assert!(route.reason.contains("temporary"), "{}", route.reason);
}

#[test]
fn rules_route_first_match_but_never_a_write_to_a_replica() {
    let rules = vec![
        Rule {
            pattern: regex::Regex::new("(?i)^select .* from reports").unwrap(),
            target: Target::Primary,
        },
        Rule {
            pattern: regex::Regex::new("(?i)audit").unwrap(),
            target: Target::Replica,
        },
    ];
    let mut session = Session::default();
    let route = session.route("SELECT * FROM reports", &rules);
    assert_eq!(
        (route.target, route.reason.starts_with("rule 1")),
        (Target::Primary, true)
    );
    assert_eq!(
        session.route("SELECT * FROM audit", &rules).target,
        Target::Replica
    );
    assert_eq!(
        session.route("DELETE FROM audit", &rules).target,
        Target::Primary
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// No input makes a parser panic.
    #[test]
    fn no_bytes_panic_any_parser(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = take_packet(&bytes);
        let _ = Handshake::parse(&bytes);
        let _ = HandshakeResponse::parse(&bytes);
        let _ = Ok::parse(&bytes);
        let _ = Err::parse(&bytes);
        let _ = Command::parse(&bytes);
        let _ = crate::proxy::cluster::http_body(&bytes);
        let _ = crate::proxy::cluster::parse_metrics(&String::from_utf8_lossy(&bytes));
        for expect in [Expect::Results, Expect::Prepare] {
            let mut r = Response::new(expect);
            for chunk in bytes.chunks(7) {
                if r.feed(chunk).is_err() { break; }
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = classify(&text);
        let _ = auth::parse_stored(&text);
        let _ = auth::verify(None, &bytes, &bytes);
    }
}

fn slave(io: Thread, sql: Thread, lag: Option<u64>) -> SlaveStatus {
    SlaveStatus {
        master_host: "10.0.0.100".to_string(),
        master_port: 3306,
        master_user: "repl".to_string(),
        connect_retry_s: 1,
        io_running: io,
        sql_running: sql,
        last_io_errno: 0,
        last_io_error: String::new(),
        last_sql_errno: 1062,
        last_sql_error: if sql == Thread::No {
            "Duplicate entry '1' for key 'PRIMARY'".to_string()
        } else {
            String::new()
        },
        seconds_behind_master: lag,
        using_gtid: "Slave_Pos".to_string(),
        gtid_io_pos: "0-1-5".to_string(),
    }
}

#[test]
fn a_replica_serves_reads_only_while_replicating_within_the_lag_bound() {
    assert_eq!(
        assess(Some(&slave(Thread::Yes, Thread::Yes, Some(5))), 5),
        Ok(())
    );
    assert_eq!(
        assess(Some(&slave(Thread::Yes, Thread::Yes, Some(6))), 5),
        Err("6 s behind (bound 5 s)".to_string())
    );
    let stopped = assess(Some(&slave(Thread::Yes, Thread::No, None)), 5).unwrap_err();
    assert!(
        stopped.contains("SQL No") && stopped.contains("Duplicate entry"),
        "{stopped}"
    );
    let connecting = assess(Some(&slave(Thread::Connecting, Thread::Yes, None)), 5);
    assert!(connecting.is_err());
    assert!(assess(None, 5).unwrap_err().contains("not a replica"));
}
