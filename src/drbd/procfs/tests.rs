//! Unit tests for the /proc/drbd parser, on dumps captured in the VM lab.

use super::*;

const SYNC_SOURCE: &str = "version: 8.4.11 (api:1/proto:86-101)
srcversion: F73C670A7EC572DB9CF3E5B 
 0: cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----
    ns:42092 nr:0 dw:0 dr:44032 al:8 bm:0 lo:0 pe:2 ua:2 ap:0 ep:1 wo:f oos:221140
\t[==>.................] sync'ed: 17.2% (221140/262100)K
\tfinish: 0:00:10 speed: 20,480 (20,480) K/sec
";

const STANDALONE: &str = "version: 8.4.11 (api:1/proto:86-101)
srcversion: F73C670A7EC572DB9CF3E5B 
 0: cs:StandAlone ro:Primary/Unknown ds:UpToDate/DUnknown   r-----
    ns:33162 nr:13520 dw:459691 dr:300915 al:18 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:80
";

#[test]
fn parses_a_resync_in_progress() {
    let proc_drbd = parse(SYNC_SOURCE).unwrap();
    assert_eq!(proc_drbd.version, "8.4.11");
    assert_eq!(proc_drbd.api_version, Some(1));
    assert_eq!(proc_drbd.protocol_range, Some((86, 101)));
    assert_eq!(
        proc_drbd.srcversion.as_deref(),
        Some("F73C670A7EC572DB9CF3E5B")
    );
    assert!(proc_drbd.other_lines.is_empty());
    let minor = proc_drbd.minor(0).unwrap();
    assert_eq!(minor.cstate, "SyncSource");
    assert_eq!(minor.connection, ConnectionState::Connected);
    assert_eq!(minor.replication, ReplicationState::SyncSource);
    assert_eq!(
        (minor.role.clone(), minor.peer_role.clone()),
        (Some(Role::Primary), Some(Role::Secondary))
    );
    assert_eq!(minor.disk, Some(DiskState::UpToDate));
    assert_eq!(minor.peer_disk, Some(DiskState::Inconsistent));
    assert_eq!(minor.protocol, Some('C'));
    assert_eq!(minor.io_flags.as_deref(), Some("r-----"));
    assert!(!minor.suspended());
    assert_eq!(minor.counters.len(), 13);
    assert_eq!(minor.counter("ns"), Some(42092));
    assert_eq!(minor.out_of_sync_kib(), Some(221140));
    let resync = minor.resync.clone().unwrap();
    assert_eq!(
        resync,
        ResyncProgress {
            verify: false,
            done_percent: 17.2,
            remaining_kib: 221140,
            total_kib: 262100,
            finish_seconds: Some(10),
            speed_kib_per_second: Some(20480),
            average_speed_kib_per_second: Some(20480),
            want_kib_per_second: None,
            stalled: false,
        }
    );
}

#[test]
fn parses_standalone_without_protocol_letter() {
    let proc_drbd = parse(STANDALONE).unwrap();
    let minor = proc_drbd.minor(0).unwrap();
    assert_eq!(minor.connection, ConnectionState::StandAlone);
    assert_eq!(minor.replication, ReplicationState::Off);
    assert_eq!(minor.peer_role, Some(Role::Unknown));
    assert_eq!(minor.peer_disk, Some(DiskState::DUnknown));
    assert_eq!(minor.protocol, None);
    assert_eq!(minor.io_flags.as_deref(), Some("r-----"));
    assert_eq!(minor.out_of_sync_kib(), Some(80));
    assert_eq!(minor.resync, None);
}

