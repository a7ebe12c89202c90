//! Where one statement goes, pure. A session reads from a replica only when nothing ties it
//! to the primary: no transaction open (the primary's own server status says so after every
//! answer), autocommit on, no session state that lives only on the primary (temporary
//! tables, prepared statements, user variables, SET, locks). The first matching rule of the
//! operator's table decides next; then the statement's own words.
//!
//! ```text
//! pinned? ─► primary      in a transaction / autocommit off? ─► primary
//! rule table (first match) ─► primary | replica (a replica rule routes only a plain read)
//! SELECT without locking, INTO, user variables or session functions ─► replica
//! everything else ─► primary (CREATE TEMPORARY, PREPARE, LOCK, SET, @var also pin the session)
//! ```

use super::message::status;
use regex::Regex;

/// Where a statement runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Primary,
    Replica,
}

/// What a statement is, for routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A plain read: may run on a replica.
    Read,
    /// A read that must see the primary (locking, session functions, INTO): no data change.
    PrimaryRead,
    /// May change data: runs on the primary; the session's next read waits for its GTID.
    Write,
    /// Leaves state on the primary's session: runs there, and the session stays there.
    Pin,
    /// `USE db`: runs on the primary, then on each replica connection before its next read.
    Use(String),
    /// Not relayed at all: `KILL` names a connection id, and the ids a client sees are the
    /// proxy's, not the server's; relayed, it would kill some other client's connection.
    Refused,
}

/// One classification with its reason, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub kind: Kind,
    pub reason: &'static str,
}

/// Functions whose result depends on this session's earlier statements on the primary, or
/// that take locks there.
const PRIMARY_FUNCTIONS: [&str; 12] = [
    "LAST_INSERT_ID",
    "FOUND_ROWS",
    "ROW_COUNT",
    "NEXTVAL",
    "LASTVAL",
    "SETVAL",
    "MASTER_POS_WAIT",
    "MASTER_GTID_WAIT",
    "GET_LOCK",
    "RELEASE_LOCK",
    "RELEASE_ALL_LOCKS",
    "IS_USED_LOCK",
];
/// System variables that describe this session's last write on the primary.
const PRIMARY_VARIABLES: [&str; 3] = ["@@LAST_INSERT_ID", "@@IDENTITY", "@@LAST_GTID"];
/// Lock functions pin the session: the lock belongs to the primary connection.
const LOCK_FUNCTIONS: [&str; 3] = ["GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS"];

/// The statement's words, upper-cased, outside comments, string literals and quoted
/// identifiers (a literal becomes `?`, a quoted identifier `` ` ``); punctuation is one
/// token per character.
pub fn tokens(sql: &str) -> Vec<String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' || (c == '-' && next == Some('-')) {
            i = skip_until(&chars, i, "\n");
        } else if c == '/' && next == Some('*') {
            if chars.get(i + 2) == Some(&'!') || chars.get(i + 2) == Some(&'M') {
                // An executable comment runs as SQL: keep its words.
                out.push("/*!".to_string());
            }
            i = skip_until(&chars, i + 2, "*/");
        } else if c == '\'' || c == '"' || c == '`' {
            i = skip_quoted(&chars, i);
            out.push(if c == '`' { "`" } else { "?" }.to_string());
        } else if is_word(c) {
            let start = i;
            while i < chars.len() && is_word(chars[i]) {
                i += 1;
            }
            out.push(chars[start..i].iter().collect::<String>().to_uppercase());
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '@' || c == '$'
}

/// The index just past `end` (or the end of input), searching from `from`.
fn skip_until(chars: &[char], from: usize, end: &str) -> usize {
    let end: Vec<char> = end.chars().collect();
    let mut i = from;
    while i < chars.len() {
        if chars[i..].starts_with(&end) {
            return i + end.len();
        }
        i += 1;
    }
    chars.len()
}

