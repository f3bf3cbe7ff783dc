//! Files only their owner can read: the store, the UI's `hookrelay.log` (it names the channel
//! URL, enough to subscribe to every webhook), clipboard fallbacks and edit buffers (bodies).
//!
//! Files are created 0600, directories hookrelay creates 0700. Temporary files come from the
//! `tempfile` crate: created with `O_EXCL` under an unpredictable name, 0600, so a file or
//! symlink planted in `/tmp` can neither be truncated nor redirect the write.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Create `dir` and any missing parents; the ones created here are owner-only (0700).
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// [`create_dir`], and make `dir` itself 0700 if it already existed with wider permissions.
/// Only for hookrelay's own directories (never a directory the user pointed at).
pub fn create_own_dir(dir: &Path) -> io::Result<()> {
    create_dir(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(dir)?;
        if meta.is_dir() && meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Open `path` for appending, creating it 0600; an existing file is set to 0600.
pub fn open_append(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o777 != 0o600 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}

/// Replace `path` with `data`: written to a fresh 0600 temporary file beside it, then renamed
/// over it (a symlink at `path` is replaced, not followed). The directory is created 0700.
pub fn write_replace(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(d) => d,
        None => Path::new("."),
    };
    create_dir(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".hookrelay-")
        .tempfile_in(dir)?;
    tmp.write_all(data)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A new temporary file holding `data`, for an editor: unpredictable name `hookrelay-…SUFFIX`
/// in the temporary directory, created exclusively, 0600, deleted when the path is dropped.
pub fn temp_file(suffix: &str, data: &[u8]) -> io::Result<tempfile::TempPath> {
    let mut tmp = tempfile::Builder::new()
        .prefix("hookrelay-")
        .suffix(suffix)
        .tempfile()?;
    tmp.write_all(data)?;
    tmp.flush()?;
    Ok(tmp.into_temp_path())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_and_dirs_are_owner_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!((mode(&root.path().join("a")), mode(&dir)), (0o700, 0o700));
        let wide = root.path().join("wide");
        std::fs::create_dir(&wide).unwrap();
        std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_own_dir(&wide).unwrap();
        assert_eq!(mode(&wide), 0o700);
        let f = dir.join("log");
        std::fs::write(&f, b"x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        open_append(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
    }

    #[test]
    fn write_replace_does_not_follow_a_planted_symlink() {
        let root = tempfile::tempdir().unwrap();
        let victim = root.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let link = root.path().join("clip");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        write_replace(&link, b"secret body").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(&link).unwrap(), b"secret body");
        assert!(!std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(mode(&link), 0o600);
    }

    #[test]
    fn temp_files_are_private_unpredictable_and_removed() {
        let a = temp_file(".json", b"body").unwrap();
        let b = temp_file(".json", b"body").unwrap();
        assert_ne!(a.to_path_buf(), b.to_path_buf());
        let name = a.file_name().unwrap().to_str().unwrap().to_string();
        assert!(
            name.starts_with("hookrelay-") && name.ends_with(".json"),
            "{name}"
        );
        assert!(name.len() >= "hookrelay-.json".len() + 6, "{name}");
        assert_eq!(mode(&a), 0o600);
        assert_eq!(std::fs::read(&a).unwrap(), b"body");
        let p = a.to_path_buf();
        drop(a);
        assert!(!p.exists());
    }
}
