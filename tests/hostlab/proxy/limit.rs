//! The client limit next to MariaDB's own: a real server with `max_connections = 10` and the
//! proxy with `max_connections = 2`, each filled with silent raw connections until one is
//! refused. Both must answer that client the same way: an ERR packet 1040
//! (ER_CON_COUNT_ERROR) with sequence id 0 in place of the greeting, then the socket closed;
//! the mariadb CLI and pymysql then show their error text (printed, and checked for the code
//! and the words).

use super::{credentials, sql_on, start_replica, PROXY, PROXY_READY_TIMEOUT};
use crate::engine::{engine_config, wait_for};
use crate::fixture::Lab;

const REFUSED: &str = include_str!("refused.py");
/// The proxy's limit in this test: two silent clients fill it.
const PROXY_MAX_CONNECTIONS: u32 = 2;
/// The real server's limit, the lowest MariaDB takes; it admits one connection more before
/// it refuses at once (the extra one is kept for an administrator, checked at its login).
const SERVER_MAX_CONNECTIONS: u32 = 10;
/// More raw connections than either limit lets through.
const MOST_CONNECTIONS: u32 = 30;

/// The value of `key=value` on the line of `out` that starts with `line`.
fn field<'a>(out: &'a str, line: &str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(line))
        .and_then(|l| {
            l.split(' ')
                .find_map(|w| w.strip_prefix(&format!("{key}=")))
        })
        .unwrap_or_else(|| panic!("no {key}= on the {line:?} line of:\n{out}"))
}

/// Fills `host:port` with `refused.py`; checks the shape both share (ERR 1040 with sequence
/// id 0 in place of the greeting, then the socket closed; the CLI shows the code and the
/// words) and returns the script's output.
fn refused(lab: &Lab, script: &std::path::Path, host: &str, port: &str) -> String {
    let out = lab.client.sh_ok(&format!(
        "/usr/bin/python3 {} {host} {port} {MOST_CONNECTIONS}",
        script.display()
    ));
    eprintln!("refused by {host}:{port}:\n{out}");
    assert_eq!(field(&out, "packet", "seq"), "0", "{out}");
    assert_eq!(field(&out, "packet", "code"), "1040", "{out}");
    assert_eq!(field(&out, "packet", "closed"), "True", "{out}");
    let cli = out.lines().find(|l| l.starts_with("cli ")).unwrap_or("");
    assert!(cli.contains("1040 - Too many connections"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("pymysql (1040, ")),
        "{out}"
    );
    out
}

#[test]
fn proxy_refuses_a_client_beyond_max_connections_as_mariadb_does() {
    let lab = Lab::new();
    let mut children = vec![start_replica(&lab, &lab.a, 1)];
    lab.a.sh_ok(&sql_on(
        &lab.run_dir().join("replica.sock"),
        &format!("SET GLOBAL max_connections = {SERVER_MAX_CONNECTIONS}"),
    ));
    let proxy = credentials(&lab, "proxy", "proxy", "proxy-pw");
    let config = lab.dir.join("limit.toml");
    let text = format!(
        "{}[proxy]\nlisten = \"{PROXY}\"\ncredentials_file = \"{}\"\n\
         max_connections = {PROXY_MAX_CONNECTIONS}\n",
        std::fs::read_to_string(engine_config(&lab)).unwrap(),
        proxy.display()
    );
    std::fs::write(&config, text).unwrap();
    children.push(super::spawn_proxy(&lab, &config));
    let (host, port) = PROXY.split_once(':').unwrap();
    wait_for(&lab, "the proxy to listen", PROXY_READY_TIMEOUT, || {
        let probe = format!("exec 3<>/dev/tcp/{host}/{port}");
        lab.client
            .sh(&format!("bash -c '{probe}'"))
            .status
            .success()
    });
    let script = lab.dir.join("refused.py");
    std::fs::write(&script, REFUSED).unwrap();
    let server = refused(&lab, &script, &lab.a.ip, "3306");
    let proxied = refused(&lab, &script, host, port);
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert_eq!(field(&server, "packet", "held"), "11", "{server}");
    assert_eq!(field(&proxied, "packet", "held"), "2", "{proxied}");
    // Unlike the server, the proxy sends the SQL state (08004) with its marker: libmariadb
    // reads either, and Debian's pymysql 1.0.2 reads the message only after one (it cuts
    // the server's to "ny connections").
    assert_eq!(field(&proxied, "packet", "sqlstate"), "08004", "{proxied}");
    assert!(
        proxied.contains("pymysql (1040, 'Too many connections (tandem proxy max_connections)')"),
        "{proxied}"
    );
}
