//! Credentials files: a MariaDB account's user and password, kept out of `tandem.toml`, e.g.
//!
//! ```text
//! # the replication account on the source
//! user = repl
//! password = s3cret
//! ```
//! One `key = value` per line, `#` comments, values taken verbatim after the `=` and its
//! surrounding blanks. The file must be owned by root and readable by nobody else (0600 or
//! 0400). Every refusal names `file:line` and the fix.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A credentials file larger than this is not one (a wrong path, a key file).
const MAX_CREDENTIALS_BYTES: u64 = 4096;
/// Group and other permission bits: none may be set.
const GROUP_OTHER_BITS: u32 = 0o077;

/// A user and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

/// The password never appears in logs or debug output.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials {{ user: {:?}, password: <hidden> }}",
            self.user
        )
    }
}

/// Why a credentials file cannot be used; each reads `file:line: what; how to fix it`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", place(path, *line))]
pub struct CredentialsError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

/// `file:line`, or just `file` for problems of the file as a whole (line 0).
fn place(path: &Path, line: usize) -> String {
    match line {
        0 => path.display().to_string(),
        line => format!("{}:{line}", path.display()),
    }
}

/// Reads `path`, checking owner and mode first, then the content.
pub fn load(path: &Path) -> Result<Credentials, CredentialsError> {
    let refuse = |message: String| CredentialsError {
        path: path.to_path_buf(),
        line: 0,
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        refuse(format!(
            "cannot read it: {e}; create it with `user = NAME` and `password = SECRET` lines, \
             mode 0600, owned by root"
        ))
    })?;
    check_owner_and_mode(meta.uid(), meta.mode(), meta.len()).map_err(refuse)?;
    let text = std::fs::read_to_string(path).map_err(|e| refuse(format!("cannot read it: {e}")))?;
    parse(&text, path)
}

/// Owned by root, no group or other bits, a plausible size.
pub fn check_owner_and_mode(uid: u32, mode: u32, size: u64) -> Result<(), String> {
    if uid != 0 {
        return Err(format!(
            "it is owned by uid {uid}, not root; it holds a password: `chown root:root` it"
        ));
    }
    if mode & GROUP_OTHER_BITS != 0 {
        return Err(format!(
            "its mode is {:04o}, readable by others; it holds a password: `chmod 0600` it",
            mode & 0o7777
        ));
    }
    if size > MAX_CREDENTIALS_BYTES {
        return Err(format!(
            "it is {size} bytes, more than a credentials file can be ({MAX_CREDENTIALS_BYTES}); \
             check the path"
        ));
    }
    Ok(())
}

/// The pure part: `user` and `password`, each exactly once, nothing else.
pub fn parse(text: &str, path: &Path) -> Result<Credentials, CredentialsError> {
    let refuse = |line: usize, message: String| CredentialsError {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut user: Option<String> = None;
    let mut password: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(refuse(
                line,
                "expected `key = value`; write `user = NAME` or `password = SECRET`".into(),
            ));
        };
        let slot = match key.trim() {
            "user" => &mut user,
            "password" => &mut password,
            other => {
                return Err(refuse(
                    line,
                    format!("unknown key `{other}`; only `user` and `password` are allowed"),
                ))
            }
        };
        if slot.is_some() {
            return Err(refuse(
                line,
                format!("`{}` is given twice; keep one", key.trim()),
            ));
        }
        *slot = Some(value.trim().to_string());
    }
    let last = text.lines().count().max(1);
    match (user, password) {
        (Some(user), _) if user.is_empty() => Err(refuse(
            last,
            "`user` is empty; give the account name".into(),
        )),
        (Some(user), Some(password)) => Ok(Credentials { user, password }),
        (None, _) => Err(refuse(last, "no `user = NAME` line; add one".into())),
        (_, None) => Err(refuse(last, "no `password = SECRET` line; add one".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str) -> String {
        parse(text, Path::new("/etc/tandem/r1.cred"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn user_and_password_with_comments_and_blanks() {
        let creds = parse(
            "# replica r1\n\nuser = tandem\npassword =  p=w d \n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(creds.user, "tandem");
        assert_eq!(creds.password, "p=w d");
        assert!(!format!("{creds:?}").contains("p=w"));
    }

    #[test]
    fn refusals_name_the_line_and_the_fix() {
        assert_eq!(
            refusal("user = a\npasword = b\n"),
            "/etc/tandem/r1.cred:2: unknown key `pasword`; only `user` and `password` are allowed"
        );
        assert_eq!(
            refusal("user = a\nuser = b\npassword = c\n"),
            "/etc/tandem/r1.cred:2: `user` is given twice; keep one"
        );
        assert_eq!(
            refusal("user a\n"),
            "/etc/tandem/r1.cred:1: expected `key = value`; write `user = NAME` or \
             `password = SECRET`"
        );
        assert_eq!(
            refusal("user = a\n"),
            "/etc/tandem/r1.cred:1: no `password = SECRET` line; add one"
        );
    }

    #[test]
    fn owner_and_mode_are_checked() {
        assert!(check_owner_and_mode(0, 0o100600, 30).is_ok());
        assert!(check_owner_and_mode(0, 0o100400, 30).is_ok());
        assert_eq!(
            check_owner_and_mode(0, 0o100644, 30).unwrap_err(),
            "its mode is 0644, readable by others; it holds a password: `chmod 0600` it"
        );
        assert_eq!(
            check_owner_and_mode(1000, 0o100600, 30).unwrap_err(),
            "it is owned by uid 1000, not root; it holds a password: `chown root:root` it"
        );
    }
}
