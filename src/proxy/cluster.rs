//! What tandemd says about the pair, pure: each node's `GET /metrics` answer read into a
//! [`NodeView`] (its decision's mode and sentence, and whether every layer of its service
//! chain is up), and the views of both nodes turned into one [`Primary`] verdict that the
//! proxy acts on (`runtime/cluster.rs` does the scraping).
//!
//! The verdict is `None` (new sessions get an error at once, naming the state) only when a
//! tandemd that answered proves it: one of them is changing state (promoting, demoting,
//! fencing…), or both answered and neither serves. A silent node with an idle peer proves
//! nothing (the silent one may serve well), so that is `Unknown`: connect to the VIP as
//! without tandemd.

/// The modes in which a node is on its way somewhere (src/core/mode.rs): while one of them
/// stands and nobody serves, the service is moving.
const MOVING_MODES: [&str; 5] = ["Starting", "Promoting", "Demoting", "Fencing", "Resolving"];
/// An HTTP answer's head longer than this is not tandemd's metrics endpoint.
const MAX_HEAD_BYTES: usize = 8 * 1024;

/// One tandemd's view of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// The node's name (`node` label).
    pub node: String,
    /// Its mode, e.g. `Active`, `Standby`, `Promoting` (`tandem_decision_info{mode}`).
    pub mode: String,
    /// Its decision's sentence (`tandem_decision_info{reason}`).
    pub reason: String,
    /// Every layer of its service chain (DRBD Primary, mount, mysqld, VIP) is up.
    pub serving: bool,
}

/// Why an answer is not a tandemd's view.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeError {
    #[error("not an HTTP answer")]
    NotHttp,
    #[error("answered {status:?} instead of 200 OK")]
    Status { status: String },
    #[error("no tandem_decision_info series: is this tandemd's [metrics] listen?")]
    NoDecision,
}

/// The proxy's verdict on where new sessions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Primary {
    /// No tandemd configured, or none that answered proves anything: use the VIP.
    Unknown,
    /// This node serves: the VIP is on it.
    Active { node: String },
    /// Nobody serves now; the sentence says what each tandemd says.
    None { sentence: String },
}

/// One endpoint's reading: its address and its view, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub endpoint: String,
    pub view: Result<NodeView, String>,
}

/// The body of an HTTP/1.x answer with status 200.
pub fn http_body(answer: &[u8]) -> Result<&[u8], ScrapeError> {
    let head_end = answer
        .windows(4)
        .take(MAX_HEAD_BYTES)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(ScrapeError::NotHttp)?;
    let head = String::from_utf8_lossy(&answer[..head_end]);
    let status_line = head.lines().next().unwrap_or_default();
    let mut words = status_line.splitn(3, ' ');
    if !words.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(ScrapeError::NotHttp);
    }
    let status = words.collect::<Vec<_>>().join(" ");
    if !status.starts_with("200") {
        return Err(ScrapeError::Status { status });
    }
    Ok(&answer[head_end + 4..])
}

/// The view in a metrics text (OpenMetrics or the classic format).
pub fn parse_metrics(text: &str) -> Result<NodeView, ScrapeError> {
    let mut view: Option<NodeView> = None;
    let mut layers: Vec<bool> = Vec::new();
    for line in text.lines() {
        let Some((name, labels, value)) = sample(line) else {
            continue;
        };
        let label = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        match name {
            "tandem_decision_info" => {
                view = Some(NodeView {
                    node: label("node"),
                    mode: label("mode"),
                    reason: label("reason"),
                    serving: false,
                });
            }
            "tandem_service_up" => layers.push(value.parse::<f64>().is_ok_and(|v| v == 1.0)),
            _ => {}
        }
    }
    let mut view = view.ok_or(ScrapeError::NoDecision)?;
    view.serving = !layers.is_empty() && layers.iter().all(|up| *up);
    Ok(view)
}

/// A sample's labels, unescaped: (name, value).
type Labels = Vec<(String, String)>;

/// One sample line: its name, labels and value; `None` for comments and lines that are not
/// samples.
fn sample(line: &str) -> Option<(&str, Labels, &str)> {
    if line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = label_set(inner)?;
        labels = parsed;
        rest = after;
    }
    let value = rest.split_whitespace().next()?;
    Some((name, labels, value))
}

/// `key="value",…}` → the pairs and what follows the `}`. Values unescape `\\`, `\"`, `\n`.
fn label_set(mut text: &str) -> Option<(Labels, &str)> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start_matches(',');
        if let Some(after) = text.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, rest) = text.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key.trim().to_string(), value));
        text = &rest[end + 1..];
    }
}

/// The verdict from every endpoint's reading.
pub fn decide(readings: &[Reading]) -> Primary {
    let views: Vec<&NodeView> = readings
        .iter()
        .filter_map(|r| r.view.as_ref().ok())
        .collect();
    let serving: Vec<&str> = views
        .iter()
        .filter(|v| v.serving)
        .map(|v| v.node.as_str())
        .collect();
    match serving.as_slice() {
        [node] => {
            return Primary::Active {
                node: node.to_string(),
            }
        }
        [] => {}
        many => {
            return Primary::None {
                sentence: format!(
                    "two nodes say they serve ({}): refusing until one stops",
                    many.join(", ")
                ),
            }
        }
    }
    let moving = views
        .iter()
        .any(|v| MOVING_MODES.contains(&v.mode.as_str()));
    let mut nodes: Vec<&str> = views.iter().map(|v| v.node.as_str()).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let all_heard = nodes.len() >= 2 && views.len() == readings.len();
    if !(moving || all_heard) {
        return Primary::Unknown;
    }
    let said: Vec<String> = readings.iter().map(said).collect();
    Primary::None {
        sentence: format!("no active node: {}", said.join("; ")),
    }
}

/// Why a session that logged in while `node` served (`None`: while the verdict was unknown)
/// has lost its primary under the verdict `now`, if it has: nobody serves, or another node
/// does. Its statement in flight may or may not have been applied; it is failed, never
/// replayed.
pub fn lost(node: Option<&str>, now: &Primary) -> Option<String> {
    match (node, now) {
        (_, Primary::None { sentence }) => Some(sentence.clone()),
        (Some(was), Primary::Active { node }) if was != node => {
            Some(format!("the primary moved from {was} to {node}"))
        }
        _ => None,
    }
}

/// What one endpoint said, as a clause.
fn said(reading: &Reading) -> String {
    match &reading.view {
        Ok(v) => format!("tandemd on {} says {}: {}", v.node, v.mode, v.reason),
        Err(e) => format!("tandemd at {} did not answer ({e})", reading.endpoint),
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
