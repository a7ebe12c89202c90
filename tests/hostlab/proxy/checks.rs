//! The proxy host lab's longer checks: mysql_async, a lagging replica, sysbench figures and
//! a switchover under an open session.

use super::{sql_on, through_proxy, CATCH_UP_TIMEOUT, PROXY, PROXY_READY_TIMEOUT};
use crate::engine::wait_for;
use crate::fixture::{Lab, LabNode};
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes, waits for the switchover, writes again on the same session, then in a new one.
const PYMYSQL_SWITCHOVER: &str = include_str!("switchover.py");

/// A switchover under an open session: that session's next write goes to b (once) or fails
/// with an error and is not applied; a new session writes on b.
pub(super) fn switchover(lab: &Lab, config: &Path) {
    let script = lab.dir.join("switchover.py");
    std::fs::write(&script, PYMYSQL_SWITCHOVER).unwrap();
    let flags = lab.dir.join("switchover-flags");
    std::fs::create_dir_all(&flags).unwrap();
    let out_path = lab.dir.join("switchover.out");
    let (host, port) = PROXY.split_once(':').unwrap();
    let mut client = lab.client.spawn(
        "sh",
        &[
            "-c",
            &format!(
                "exec /usr/bin/python3 {} {host} {port} {} >{} 2>&1",
                script.display(),
                flags.display(),
                out_path.display()
            ),
        ],
    );
    wait_for(lab, "the client's first write", PROXY_READY_TIMEOUT, || {
        flags.join("ready").exists()
    });
    let out = crate::engine::tandem(&lab.a, config, "switchover --to b --force --wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(flags.join("go"), "").unwrap();
    assert!(client.wait().unwrap().success());
    let out = std::fs::read_to_string(&out_path).unwrap();
    eprintln!("across a switchover: {out}");
    assert!(out.trim_end().ends_with("new_session_server=2"), "{out}");
    let applied = lab.b.sh_ok(&sql_on(
        &lab.run_dir().join("mysqld.sock"),
        "SELECT COUNT(*) FROM proxylab.t WHERE v = -3",
    ));
    // The session idled through the move: its next write either went to b on a new
    // connection (once), or met the old connection and failed without being applied.
    if out.contains("old_session=accepted") {
        assert_eq!(applied, "1", "the write was applied {applied} times");
    } else {
        assert!(out.contains("old_session=failed-1053"), "{out}");
        assert_eq!(applied, "0", "the failed write was applied");
    }
}

/// mysql_async (Rust): text reads go to a replica; a prepared statement (binary protocol)
/// pins the session to the primary, and its answers still come through whole.
pub(super) fn mysql_async_client(lab: &Lab) {
    use mysql_async::prelude::Queryable;
    let (host, port) = PROXY.split_once(':').unwrap();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host.to_string())
        .tcp_port(port.parse().unwrap())
        .user(Some("app"))
        .pass(Some("app-pw"))
        .db_name(Some("proxylab"))
        .prefer_socket(false);
    let (before, rows, after) = lab.client.run(|| async move {
        let mut conn = mysql_async::Conn::new(opts).await.unwrap();
        let before: Option<u32> = conn.query_first("SELECT @@server_id").await.unwrap();
        let rows: Vec<(i32, String)> = conn
            .exec(
                "SELECT v, CONCAT('row-', v) FROM t WHERE v IN (?, ?)",
                (4242, 0),
            )
            .await
            .unwrap();
        let after: Option<u32> = conn.query_first("SELECT @@server_id").await.unwrap();
        conn.disconnect().await.unwrap();
        (before, rows, after)
    });
    eprintln!("mysql_async: {before:?} then prepared {rows:?} then {after:?}");
    assert!(matches!(before, Some(11) | Some(12)), "{before:?}");
    assert!(rows.contains(&(4242, "row-4242".to_string())), "{rows:?}");
    assert_eq!(after, Some(1), "a prepared statement pins the session");
}

