//! Seeding and disaster promotion: the binlog info, the receiver's reply and target checks,
//! choosing the most advanced replica, and the refusal sentences.

use super::promote::{self, Candidate, PromoteRefusal};
use super::seed::{self, BinlogInfoError, SeedReply, TargetRefusal};
use super::GtidPos;

fn pos(text: &str) -> GtidPos {
    text.parse().unwrap()
}

#[test]
fn binlog_info_as_mariadb_backup_10_11_writes_it() {
    let info = seed::parse_binlog_info("binlog.000003\t1234\t0-1-42,1-1-7\n").unwrap();
    assert_eq!(info.file, "binlog.000003");
    assert_eq!(info.position, 1234);
    assert_eq!(info.gtid, pos("0-1-42,1-1-7"));
    // A source that has written no GTID yet: two columns, the empty position.
    let fresh = seed::parse_binlog_info("binlog.000001\t328\n").unwrap();
    assert_eq!(fresh.gtid, GtidPos::default());
    assert_eq!(seed::parse_binlog_info("\n"), Err(BinlogInfoError::Empty));
    assert_eq!(
        seed::parse_binlog_info("binlog.000001 328")
            .unwrap_err()
            .to_string(),
        "the backup's binlog info \"binlog.000001 328\" is not `FILE<TAB>POSITION<TAB>GTID`"
    );
    assert!(seed::parse_binlog_info("b.1\t4\t0-1")
        .unwrap_err()
        .to_string()
        .starts_with("the backup's binlog info has a bad GTID"));
}

#[test]
fn the_receivers_reply_round_trips() {
    let ready = SeedReply::Ready {
        gtid: "0-1-9".into(),
    };
    assert_eq!(SeedReply::parse(&ready.line()), ready);
    let failed = SeedReply::Failed {
        error: "mbstream failed\nbadly".into(),
    };
    assert_eq!(
        SeedReply::parse(&failed.line()),
        SeedReply::Failed {
            error: "mbstream failed badly".into()
        }
    );
    assert!(
        matches!(SeedReply::parse(""), SeedReply::Failed { error } if error.contains("without an answer"))
    );
}

#[test]
fn the_target_datadir_is_refused_when_unsafe() {
    assert_eq!(seed::check_target("/d", false, 0, false), Ok(false));
    assert_eq!(seed::check_target("/d", false, 5, true), Ok(true));
    assert_eq!(
        seed::check_target("/d", true, 5, true)
            .unwrap_err()
            .to_string(),
        "a server is running on /d (it holds the lock on /d/ibdata1); stop the replica's \
         server first"
    );
    assert_eq!(
        seed::check_target("/d", false, 5, false),
        Err(TargetRefusal::NotEmpty {
            datadir: "/d".into(),
            entries: 5
        })
    );
}

fn candidates() -> Vec<Candidate> {
    vec![
        Candidate {
            name: "r1".into(),
            pos: Ok(pos("0-1-45")),
        },
        Candidate {
            name: "r2".into(),
            pos: Ok(pos("0-1-42")),
        },
        Candidate {
            name: "r3".into(),
            pos: Err("cannot connect to 10.0.0.23:3306".into()),
        },
    ]
}

#[test]
fn the_most_advanced_replica_is_chosen_and_the_others_follow() {
    let all = candidates();
    assert_eq!(promote::most_advanced(&all).unwrap().name, "r1");
    let plan = promote::plan(&all, "r1", false).unwrap();
    assert_eq!(plan.followers, ["r2"]);
    assert!(plan.left_behind.is_empty());
    assert_eq!(plan.unreachable[0].0, "r3");
    assert!(plan
        .to_string()
        .starts_with("new primary: r1 at 0-1-45\n  r2 follows it"));
}

#[test]
fn a_replica_behind_another_is_refused_unless_forced() {
    let all = candidates();
    assert_eq!(
        promote::plan(&all, "r2", false).unwrap_err().to_string(),
        "r2 is behind r1 by 3 transaction(s) (r1 at 0-1-45, r2 at 0-1-42): promoting r2 loses \
         them and r1 cannot follow it; promote r1, or add --force to accept the loss"
    );
    let forced = promote::plan(&all, "r2", true).unwrap();
    assert!(forced.followers.is_empty());
    assert_eq!(forced.left_behind[0].0, "r1");
    assert!(matches!(
        promote::plan(&all, "r3", false),
        Err(PromoteRefusal::CandidateUnreachable { .. })
    ));
    assert_eq!(
        promote::plan(&all, "r9", false).unwrap_err().to_string(),
        "there is no [[replica]] named \"r9\"; the configured replicas are r1, r2, r3"
    );
}

#[test]
fn the_pair_alive_refusal_and_what_may_be_lost() {
    let refusal = PromoteRefusal::PairMayBeAlive(vec![
        "node a answers on its peer link at 10.0.0.1:7800".into(),
    ]);
    assert_eq!(
        refusal.to_string(),
        "the DRBD pair may still be serving: node a answers on its peer link at \
         10.0.0.1:7800; a promotion now makes two primaries; make sure both nodes are down, \
         or add --force (asks for confirmation)"
    );
    let new = pos("0-1-45");
    assert_eq!(
        promote::may_be_lost(None, &new),
        "may be lost: unknown: the pair is unreachable; whatever the old primary committed \
         after 0-1-45 is not on the new primary"
    );
    assert_eq!(
        promote::may_be_lost(Some(&pos("0-1-47")), &new),
        "lost: 2 transaction(s): the pair was at 0-1-47, the new primary is at 0-1-45"
    );
    assert!(promote::may_be_lost(Some(&new), &new).starts_with("nothing is lost"));
}
