//! Config errors as sentences that name the file, line and column, and say how to fix it.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem at one place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read {}: {source}; create it from resources/tandem.toml or pass --config PATH",
        path.display()
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems, rendered one per line as `file:line:column: sentence`.
    pub fn lines(&self) -> Vec<String> {
        self.to_string().lines().map(str::to_string).collect()
    }
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| format!("{}:{}:{}: {}", path.display(), p.line, p.column, p.message))
        .collect();
    lines.join("\n")
}

/// Turns byte offsets into 1-based line and column numbers (columns count characters).
pub struct Locator<'a> {
    text: &'a str,
}

impl<'a> Locator<'a> {
    pub fn new(text: &'a str) -> Self {
        Self { text }
    }

    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    pub fn problem(&self, span: Range<usize>, message: String) -> Problem {
        let (line, column) = self.line_column(span.start);
        Problem {
            line,
            column,
            message,
        }
    }

    /// The `[table]` or `[[table]]` header in force at `offset`, for messages like
    /// "unknown key `x` in [drbd]".
    pub fn table_at(&self, offset: usize) -> String {
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        // Include the whole line at `offset`: a span may start at the header itself.
        let line_end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        self.text[..line_end]
            .lines()
            .rev()
            .map(str::trim_start)
            .find(|l| l.starts_with('['))
            .and_then(|l| {
                l.find(']')
                    .map(|end| l[..=end].trim_end_matches(']').to_string())
            })
            .map(|h| {
                if h.starts_with("[[") {
                    format!("{h}]]")
                } else {
                    format!("{h}]")
                }
            })
            .unwrap_or_else(|| "the top level".to_string())
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Turns a toml/serde message into tandem's sentence. serde's own messages for unknown and
/// missing keys are rewritten, with a did-you-mean; ours (from `words.rs`) pass through.
pub fn rewrite_serde_message(message: &str, table: &str) -> String {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = expected
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| !s.is_empty())
            .collect();
        return match did_you_mean(key, &candidates) {
            Some(best) => format!("unknown key `{key}` in {table}; did you mean `{best}`?"),
            None if candidates.is_empty() => {
                format!("unknown key `{key}` in {table}; remove it")
            }
            None => format!(
                "unknown key `{key}` in {table}; remove it, or use one of: {}",
                candidates.join(", ")
            ),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let key = rest.split('`').next().unwrap_or(rest);
        return format!(
            "missing key `{key}` in {table}; add it (docs/configuration.md describes every key)"
        );
    }
    message.to_string()
}

/// The closest known key, if it is close enough to be a typo.
pub fn did_you_mean<'a>(key: &str, candidates: &[&'a str]) -> Option<&'a str> {
    /// Below this similarity a suggestion confuses more than it helps.
    const MIN_SIMILARITY: f64 = 0.7;
    candidates
        .iter()
        .map(|c| (*c, strsim::normalized_damerau_levenshtein(key, c)))
        .filter(|(_, score)| *score >= MIN_SIMILARITY)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let loc = Locator::new("a = 1\nbé = 2\n");
        assert_eq!(loc.line_column(0), (1, 1));
        assert_eq!(loc.line_column(6), (2, 1));
        assert_eq!(loc.line_column(10), (2, 4));
        assert_eq!(loc.line_column(999), (3, 1));
    }

    #[test]
    fn table_header_in_force() {
        let text = "x = 1\n[drbd]\nprotocl = 2\n[[node]]\nnme = 3\n";
        let loc = Locator::new(text);
        assert_eq!(loc.table_at(2), "the top level");
        assert_eq!(loc.table_at(text.find("protocl").unwrap()), "[drbd]");
        assert_eq!(loc.table_at(text.find("nme").unwrap()), "[[node]]");
    }

    #[test]
    fn unknown_field_gets_a_suggestion() {
        let msg = "unknown field `protocl`, expected one of `resource`, `protocol`, `fencing`";
        assert_eq!(
            rewrite_serde_message(msg, "[drbd]"),
            "unknown key `protocl` in [drbd]; did you mean `protocol`?"
        );
        let msg = "unknown field `zzz`, expected `a` or `b`";
        assert_eq!(
            rewrite_serde_message(msg, "[x]"),
            "unknown key `zzz` in [x]; remove it, or use one of: a, b"
        );
    }
}