/// A replica that lags beyond max_lag_s (5 s) is drained: r1 applies events 30 s late
/// (MASTER_DELAY) while the primary writes; reads go to r2 until r1 is caught up again.
pub(super) fn lag_drains(lab: &Lab, r1: &LabNode) {
    let r1_socket = lab.run_dir().join("replica.sock");
    let primary = lab.run_dir().join("mysqld.sock");
    wait_for(lab, "r1 to serve again", PROXY_READY_TIMEOUT, || {
        (0..4)
            .any(|_| through_proxy(lab, "app-pw", "SELECT @@server_id").is_ok_and(|id| id == "11"))
    });
    r1.sh_ok(&sql_on(
        &r1_socket,
        "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 30; START SLAVE",
    ));
    let lagging = Instant::now();
    wait_for(
        lab,
        "r1 to lag beyond 5 s and be drained",
        Duration::from_secs(25),
        || {
            lab.a
                .sh_ok(&sql_on(&primary, "INSERT INTO proxylab.t (v) VALUES (7)"));
            (0..4).all(|_| {
                through_proxy(lab, "app-pw", "SELECT @@server_id").is_ok_and(|id| id == "12")
            })
        },
    );
    eprintln!("r1 drained {:?} after it began to lag", lagging.elapsed());
    let log = std::fs::read_to_string(lab.dir.join("proxy.log")).unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.contains("replica drained") && l.contains("behind (bound 5 s)")),
        "the proxy's log does not say r1 lagged:\n{log}"
    );
    r1.sh_ok(&sql_on(
        &r1_socket,
        "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 0; START SLAVE",
    ));
}

/// sysbench straight to the VIP and through the proxy: figures, not an assertion (two
/// shared cores make timings noise). oltp_read_only with the text protocol and no
/// BEGIN/COMMIT, so that the proxy may send the reads to the replicas; oltp_read_write as
/// it comes (transactions: all on the primary), which must run through the proxy without
/// a single error.
pub(super) fn sysbench_figures(lab: &Lab, replicas: &[&LabNode]) {
    let vip = crate::fixture::VIP;
    let common = "--mysql-user=app --mysql-password=app-pw --mysql-db=proxylab \
                  --tables=2 --table-size=10000 --db-ps-mode=disable";
    lab.client.sh_ok(&format!(
        "sysbench oltp_read_only {common} --mysql-host={vip} prepare >/dev/null"
    ));
    for node in replicas {
        let socket = lab.run_dir().join("replica.sock");
        wait_for(
            lab,
            "replicas to have sysbench's rows",
            CATCH_UP_TIMEOUT,
            || {
                node.sh(&sql_on(&socket, "SELECT COUNT(*) FROM proxylab.sbtest2"))
                    .stdout
                    .starts_with(b"10000")
            },
        );
    }
    let (host, port) = PROXY.split_once(':').unwrap();
    for workload in ["oltp_read_only --skip_trx=on", "oltp_read_write"] {
        for (what, target) in [
            ("direct to the VIP", format!("--mysql-host={vip}")),
            (
                "through the proxy",
                format!("--mysql-host={host} --mysql-port={port}"),
            ),
        ] {
            let out = lab.client.sh_ok(&format!(
                "sysbench {workload} {common} {target} --threads=4 --time=10 --percentile=99 run"
            ));
            eprintln!(
                "sysbench {workload}, 4 threads, 10 s, {what}:\n{}",
                figures(&out)
            );
        }
    }
}

/// sysbench's summary lines worth printing.
pub(super) fn figures(out: &str) -> String {
    out.lines()
        .filter(|l| {
            [
                "transactions:",
                "queries:",
                "ignored errors:",
                "reconnects:",
                "min:",
                "avg:",
                "max:",
                "99th percentile:",
            ]
            .iter()
            .any(|k| l.trim_start().starts_with(k))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The proxy's own GET /metrics after all the above: reads went to replicas, sessions lost
/// their primary in the moves, r1 was drained twice (stopped, then lagging), b serves.
pub(super) fn proxy_metrics(lab: &Lab, address: &str) {
    let text = lab
        .client
        .sh_ok(&format!("curl -sf --max-time 5 http://{address}/metrics"));
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("tandem_proxy_"))
        .collect();
    eprintln!("the proxy's metrics:\n{}", series.join("\n"));
    let value = |name: &str| -> f64 {
        series
            .iter()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(f64::NAN)
    };
    assert!(
        value("tandem_proxy_statements_total{target=\"replica\"}") > 0.0,
        "{text}"
    );
    assert!(
        value("tandem_proxy_statements_total{target=\"primary\"}") > 0.0,
        "{text}"
    );
    assert!(value("tandem_proxy_primary_lost_total") > 0.0, "{text}");
    assert!(
        value("tandem_proxy_replica_drains_total{replica=\"r1\"}") >= 2.0,
        "{text}"
    );
    assert!(
        value("tandem_proxy_sessions_admitted_total") > 0.0,
        "{text}"
    );
    assert_eq!(
        value("tandem_proxy_primary_info{node=\"b\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(value("tandem_proxy_no_active_node"), 0.0, "{text}");
}
