//! The server's command line and the files tandem derives from the config. Pure, so that the
//! exact arguments are unit-tested and `tandem check` can print them.

use crate::config::MysqldSettings;
use std::path::{Path, PathBuf};

/// The error log's file name inside the datadir. It lives with the data so that the crash
/// recovery history moves with the disk on failover and survives a reboot (the socket
/// directory is usually a tmpfs).
pub const ERROR_LOG_FILE: &str = "mysqld.err";
/// The pid file's name, next to the socket: it describes this boot's process, not the data.
pub const PID_FILE: &str = "mysqld.pid";
/// What the server writes to stderr before it has opened its error log (bad options,
/// `--log-error` unwritable). tandem points the child's stdout and stderr here, truncated on
/// every start, so that a failed start can be explained even then.
pub const STDERR_FILE: &str = "mysqld.stderr";

/// The full argument list, in the order the server requires:
/// 1. `--defaults-file=X` if configured, else `--no-defaults` (both must come first);
/// 2. `--user`, which the server needs to run at all when started by root;
/// 3. `--datadir`, `--socket`, `--pid-file=<socket dir>/mysqld.pid`, `--port`;
/// 4. `--log-error=<datadir>/mysqld.err` (see [`ERROR_LOG_FILE`]);
/// 5. the configured `args`, last, so that an operator can override any of the above
///    (the server takes the last occurrence of an option).
///
/// These command-line options also override the same keys in a defaults file.
pub fn server_args(cfg: &MysqldSettings) -> Vec<String> {
    let datadir = &cfg.datadir;
    let first = match &cfg.defaults_file {
        Some(file) => format!("--defaults-file={}", file.display()),
        None => "--no-defaults".to_string(),
    };
    let mut args = vec![
        first,
        format!("--user={}", cfg.user),
        format!("--datadir={}", datadir.display()),
        format!("--socket={}", cfg.socket.display()),
        format!("--pid-file={}", pid_file_path(cfg).display()),
        format!("--port={}", cfg.port),
        format!("--log-error={}", datadir.join(ERROR_LOG_FILE).display()),
    ];
    args.extend(cfg.args.iter().cloned());
    args
}

/// The directory of the socket; the pid file and the stderr capture live there too.
/// A bare socket name (no directory) falls back to the datadir, as the server would.
pub fn socket_dir(cfg: &MysqldSettings) -> PathBuf {
    match cfg.socket.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => cfg.datadir.clone(),
    }
}

/// `<socket dir>/mysqld.pid`.
pub fn pid_file_path(cfg: &MysqldSettings) -> PathBuf {
    socket_dir(cfg).join(PID_FILE)
}

/// `<socket dir>/mysqld.stderr`.
pub fn stderr_path(cfg: &MysqldSettings) -> PathBuf {
    socket_dir(cfg).join(STDERR_FILE)
}

/// The error log the server will write: the last `--log-error=` / `--log_error=` in `args`
/// if an operator overrode it (relative paths are relative to the datadir, as for the server),
/// else `<datadir>/mysqld.err`. `None` when the override names no file (`--log-error` alone
/// or empty), because then the server picks a host-dependent name.
pub fn error_log_path(cfg: &MysqldSettings) -> Option<PathBuf> {
    let datadir = &cfg.datadir;
    let overridden = cfg.args.iter().rev().find_map(|arg| log_error_value(arg));
    match overridden {
        None => Some(datadir.join(ERROR_LOG_FILE)),
        Some(None) => None,
        Some(Some("")) => None,
        Some(Some(value)) => Some(datadir.join(Path::new(value))),
    }
}

/// For a `--log-error…` argument: `Some(Some(value))` with `=value`, `Some(None)` without.
fn log_error_value(arg: &str) -> Option<Option<&str>> {
    let rest = arg
        .strip_prefix("--log-error")
        .or_else(|| arg.strip_prefix("--log_error"))?;
    if rest.is_empty() {
        return Some(None);
    }
    rest.strip_prefix('=').map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> MysqldSettings {
        let text =
            format!("datadir = \"/srv/mysql/data\"\nsocket = \"/run/tandem/mysqld.sock\"\n{extra}");
        parse(&text)
    }

    fn parse(text: &str) -> MysqldSettings {
        let model: crate::config::Mysqld = toml::from_str(text).unwrap();
        MysqldSettings::from(&model)
    }

    #[test]
    fn no_defaults_file_gives_no_defaults_first_and_config_args_last() {
        let cfg = config("args = [\"--skip-name-resolve\", \"--port=3307\"]\n");
        assert_eq!(
            server_args(&cfg),
            [
                "--no-defaults",
                "--user=mysql",
                "--datadir=/srv/mysql/data",
                "--socket=/run/tandem/mysqld.sock",
                "--pid-file=/run/tandem/mysqld.pid",
                "--port=3306",
                "--log-error=/srv/mysql/data/mysqld.err",
                "--skip-name-resolve",
                "--port=3307",
            ]
        );
    }

    #[test]
    fn defaults_file_comes_first_instead_of_no_defaults() {
        let cfg = config("defaults_file = \"/etc/mysql/tandem.cnf\"\nuser = \"db\"\nport = 3310\n");
        let args = server_args(&cfg);
        assert_eq!(args[0], "--defaults-file=/etc/mysql/tandem.cnf");
        assert!(!args.iter().any(|a| a == "--no-defaults"));
        assert_eq!(args[1], "--user=db");
        assert_eq!(args[5], "--port=3310");
        assert_eq!(args.len(), 7);
    }

    #[test]
    fn bare_socket_name_puts_pid_file_in_datadir() {
        let cfg = parse("datadir = \"/srv/d\"\nsocket = \"mysqld.sock\"\n");
        assert_eq!(pid_file_path(&cfg), Path::new("/srv/d/mysqld.pid"));
        assert_eq!(stderr_path(&cfg), Path::new("/srv/d/mysqld.stderr"));
    }

    #[test]
    fn error_log_follows_the_last_override() {
        assert_eq!(
            error_log_path(&config("")),
            Some(PathBuf::from("/srv/mysql/data/mysqld.err"))
        );
        let cfg = config("args = [\"--log-error=/var/log/a.err\", \"--log_error=b.err\"]\n");
        assert_eq!(
            error_log_path(&cfg),
            Some(PathBuf::from("/srv/mysql/data/b.err"))
        );
        let cfg = config("args = [\"--log-error=/var/log/a.err\"]\n");
        assert_eq!(error_log_path(&cfg), Some(PathBuf::from("/var/log/a.err")));
        assert_eq!(error_log_path(&config("args = [\"--log-error\"]\n")), None);
        assert_eq!(error_log_path(&config("args = [\"--log-error=\"]\n")), None);
        let cfg = config("args = [\"--log-error-verbosity=3\"]\n");
        assert_eq!(
            error_log_path(&cfg),
            Some(PathBuf::from("/srv/mysql/data/mysqld.err"))
        );
    }
}
