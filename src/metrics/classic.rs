//! The classic Prometheus text format, derived from the OpenMetrics text.

/// OpenMetrics text → the classic Prometheus text format (0.0.4), for clients that do not
/// ask for OpenMetrics (`curl`, `promtool check metrics`). The two differ only where this
/// renderer's output uses them: a counter family is named without `_total` in OpenMetrics
/// and with it in the classic format, and only OpenMetrics ends with `# EOF`.
pub fn to_classic_text(openmetrics: &str) -> String {
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = match line.strip_suffix(" counter") {
            Some(head) if line.starts_with("# TYPE ") => Some(format!("{head}_total counter")),
            _ => None,
        };
        match renamed {
            Some(line) => text.push_str(&line),
            None => text.push_str(&counter_help(line, openmetrics)),
        }
        text.push('\n');
    }
    text
}

/// `# HELP name …` of a counter family, renamed to `name_total`; any other line as it is.
fn counter_help(line: &str, openmetrics: &str) -> String {
    let Some(rest) = line.strip_prefix("# HELP ") else {
        return line.to_string();
    };
    let name = rest.split(' ').next().unwrap_or_default();
    if openmetrics.contains(&format!("# TYPE {name} counter\n")) {
        format!("# HELP {name}_total{}", &rest[name.len()..])
    } else {
        line.to_string()
    }
}
