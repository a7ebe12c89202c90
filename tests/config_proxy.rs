//! `[proxy]` validation: refusals at file:line:column, in sentences.

use std::path::Path;
use tandem::config::Config;

const EXAMPLE: &str = include_str!("../resources/tandem.toml");

const PROXY: &str = "
[replication]
binlog_dir = \"/var/lib/mysql-ha/binlog\"
server_ids = { db-a = 1, db-b = 2 }
credentials_file = \"/etc/tandem/replication.cred\"

[[replica]]
name = \"r1\"
host = \"10.0.0.21\"
credentials_file = \"/etc/tandem/replica-r1.cred\"

[proxy]
listen = \"0.0.0.0:3307\"
credentials_file = \"/etc/tandem/proxy.cred\"
max_lag_s = 3

[[proxy.rule]]
pattern = \"(?i)^select .* from reports\"
route = \"replica\"
";

fn with_proxy(from: &str, to: &str) -> String {
    assert!(PROXY.contains(from), "proxy has no {from:?}");
    format!("{EXAMPLE}{}", PROXY.replacen(from, to, 1))
}

fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).unwrap();
    text[..at].matches('\n').count() + 1
}

fn refusal(text: &str) -> String {
    match Config::parse(text, Path::new("/etc/tandem/tandem.toml")) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_proxy_section_is_optional_and_takes_defaults() {
    let config = Config::parse(&with_proxy("", ""), Path::new("t.toml")).unwrap();
    let proxy = config.proxy.unwrap();
    assert_eq!(*proxy.max_lag_s.get_ref(), 3);
    assert_eq!(*proxy.max_connections.get_ref(), 500);
    assert_eq!(*proxy.primary_port.get_ref(), 3306);
    assert_eq!(proxy.rule.len(), 1);
    assert!(Config::parse(EXAMPLE, Path::new("t.toml"))
        .unwrap()
        .proxy
        .is_none());
}

/// The example's commented `[proxy]` section with its leading `# ` removed, after the
/// example itself and a replica.
fn example_proxy_uncommented() -> String {
    let start = EXAMPLE
        .find("\n# [proxy]\n")
        .expect("resources/tandem.toml has a commented [proxy] example");
    let section: Vec<&str> = EXAMPLE[start + 1..]
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .or_else(|| l.strip_prefix('#'))
                .unwrap_or(l)
        })
        .collect();
    let replica = &PROXY[..PROXY.find("[proxy]").unwrap()];
    format!("{EXAMPLE}{replica}{}\n", section.join("\n"))
}

