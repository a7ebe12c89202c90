//! Moving a datadir: `cp -a` (ownership, modes, times, sparse files), then a comparison of
//! both trees (every path, its type, size, owner and mode), so that a copy is trusted only
//! once it is verified.

use super::tool::{self, ToolError};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A datadir of hundreds of GB takes long; one that is not copied in a day is stuck.
const COPY_TIMEOUT_MS: u64 = 86_400_000;
/// Deeper than any datadir; bounds the walk on a symlink loop.
const MAX_DEPTH: usize = 64;

/// One entry of a tree, as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: char,
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the copy differs from {from}: {difference}")]
    Differs { from: PathBuf, difference: String },
}

/// Copies the contents of `from` into `to` (which must exist), then verifies.
pub async fn copy_and_verify(from: &Path, to: &Path) -> Result<usize, CopyError> {
    let source = format!("{}/.", from.display());
    let target = to.display().to_string();
    tool::run_ok(
        "cp",
        &["-a", "--sparse=always", &source, &target],
        Duration::from_millis(COPY_TIMEOUT_MS),
    )
    .await?;
    let (a, b) = (tree(from)?, tree(to)?);
    match first_difference(&a, &b) {
        None => Ok(a.len()),
        Some(difference) => Err(CopyError::Differs {
            from: from.to_path_buf(),
            difference,
        }),
    }
}

/// Every entry under `root`, by relative path (the root itself as "").
pub fn tree(root: &Path) -> Result<BTreeMap<PathBuf, Entry>, CopyError> {
    let mut found = BTreeMap::new();
    walk(root, Path::new(""), 0, &mut found)?;
    Ok(found)
}

fn walk(
    root: &Path,
    relative: &Path,
    depth: usize,
    found: &mut BTreeMap<PathBuf, Entry>,
) -> Result<(), CopyError> {
    let path = root.join(relative);
    let read = |error| CopyError::Read {
        path: path.clone(),
        error,
    };
    let meta = std::fs::symlink_metadata(&path).map_err(read)?;
    let kind = match meta.file_type() {
        t if t.is_dir() => 'd',
        t if t.is_symlink() => 'l',
        t if t.is_file() => 'f',
        _ => 'o',
    };
    let size = if kind == 'f' { meta.len() } else { 0 };
    found.insert(
        relative.to_path_buf(),
        Entry {
            kind,
            size,
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode() & 0o7777,
        },
    );
    if kind == 'd' && depth < MAX_DEPTH {
        for child in std::fs::read_dir(&path).map_err(read)? {
            let child = child.map_err(read)?;
            walk(root, &relative.join(child.file_name()), depth + 1, found)?;
        }
    }
    Ok(())
}

/// Pure: the first path whose entry differs or is missing on one side, in words. The roots'
/// own entries are not compared (the target directory is the mountpoint's, not a copy).
pub fn first_difference(
    from: &BTreeMap<PathBuf, Entry>,
    to: &BTreeMap<PathBuf, Entry>,
) -> Option<String> {
    let root = Path::new("");
    for (path, entry) in from.iter().filter(|(p, _)| p.as_path() != root) {
        match to.get(path) {
            None => return Some(format!("{} is missing in the copy", path.display())),
            Some(copy) if copy != entry => {
                return Some(format!(
                    "{}: {entry:?} in the source, {copy:?} in the copy",
                    path.display()
                ))
            }
            Some(_) => {}
        }
    }
    to.keys()
        .find(|p| p.as_path() != root && !from.contains_key(*p))
        .map(|p| format!("{} is in the copy only", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(size: u64) -> Entry {
        Entry {
            kind: 'f',
            size,
            uid: 101,
            gid: 101,
            mode: 0o660,
        }
    }

    #[test]
    fn names_the_first_difference() {
        let mut a = BTreeMap::new();
        a.insert(PathBuf::from(""), entry(0));
        a.insert(PathBuf::from("ibdata1"), entry(10));
        let mut b = a.clone();
        b.insert(PathBuf::from(""), entry(1));
        assert_eq!(first_difference(&a, &b), None);
        b.insert(PathBuf::from("ibdata1"), entry(9));
        assert!(first_difference(&a, &b).is_some_and(|d| d.starts_with("ibdata1: ")));
        b.remove(Path::new("ibdata1"));
        assert_eq!(
            first_difference(&a, &b).as_deref(),
            Some("ibdata1 is missing in the copy")
        );
        b.insert(PathBuf::from("ibdata1"), entry(10));
        b.insert(PathBuf::from("stray"), entry(1));
        assert_eq!(
            first_difference(&a, &b).as_deref(),
            Some("stray is in the copy only")
        );
    }

    /// `cp -a` and the verification on a real tree (a file, a subdirectory, modes).
    #[tokio::test]
    async fn copies_and_verifies_a_real_tree() {
        use std::os::unix::fs::PermissionsExt;
        let from = tempfile::tempdir().expect("tempdir");
        let to = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(from.path().join("mysql")).expect("mkdir");
        let file = from.path().join("mysql/user.MAD");
        std::fs::write(&file, vec![1u8; 5000]).expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let count = copy_and_verify(from.path(), to.path()).await.expect("copy");
        assert_eq!(count, 3);
        let copied = std::fs::metadata(to.path().join("mysql/user.MAD")).expect("copied");
        assert_eq!(copied.permissions().mode() & 0o777, 0o640);
        std::fs::write(to.path().join("mysql/user.MAD"), b"x").expect("damage");
        assert!(first_difference(&tree(from.path()).unwrap(), &tree(to.path()).unwrap()).is_some());
    }

    #[test]
    fn walks_a_real_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("mysql")).expect("mkdir");
        std::fs::write(dir.path().join("mysql/db.opt"), b"x").expect("write");
        let found = tree(dir.path()).expect("tree");
        assert_eq!(found.len(), 3);
        assert_eq!(found[Path::new("mysql/db.opt")].size, 1);
    }
}
