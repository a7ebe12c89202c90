//! `tandem proxy` with real clients: the pair as the primary (through the VIP) and two real
//! MariaDB replicas fed by tandemd, the proxy in the client's namespace. The mariadb CLI,
//! pymysql, mysql_async and sysbench through the proxy: writes land on the primary,
//! autocommit reads on a replica, a transaction stays on the primary, a client that writes
//! and reads at once never misses its write, a wrong password is refused, a rule and USE
//! work, the client limit holds, garbage closes only its own connection, a replica that
//! stops replicating is drained, and a switchover fails an open session's next write
//! without replaying it while new sessions reach the new primary.

use crate::engine::{engine_config, serving, start_daemon, wait_for};
use crate::fixture::{mariadb_template, Lab, LabNode, SUBNET};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TANDEM: &str = env!("CARGO_BIN_EXE_tandem");
/// The proxy binary: the test build's `tandem`, unless TANDEM_PROXY_BIN names another (a
/// release build, for meaningful sysbench figures: the test build is unoptimised).
fn proxy_bin() -> String {
    std::env::var("TANDEM_PROXY_BIN").unwrap_or_else(|_| TANDEM.to_string())
}
/// A replica server starts in well under a second; this is the stall limit.
const REPLICA_START_TIMEOUT: Duration = Duration::from_secs(30);
/// Replicas replicate within a few of tandemd's checks (2 s each).
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// The proxy listens at once and reads each replica every second.
const PROXY_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The proxy inside the client's namespace: its own loopback.
const PROXY: &str = "127.0.0.1:3307";
/// The proxy's client limit in the lab: sysbench's 4 threads and a few CLI sessions fit.
const MAX_CONNECTIONS: u32 = 8;
/// Read-your-writes: this many write-then-read rounds.
const RYW_ROUNDS: u32 = 200;