#[test]
fn the_shipped_proxy_example_is_valid_once_uncommented() {
    let text = example_proxy_uncommented();
    let config = Config::parse(&text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"));
    let proxy = config.proxy.expect("[proxy]");
    assert_eq!(proxy.listen.get_ref(), "0.0.0.0:3307");
    assert_eq!(
        proxy.credentials_file.get_ref(),
        Path::new("/etc/tandem/proxy.cred")
    );
    assert_eq!(*proxy.max_connections.get_ref(), 500);
    assert_eq!(*proxy.max_lag_s.get_ref(), 5);
    assert_eq!(proxy.tandemd_metrics.unwrap().get_ref().len(), 2);
    assert_eq!(proxy.metrics_listen.unwrap().get_ref(), "127.0.0.1:9943");
    assert_eq!(proxy.rule.len(), 1);
    assert_eq!(proxy.rule[0].route.get_ref(), "primary");
    // Its refusals name the uncommented file's lines, like any other section's.
    let live = text
        .rfind("\nmax_lag_s = 5 ")
        .expect("an uncommented max_lag_s");
    let bad = format!("{}\nmax_lag_s = 5000{}", &text[..live], &text[live + 14..]);
    assert_eq!(
        refusal(&bad),
        format!(
            "/etc/tandem/tandem.toml:{}:13: max_lag_s = 5000 is above 3600; reads that stale \
             are no read scaling, send them to the primary instead",
            line_of(&bad, "max_lag_s = 5000")
        )
    );
}

#[test]
fn a_bad_listen_address_rule_and_route_are_refused_where_they_stand() {
    let text = with_proxy("0.0.0.0:3307", "0.0.0.0");
    let line = line_of(&text, "listen = \"0.0.0.0\"");
    assert_eq!(
        refusal(&text),
        format!(
            "/etc/tandem/tandem.toml:{line}:10: listen = \"0.0.0.0\" is not an address and \
             port; use e.g. \"0.0.0.0:3307\""
        )
    );
    let text = with_proxy("(?i)^select .* from reports", "(unclosed");
    let line = line_of(&text, "pattern = \"(unclosed");
    assert!(
        refusal(&text).starts_with(&format!(
            "/etc/tandem/tandem.toml:{line}:11: pattern is not a valid regular expression"
        )),
        "{}",
        refusal(&text)
    );
    let text = with_proxy("route = \"replica\"", "route = \"slave\"");
    let line = line_of(&text, "route = \"slave\"");
    assert_eq!(
        refusal(&text),
        format!(
            "/etc/tandem/tandem.toml:{line}:9: route = \"slave\" is not valid; use \"primary\" \
             or \"replica\""
        )
    );
}

#[test]
fn limits_are_bounded() {
    let text = with_proxy("max_lag_s = 3", "max_lag_s = 7200\nmax_connections = 0");
    let error = refusal(&text);
    assert!(error.contains("max_lag_s = 7200 is above 3600"), "{error}");
    assert!(
        error.contains("max_connections = 0 is outside 1..=50000"),
        "{error}"
    );
}

#[test]
fn tandemd_metrics_endpoints_are_addresses_one_per_node() {
    let text = with_proxy(
        "max_lag_s = 3",
        "max_lag_s = 3\ntandemd_metrics = [\"10.0.0.1:9942\", \"10.0.0.2:9942\"]",
    );
    let config = Config::parse(&text, Path::new("t.toml")).unwrap();
    let endpoints = config.proxy.unwrap().tandemd_metrics.unwrap();
    assert_eq!(endpoints.get_ref().len(), 2);
    let text = with_proxy(
        "max_lag_s = 3",
        "max_lag_s = 3\ntandemd_metrics = [\"db-a\"]",
    );
    let line = line_of(&text, "tandemd_metrics = [\"db-a\"]");
    assert_eq!(
        refusal(&text),
        format!(
            "/etc/tandem/tandem.toml:{line}:19: tandemd_metrics entry \"db-a\" is not an \
             address and port; use a node's [metrics] listen, e.g. \"10.0.0.1:9942\""
        )
    );
    let text = with_proxy("max_lag_s = 3", "max_lag_s = 3\ntandemd_metrics = []");
    assert_eq!(
        refusal(&text),
        format!(
            "/etc/tandem/tandem.toml:{}:19: tandemd_metrics lists 0 endpoints; list each \
             node's [metrics] listen once (1 or 2), or leave the key out",
            line_of(&text, "tandemd_metrics = []")
        )
    );
}

#[test]
fn the_proxy_metrics_listener_is_an_address() {
    let text = with_proxy(
        "max_lag_s = 3",
        "max_lag_s = 3\nmetrics_listen = \"localhost\"",
    );
    let line = line_of(&text, "metrics_listen = \"localhost\"");
    assert_eq!(
        refusal(&text),
        format!(
            "/etc/tandem/tandem.toml:{line}:18: metrics_listen = \"localhost\" is not an \
             address and port; use e.g. \"127.0.0.1:9943\""
        )
    );
    let text = with_proxy(
        "max_lag_s = 3",
        "max_lag_s = 3\nmetrics_listen = \"127.0.0.1:9943\"",
    );
    assert!(Config::parse(&text, Path::new("t.toml")).is_ok());
}
