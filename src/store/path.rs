//! Where the store lives when `--store` is not given.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The default store file: one per project, in the user's data directory:
/// `<data_dir>/hookrelay/projects/<cwd-dirname>-<8 hex>.sqlite`, where the hex is a hash of the
/// canonical working directory (`~/.local/share/...` on Linux, `~/Library/Application Support/...`
/// on macOS).
///
/// Why per project rather than per channel: the history belongs to the service being debugged,
/// and channels come and go (a new smee.io channel per session is common) while the project stays.
/// `hookrelay list` run in a project shows that project's deliveries, not another service's.
/// The file lives outside the project so captured bodies never end up in a commit. The directory
/// name keeps the file recognisable; the hash keeps two `api/` folders apart.
pub fn default_path() -> PathBuf {
    let data = dirs::data_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local").join("share")))
        .unwrap_or_else(std::env::temp_dir);
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let cwd = cwd.canonicalize().unwrap_or(cwd);
    default_path_in(&data, &cwd)
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
}