/// The index just past the closing quote; a doubled quote or a backslash escapes.
fn skip_quoted(chars: &[char], from: usize) -> usize {
    let quote = chars[from];
    let mut i = from + 1;
    while i < chars.len() {
        if chars[i] == '\\' && quote != '`' {
            i += 2;
        } else if chars[i] == quote {
            if chars.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    chars.len()
}

/// Classifies one statement by its words.
pub fn classify(sql: &str) -> Classified {
    let words = tokens(sql);
    let c = |kind, reason| Classified { kind, reason };
    let word = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let has = |w: &str| words.iter().any(|t| t == w);
    let semicolon = words.iter().position(|t| t == ";");
    if semicolon.is_some_and(|at| at + 1 < words.len()) {
        return c(Kind::Write, "more than one statement");
    }
    if has("/*!") {
        return c(Kind::Write, "an executable comment");
    }
    if words
        .iter()
        .any(|t| t.starts_with('@') && !t.starts_with("@@"))
    {
        return c(Kind::Pin, "user variables live in the primary's session");
    }
    match word(0) {
        "SELECT" => classify_select(&words),
        "SET" => c(Kind::Pin, "SET changes the session"),
        "USE" => c(
            Kind::Use(use_target(sql)),
            "USE changes the default database",
        ),
        "PREPARE" | "EXECUTE" | "DEALLOCATE" => {
            c(Kind::Pin, "prepared statements live in the session")
        }
        "LOCK" => c(Kind::Pin, "LOCK TABLES holds locks in the session"),
        "CREATE" if word(1) == "TEMPORARY" || word(2) == "TEMPORARY" => {
            c(Kind::Pin, "temporary tables live in the session")
        }
        "BEGIN" | "START" | "XA" => c(Kind::Write, "a transaction starts"),
        "KILL" => c(
            Kind::Refused,
            "KILL through the proxy would name the wrong connection",
        ),
        "SHOW" | "DESCRIBE" | "DESC" | "EXPLAIN" | "HELP" => {
            c(Kind::PrimaryRead, "SHOW and EXPLAIN describe the primary")
        }
        _ => c(Kind::Write, "a statement that may change data"),
    }
}

fn classify_select(words: &[String]) -> Classified {
    let c = |kind, reason| Classified { kind, reason };
    let pair = |a: &str, b: &str| words.windows(2).any(|w| w[0] == a && w[1] == b);
    let function = |name: &str| pair(name, "(");
    if LOCK_FUNCTIONS.iter().any(|f| function(f)) {
        return c(Kind::Pin, "a lock function holds a lock in the session");
    }
    if pair("FOR", "UPDATE") || pair("SHARE", "MODE") {
        return c(Kind::PrimaryRead, "a locking read");
    }
    if words.iter().any(|t| t == "INTO") {
        return c(Kind::Write, "SELECT … INTO");
    }
    if PRIMARY_FUNCTIONS.iter().any(|f| function(f))
        || words
            .iter()
            .any(|t| PRIMARY_VARIABLES.contains(&t.as_str()))
        || words.iter().any(|t| t == "SQL_CALC_FOUND_ROWS")
    {
        return c(Kind::PrimaryRead, "a function of the primary session");
    }
    c(Kind::Read, "a plain read")
}

/// The database a `USE` names: the second word, without quotes or a trailing `;`.
fn use_target(sql: &str) -> String {
    let rest = sql.trim_start();
    let rest = rest.get(3..).unwrap_or("").trim();
    let rest = rest.trim_end_matches(';').trim();
    rest.trim_matches('`').to_string()
}

/// One rule of the operator's table: statements matching `pattern` go to `target`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub pattern: Regex,
    pub target: Target,
}

/// The routing state of one client session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// Why the session stays on the primary for good, once it does.
    pub pinned: Option<&'static str>,
    /// A transaction is open, or autocommit is off: as the primary's last status said.
    pub in_transaction: bool,
}

/// Where one statement goes, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub target: Target,
    pub kind: Kind,
    pub reason: String,
}

impl Session {
    /// Routes `sql`; a statement that pins the session pins it here.
    pub fn route(&mut self, sql: &str, rules: &[Rule]) -> Route {
        let classified = classify(sql);
        let route = |target, reason: String| Route {
            target,
            kind: classified.kind.clone(),
            reason,
        };
        if classified.kind == Kind::Refused {
            return route(Target::Primary, classified.reason.to_string());
        }
        if classified.kind == Kind::Pin && self.pinned.is_none() {
            self.pinned = Some(classified.reason);
        }
        if let Some(why) = self.pinned {
            return route(Target::Primary, format!("session pinned: {why}"));
        }
        if self.in_transaction {
            return route(Target::Primary, "in a transaction".to_string());
        }
        if let Some((n, rule)) = rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.pattern.is_match(sql))
        {
            let target = match rule.target {
                Target::Replica if classified.kind != Kind::Read => Target::Primary,
                target => target,
            };
            return route(
                target,
                format!("rule {} ({})", n + 1, rule.pattern.as_str()),
            );
        }
        let target = match classified.kind {
            Kind::Read => Target::Replica,
            _ => Target::Primary,
        };
        route(target, classified.reason.to_string())
    }

    /// Takes the server status of the primary's last answer.
    pub fn primary_status(&mut self, server_status: u16) {
        self.in_transaction =
            server_status & status::IN_TRANS != 0 || server_status & status::AUTOCOMMIT == 0;
    }

    /// Pins for prepared statements sent with COM_STMT_PREPARE.
    pub fn pin(&mut self, why: &'static str) {
        self.pinned.get_or_insert(why);
    }
}
