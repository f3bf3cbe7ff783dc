//! Where the store lives when `--store` is not given.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The default store file: one per project, in the user's data directory:
/// `<data_dir>/hookrelay/projects/<project-dirname>-<8 hex>.sqlite`, where the hex is a hash of
/// the canonical project directory (`~/.local/share/...` on Linux,
/// `~/Library/Application Support/...` on macOS). The project directory is the root of the git
/// repository around the working directory, else the working directory ([`project_dir`]).
///
/// Why per project rather than per channel: the history belongs to the service being debugged,
/// and channels come and go (a new smee.io channel per session is common) while the project stays.
/// `hookrelay list` run anywhere in a project shows that project's deliveries, not another
/// service's. The file lives outside the project so captured bodies never end up in a commit. The
/// directory name keeps the file recognisable; the hash keeps two `api/` folders apart.
pub fn default_path() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let cwd = cwd.canonicalize().unwrap_or(cwd);
    default_path_in(&data_dir(), &project_dir(&cwd))
}

/// The user's data directory (hookrelay's files go in its `hookrelay/`).
fn data_dir() -> PathBuf {
    dirs::data_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local").join("share")))
        .unwrap_or_else(std::env::temp_dir)
}

/// The project `dir` belongs to: the nearest directory at or above it holding `.git` (a
/// directory, or a file in a worktree or submodule), else `dir` itself.
pub fn project_dir(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(dir)
        .to_path_buf()
}

/// The demo's store: `<data_dir>/hookrelay/demo.sqlite` (not a project's, so not listed by
/// [`known_stores`]).
pub fn demo_path() -> PathBuf {
    data_dir().join("hookrelay").join("demo.sqlite")
}

/// The stores in the default place (`<data_dir>/hookrelay/projects`), newest first.
pub fn known_stores() -> Vec<PathBuf> {
    known_stores_in(&data_dir())
}

/// [`known_stores`] for a given data directory.
pub fn known_stores_in(data_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("hookrelay").join("projects")) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sqlite"))
        .map(|p| {
            let modified = std::fs::metadata(&p)
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (modified, p)
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    found.into_iter().map(|(_, p)| p).collect()
}

/// [`default_path`] for a given data directory and (canonical) project directory.
pub fn default_path_in(data_dir: &Path, project_dir: &Path) -> PathBuf {
    let name: String = project_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".to_string())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let name = name.trim_start_matches('.');
    let name = if name.is_empty() { "project" } else { name };
    let digest = Sha256::digest(path_bytes(project_dir));
    let hash = hex::encode(&digest[..4]);
    data_dir
        .join("hookrelay")
        .join("projects")
        .join(format!("{name}-{hash}.sqlite"))
}

#[cfg(unix)]
fn path_bytes(p: &Path) -> Vec<u8> {
    std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()).to_vec()
}

#[cfg(not(unix))]
fn path_bytes(p: &Path) -> Vec<u8> {
    p.to_string_lossy().into_owned().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_project_names() {
        let data = Path::new("/data");
        let a = default_path_in(data, Path::new("/home/me/work/api"));
        let b = default_path_in(data, Path::new("/home/me/other/api"));
        assert_ne!(a, b);
        assert!(a.starts_with("/data/hookrelay/projects"));
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("api-") && name.ends_with(".sqlite"),
            "{name}"
        );
        assert_eq!(name.len(), "api-".len() + 8 + ".sqlite".len());
        assert_eq!(a, default_path_in(data, Path::new("/home/me/work/api")));
        let odd = default_path_in(data, Path::new("/x/my proj$(x)"));
        let odd = odd.file_name().unwrap().to_str().unwrap();
        assert!(odd.starts_with("my_proj__x_-"), "{odd}");
        let root = default_path_in(data, Path::new("/"));
        assert!(
            root.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("root-")
        );
    }

    #[test]
    fn the_project_is_the_git_root_else_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("proj");
        let app = repo.join("app").join("src");
        std::fs::create_dir_all(&app).unwrap();
        assert_eq!(project_dir(&app), app);
        std::fs::create_dir(repo.join(".git")).unwrap();
        assert_eq!(project_dir(&app), repo);
        assert_eq!(project_dir(&repo), repo);
        // a worktree's .git is a file
        let wt = tmp.path().join("wt");
        std::fs::create_dir_all(wt.join("x")).unwrap();
        std::fs::write(wt.join(".git"), "gitdir: elsewhere\n").unwrap();
        assert_eq!(project_dir(&wt.join("x")), wt);
    }

    #[test]
    fn known_stores_are_the_sqlite_files_in_the_projects_folder() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(known_stores_in(tmp.path()).is_empty());
        let dir = tmp.path().join("hookrelay").join("projects");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a-00000000.sqlite"), "").unwrap();
        std::fs::write(dir.join("a-00000000.sqlite-wal"), "").unwrap();
        std::fs::write(dir.join("notes.txt"), "").unwrap();
        assert_eq!(
            known_stores_in(tmp.path()),
            vec![dir.join("a-00000000.sqlite")]
        );
    }
}