#[test]
fn parses_unconfigured_minors_and_keeps_unknown_lines() {
    let text = "version: 8.4.10 (api:1/proto:86-101)\n\
                GIT-hash: a4d5de01fffd7e4cde48a080e2c686f9e8cebf4c build by root@x\n \
                0: cs:Unconfigured\n \
                1: cs:WFConnection ro:Secondary/Unknown ds:Outdated/DUnknown C s---d-\n";
    let proc_drbd = parse(text).unwrap();
    assert_eq!(proc_drbd.minors.len(), 2);
    let down = proc_drbd.minor(0).unwrap();
    assert!(!down.is_configured());
    assert_eq!(
        down.connection,
        ConnectionState::Other("Unconfigured".into())
    );
    assert_eq!((down.role.clone(), down.disk.clone()), (None, None));
    let waiting = proc_drbd.minor(1).unwrap();
    assert_eq!(waiting.connection, ConnectionState::Connecting);
    assert!(waiting.suspended());
    assert_eq!(proc_drbd.other_lines.len(), 1);
    assert!(proc_drbd.other_lines[0].starts_with("GIT-hash:"));
}

#[test]
fn parses_verify_with_mib_want_and_stalled() {
    let text = "version: 8.4.11 (api:1/proto:86-101)\n \
                0: cs:VerifyS ro:Primary/Secondary ds:UpToDate/UpToDate C r-----\n\
                \t[>....................] verified:  0.5% (5120/5376)M\n\
                \tfinish: 1:02:03 speed: 1,234 (1,000 -- 1,100) want: 102,400 K/sec (stalled)\n \
                1: cs:SyncTarget ro:Secondary/Primary ds:Inconsistent/UpToDate C r-----\n\
                \t[===================>] sync'ed:100.0% (0/16)K\n";
    let proc_drbd = parse(text).unwrap();
    let verify = proc_drbd.minor(0).unwrap().resync.clone().unwrap();
    assert!(verify.verify);
    assert_eq!(verify.done_percent, 0.5);
    assert_eq!(
        (verify.remaining_kib, verify.total_kib),
        (5120 * 1024, 5376 * 1024)
    );
    assert_eq!(verify.finish_seconds, Some(3723));
    assert_eq!(verify.speed_kib_per_second, Some(1234));
    assert_eq!(verify.average_speed_kib_per_second, Some(1100));
    assert_eq!(verify.want_kib_per_second, Some(102400));
    assert!(verify.stalled);
    let target = proc_drbd.minor(1).unwrap();
    assert_eq!(target.replication, ReplicationState::SyncTarget);
    let done = target.resync.clone().unwrap();
    assert_eq!(
        (done.done_percent, done.remaining_kib, done.total_kib),
        (100.0, 0, 16)
    );
    assert_eq!(done.finish_seconds, None);
}

#[test]
fn rejects_broken_dumps_with_line_numbers() {
    assert_eq!(parse(""), Err(ParseError::Empty));
    assert_eq!(parse("\n  \n"), Err(ParseError::Empty));
    assert_eq!(
        parse("\n 0: cs:Connected"),
        Err(ParseError::MissingVersion {
            line_number: 2,
            line: "0: cs:Connected".into()
        })
    );
    let orphan = parse("version: 8.4.11\n    ns:0 nr:0\n").unwrap_err();
    assert!(matches!(orphan, ParseError::Orphan { line_number: 2, .. }));
    let finish =
        parse("version: 8.4.11\n 0: cs:Connected ro:A/B ds:C/D C r-----\n finish: 0:00:01\n");
    assert!(matches!(
        finish,
        Err(ParseError::Orphan { line_number: 3, .. })
    ));
    for bad in [
        " 0: cs:Connected ro:Primary ds:UpToDate/UpToDate C r-----",
        " 0: ro:Primary/Secondary",
        " 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r----- extra",
        " 99999999999: cs:Unconfigured",
        "    ns:0 nr",
        " [==>...] sync'ed: 170.2% (1/2)K",
        " [==>...] sync'ed: 17.2% (1/2)G",
    ] {
        let text = format!("version: 8.4.11\n 0: cs:Unconfigured\n{bad}\n");
        assert!(
            matches!(
                parse(&text),
                Err(ParseError::Malformed { line_number: 3, .. })
            ),
            "{bad}"
        );
    }
}