fn credentials(lab: &Lab, name: &str, user: &str, password: &str) -> PathBuf {
    let path = lab.dir.join(format!("{name}.cred"));
    std::fs::write(&path, format!("user = {user}\npassword = {password}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn sql_on(socket: &Path, sql: &str) -> String {
    format!("mariadb -N -B -S {} -e \"{sql}\"", socket.display())
}

/// A replica server on `node` from the source's initial datadir, with tandem's account.
fn start_replica(lab: &Lab, node: &LabNode, server_id: u32) -> std::process::Child {
    let data = lab.dir.join(format!("{}-data", node.role));
    let socket = lab.run_dir().join("replica.sock");
    node.sh_ok(&format!(
        "cp -a --sparse=always {t} {d} && chown -R mysql:mysql {d}",
        t = mariadb_template().display(),
        d = data.display()
    ));
    let log = lab.dir.join(format!("{}.err", node.role));
    let child = node.spawn(
        "sh",
        &[
            "-c",
            &format!(
                "exec mariadbd --no-defaults --user=mysql --datadir={d} --socket={s} \
                 --pid-file={r}/replica.pid --port=3306 --bind-address=0.0.0.0 \
                 --skip-name-resolve --innodb-buffer-pool-size=32M --server-id={server_id} \
                 --gtid-strict-mode=ON --log-error={l}",
                d = data.display(),
                s = socket.display(),
                r = lab.run_dir().display(),
                l = log.display()
            ),
        ],
    );
    let started = Instant::now();
    while node.sh(&sql_on(&socket, "SELECT 1")).status.code() != Some(0) {
        assert!(
            started.elapsed() < REPLICA_START_TIMEOUT,
            "replica {} did not start",
            node.role
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    node.sh_ok(&sql_on(
        &socket,
        "SET sql_log_bin = 0; CREATE USER tandem@'%' IDENTIFIED BY 'tandem-pw'; \
         GRANT REPLICATION SLAVE ADMIN, REPLICA MONITOR ON *.* TO tandem@'%'",
    ));
    child
}

/// The engine config with [replication], r1 and r2, and [proxy].
fn proxy_config(lab: &Lab) -> PathBuf {
    let tandem = credentials(lab, "tandem", "tandem", "tandem-pw");
    let repl = credentials(lab, "repl", "repl", "repl-pw");
    let proxy = credentials(lab, "proxy", "proxy", "proxy-pw");
    let replica = |name: &str, host: u8| {
        format!(
            "[[replica]]\nname = \"{name}\"\nhost = \"{SUBNET}.{host}\"\ncredentials_file = \"{}\"\n",
            tandem.display()
        )
    };
    let text = format!(
        "{}[replication]\nbinlog_dir = \"{}/binlog\"\nserver_ids = {{ a = 1, b = 2 }}\n\
         credentials_file = \"{}\"\n{}{}[proxy]\nlisten = \"{PROXY}\"\ncredentials_file = \"{}\"\n\
         max_lag_s = 5\nmax_connections = {MAX_CONNECTIONS}\n\
         [[proxy.rule]]\npattern = \"primary, please\"\nroute = \"primary\"\n",
        std::fs::read_to_string(engine_config(lab)).unwrap(),
        lab.mountpoint().display(),
        repl.display(),
        replica("r1", 11),
        replica("r2", 12),
        proxy.display()
    );
    let path = lab.dir.join("proxy.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `mariadb` through the proxy as `app`; the output, or the error.
fn through_proxy(lab: &Lab, password: &str, sql: &str) -> Result<String, String> {
    let (host, port) = PROXY.split_once(':').unwrap();
    let out = lab.client.sh(&format!(
        "mariadb -h {host} -P {port} -u app -p{password} -N -B -e \"{sql}\""
    ));
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

const PYMYSQL_CLIENT: &str = r#"
import pymysql, sys
host, port, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = pymysql.connect(host=host, port=port, user="app", password="app-pw", database="proxylab",
                    autocommit=True)
cur = c.cursor()
missed = on_replica = 0
for i in range(rounds):
    cur.execute("INSERT INTO t (v) VALUES (%s)", (i,))
    row_id = cur.lastrowid
    cur.execute("SELECT v, @@server_id FROM t WHERE id = %s", (row_id,))
    row = cur.fetchone()
    if row is None or row[0] != i:
        missed += 1
    elif row[1] != 1:
        on_replica += 1
c.begin()
cur.execute("SELECT @@server_id")
in_transaction = cur.fetchone()[0]
cur.execute("INSERT INTO t (v) VALUES (-1)")
c.commit()
print(f"missed={missed} on_replica={on_replica} in_transaction={in_transaction}")
"#;

const PYMYSQL_LIMIT: &str = r#"
import pymysql, sys
host, port, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held = [pymysql.connect(host=host, port=port, user="app", password="app-pw") for _ in range(limit)]
try:
    pymysql.connect(host=host, port=port, user="app", password="app-pw")
    print("admitted")
except pymysql.err.OperationalError as e:
    print("refused", e.args[0])
"#;

const PYMYSQL_SWITCHOVER: &str = r#"
import pymysql, sys, os, time
host, port, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def connect():
    return pymysql.connect(host=host, port=port, user="app", password="app-pw",
                           database="proxylab", autocommit=True)
c = connect()
cur = c.cursor()
cur.execute("INSERT INTO t (v) VALUES (-2)")
open(d + "/ready", "w").close()
while not os.path.exists(d + "/go"):
    time.sleep(0.05)
try:
    cur.execute("INSERT INTO t (v) VALUES (-3)")
    old = "accepted"
except pymysql.err.MySQLError as e:
    old = "failed-%s" % e.args[0]
server = "none"
for attempt in range(100):
    try:
        c = connect()
        cur = c.cursor()
        c.begin()
        cur.execute("INSERT INTO t (v) VALUES (-4)")
        cur.execute("SELECT @@server_id")
        server = cur.fetchone()[0]
        c.commit()
        break
    except pymysql.err.MySQLError as e:
        server = "error-%s" % e.args[0]
        time.sleep(0.2)
print("old_session=%s new_session_server=%s" % (old, server))
"#;

/// A switchover under an open session: that session's next write fails with an error and
/// is not replayed; a new session writes on b.
fn switchover(lab: &Lab, config: &Path) {
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
    assert!(out.contains("old_session=failed-"), "{out}");
    assert!(out.trim_end().ends_with("new_session_server=2"), "{out}");
    let replayed = lab.b.sh_ok(&sql_on(
        &lab.run_dir().join("mysqld.sock"),
        "SELECT COUNT(*) FROM proxylab.t WHERE v = -3",
    ));
    assert_eq!(replayed, "0", "the failed write was applied");
}

/// Five clients that answer the greeting with 100 kB of random bytes.
const GARBAGE_CLIENT: &str = r#"
import os, socket, sys
for _ in range(5):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    try:
        s.recv(4096)
        s.sendall(os.urandom(100000))
    except OSError:
        pass
    s.close()
"#;

/// mysql_async (Rust): text reads go to a replica; a prepared statement (binary protocol)
/// pins the session to the primary, and its answers still come through whole.
fn mysql_async_client(lab: &Lab) {
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
fn lag_drains(lab: &Lab, r1: &LabNode) {
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

#[test]
fn proxy_splits_reads_and_writes_for_real_clients() {
    let lab = Lab::new();
    lab.mount_shared(&lab.a);
    lab.umount(&lab.a);
    let r1 = lab.extra_node("r1", 11);
    let r2 = lab.extra_node("r2", 12);
    let mut children = vec![start_replica(&lab, &r1, 11), start_replica(&lab, &r2, 12)];
    let config = proxy_config(&lab);
    children.push(start_daemon(&lab, &lab.a, &config));
    children.push(start_daemon(&lab, &lab.b, &config));
    wait_for(&lab, "a to serve", Duration::from_secs(30), || {
        serving(&lab.a, &config)
    });
    lab.a.sh_ok(&sql_on(
        &lab.run_dir().join("mysqld.sock"),
        "CREATE USER repl@'%' IDENTIFIED BY 'repl-pw'; GRANT REPLICATION SLAVE ON *.* TO repl@'%'; \
         CREATE USER app@'%' IDENTIFIED BY 'app-pw'; GRANT ALL ON proxylab.* TO app@'%'; \
         CREATE USER proxy@'%' IDENTIFIED BY 'proxy-pw'; \
         GRANT SELECT ON mysql.global_priv TO proxy@'%'; CREATE DATABASE proxylab; \
         CREATE TABLE proxylab.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
    ));
    for node in [&r1, &r2] {
        let socket = lab.run_dir().join("replica.sock");
        wait_for(&lab, "replicas to have the table", CATCH_UP_TIMEOUT, || {
            node.sh(&sql_on(&socket, "SELECT 1 FROM proxylab.t LIMIT 0"))
                .status
                .success()
        });
    }
    let log = lab.dir.join("proxy.log");
    children.push(lab.client.spawn(
        "sh",
        &[
            "-c",
            &format!(
                "exec env RUST_LOG=info {} --config {} proxy 2>>{}",
                proxy_bin(),
                config.display(),
                log.display()
            ),
        ],
    ));
    let replica_ids = ["11", "12"];
    wait_for(
        &lab,
        "the proxy to read from a replica",
        PROXY_READY_TIMEOUT,
        || {
            through_proxy(&lab, "app-pw", "SELECT @@server_id")
                .is_ok_and(|id| replica_ids.contains(&id.as_str()))
        },
    );

    // mariadb CLI: a write lands on the primary, an autocommit read on a replica, a
    // transaction's read on the primary.
    through_proxy(&lab, "app-pw", "INSERT INTO proxylab.t (v) VALUES (4242)").unwrap();
    let on_primary = lab.a.sh_ok(&sql_on(
        &lab.run_dir().join("mysqld.sock"),
        "SELECT COUNT(*) FROM proxylab.t WHERE v = 4242",
    ));
    assert_eq!(on_primary, "1");
    let read = through_proxy(&lab, "app-pw", "SELECT @@server_id").unwrap();
    assert!(
        replica_ids.contains(&read.as_str()),
        "read served by {read}"
    );
    let in_transaction = through_proxy(
        &lab,
        "app-pw",
        "BEGIN; SELECT @@server_id; SELECT COUNT(*) FROM proxylab.t; COMMIT",
    )
    .unwrap();
    assert!(in_transaction.starts_with("1\n"), "{in_transaction}");
    let rule = through_proxy(
        &lab,
        "app-pw",
        "SELECT @@server_id FROM DUAL WHERE 'primary, please' <> ''",
    )
    .unwrap();
    assert_eq!(rule, "1", "the rule sends this read to the primary");
    // USE runs on the primary and is re-issued on the replica before the read.
    let used = through_proxy(
        &lab,
        "app-pw",
        "USE proxylab; SELECT @@server_id, DATABASE()",
    )
    .unwrap();
    assert!(used == "11\tproxylab" || used == "12\tproxylab", "{used}");
    let wrong = through_proxy(&lab, "not-the-password", "SELECT 1").unwrap_err();
    assert!(wrong.contains("Access denied for user 'app'"), "{wrong}");

    // pymysql: read-your-writes, RYW_ROUNDS times; then a transaction.
    let script = lab.dir.join("ryw.py");
    std::fs::write(&script, PYMYSQL_CLIENT).unwrap();
    let (host, port) = PROXY.split_once(':').unwrap();
    let out = lab.client.sh_ok(&format!(
        "/usr/bin/python3 {} {host} {port} {RYW_ROUNDS}",
        script.display()
    ));
    eprintln!("pymysql through the proxy: {out}");
    assert!(out.contains("missed=0 "), "{out}");
    assert!(out.ends_with("in_transaction=1"), "{out}");
    let on_replica: u32 = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("on_replica="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        on_replica > 0,
        "no read after a write was served by a replica: {out}"
    );

    mysql_async_client(&lab);

    // One client more than max_connections gets MariaDB's "Too many connections".
    let limit = lab.dir.join("limit.py");
    std::fs::write(&limit, PYMYSQL_LIMIT).unwrap();
    let out = lab.client.sh_ok(&format!(
        "/usr/bin/python3 {} {host} {port} {MAX_CONNECTIONS}",
        limit.display()
    ));
    assert_eq!(out, "refused 1040", "{out}");

    // Random bytes instead of a login close that client only; the proxy serves on.
    let garbage = lab.dir.join("garbage.py");
    std::fs::write(&garbage, GARBAGE_CLIENT).unwrap();
    lab.client.sh_ok(&format!(
        "/usr/bin/python3 {} {host} {port}",
        garbage.display()
    ));
    assert_eq!(through_proxy(&lab, "app-pw", "SELECT 1").unwrap(), "1");

    // A replica that stops replicating is drained: reads go to the other one.
    let r1_socket = lab.run_dir().join("replica.sock");
    r1.sh_ok(&sql_on(&r1_socket, "STOP SLAVE"));
    wait_for(&lab, "the proxy to drain r1", PROXY_READY_TIMEOUT, || {
        through_proxy(&lab, "app-pw", "SELECT @@server_id").is_ok_and(|id| id == "12")
    });
    for _ in 0..5 {
        let id = through_proxy(&lab, "app-pw", "SELECT @@server_id").unwrap();
        assert_eq!(id, "12", "a read went to the drained replica");
    }
    r1.sh_ok(&sql_on(&r1_socket, "START SLAVE"));
    lag_drains(&lab, &r1);
    sysbench_figures(&lab, &[&r1, &r2]);
    switchover(&lab, &config);

    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    eprintln!("{}", std::fs::read_to_string(&log).unwrap_or_default());
}

/// sysbench oltp_read_only straight to the VIP and through the proxy: figures, not an
/// assertion (two shared cores make timings noise). Text protocol and no BEGIN/COMMIT, so
/// that the proxy may send the reads to the replicas.
fn sysbench_figures(lab: &Lab, replicas: &[&LabNode]) {
    let vip = crate::fixture::VIP;
    let common = "oltp_read_only --mysql-user=app --mysql-password=app-pw --mysql-db=proxylab \
                  --tables=2 --table-size=10000 --db-ps-mode=disable --skip_trx=on";
    lab.client.sh_ok(&format!(
        "sysbench {common} --mysql-host={vip} prepare >/dev/null"
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
    for (what, target) in [
        ("direct to the VIP", format!("--mysql-host={vip}")),
        (
            "through the proxy",
            format!("--mysql-host={host} --mysql-port={port}"),
        ),
    ] {
        let out = lab.client.sh_ok(&format!(
            "sysbench {common} {target} --threads=4 --time=10 --percentile=99 run"
        ));
        let figures: Vec<&str> = out
            .lines()
            .filter(|l| {
                [
                    "transactions:",
                    "queries:",
                    "min:",
                    "avg:",
                    "max:",
                    "99th percentile:",
                    "errors:",
                ]
                .iter()
                .any(|k| l.trim_start().starts_with(k))
            })
            .collect();
        eprintln!(
            "sysbench oltp_read_only, 4 threads, 10 s, {what}:\n{}",
            figures.join("\n")
        );
    }
}
