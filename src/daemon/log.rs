//! Log lines on stderr. When systemd connects stderr to the journal (it sets
//! `JOURNAL_STREAM`), each line starts with its syslog priority `<N>` (sd-daemon(3)) and
//! carries no timestamp: journald stamps the line itself and stores the priority, so that
//! `journalctl -u tandemd -p warning` shows warnings and errors only.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// systemd sets it when stderr is a journal stream.
const JOURNAL_STREAM: &str = "JOURNAL_STREAM";

/// The syslog priority of a tracing level: err, warning, info, debug.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Formats like `inner`, after a `<N>` priority prefix.
pub struct Prioritized<F> {
    inner: F,
}

impl<S, N, F> FormatEvent<S, N> for Prioritized<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(event.metadata().level()))?;
        self.inner.format_event(ctx, writer, event)
    }
}

/// The journal's line format: priority, message and fields; no time, level or colour.
pub fn journal_format() -> Prioritized<Format<Full, ()>> {
    Prioritized {
        inner: tracing_subscriber::fmt::format()
            .without_time()
            .with_level(false)
            .with_target(false)
            .with_ansi(false),
    }
}

/// Under systemd with stderr connected to the journal.
pub fn to_journal() -> bool {
    std::env::var_os(JOURNAL_STREAM).is_some()
}

/// A fatal error as printed before exiting: `tandemd: ` first; under the journal every line
/// (a config error has one per problem) carries the error priority `<3>`.
pub fn fatal_text(message: &str, journal: bool) -> String {
    let text = format!("tandemd: {message}");
    if !journal {
        return text;
    }
    let lines: Vec<String> = text.lines().map(|line| format!("<3>{line}")).collect();
    lines.join("\n")
}

/// Installs the stderr logger: the journal's format under systemd, else timestamped lines
/// (coloured on a terminal). `RUST_LOG` filters; the default is `info`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if to_journal() {
        builder
            .with_ansi(false)
            .event_format(journal_format())
            .init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    #[test]
    fn fatal_errors_carry_the_error_priority_on_every_line_under_the_journal() {
        let message = "t.toml:3:1: first problem\nt.toml:9:5: second problem";
        assert_eq!(
            fatal_text(message, true),
            "<3>tandemd: t.toml:3:1: first problem\n<3>t.toml:9:5: second problem"
        );
        assert_eq!(fatal_text(message, false), format!("tandemd: {message}"));
    }

    #[test]
    fn journal_lines_start_with_the_syslog_priority_and_carry_no_time() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .with_ansi(false)
            .with_max_level(Level::DEBUG)
            .event_format(journal_format())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!("cannot write the journal");
            tracing::warn!(failures = 2, "mysqld health check failed");
            tracing::info!(reason = "no action: idle", "decision");
            tracing::debug!("control connection ended");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "<3>cannot write the journal\n\
             <4>mysqld health check failed failures=2\n\
             <6>decision reason=\"no action: idle\"\n\
             <7>control connection ended\n"
        );
    }
}
