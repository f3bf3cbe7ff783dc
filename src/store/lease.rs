//! One sender per store. The forward job and `hookrelay replay --pending` send a store's
//! pending deliveries; two of them on one store would both send each one. So each holds an
//! exclusive lease while it runs: an advisory lock (`flock`, through std's `File::try_lock`) on
//! a file beside the store, `STORE.lock`, which holds the holder's process id for the message
//! a second one gets. The kernel releases the lock when the holder exits in any way (`kill -9`
//! included), so a stale file never blocks anyone. Readers (`list`, `show`, the UI) take no
//! lease.
//!
//! A file beside the store rather than the store itself: SQLite locks byte ranges of its
//! database with `fcntl`, and on some network file systems `flock` is emulated with `fcntl`
//! too, where the two would collide.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held while a process sends from a store; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct SenderLease {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error(
        "another hookrelay{} is already sending from the store {}: two would both send its \
         pending deliveries; stop it first, or pass another --store",
        .pid.map(|p| format!(" (process {p})")).unwrap_or_default(),
        .store.display()
    )]
    Busy { store: PathBuf, pid: Option<u32> },
    #[error("cannot lock the store's lease file {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The lease file of `store`: `STORE.lock` beside it.
pub fn lease_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl SenderLease {
    /// Take the lease of `store`, or say who holds it.
    pub fn take(store: &Path) -> Result<SenderLease, LeaseError> {
        let path = lease_path(store);
        let io = |source| LeaseError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = store.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::private_files::create_dir(parent).map_err(io)?;
        }
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0).map_err(io)?;
                file.rewind().map_err(io)?;
                write!(file, "{}", std::process::id()).map_err(io)?;
                Ok(SenderLease { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                Err(LeaseError::Busy {
                    store: store.to_path_buf(),
                    pid: text.trim().parse().ok(),
                })
            }
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_sender_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("not-yet").join("s.sqlite");
        let first = SenderLease::take(&store).unwrap();
        let err = SenderLease::take(&store).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, LeaseError::Busy { pid: Some(p), .. } if p == std::process::id()),
            "{text}"
        );
        assert!(text.contains("already sending from the store"), "{text}");
        drop(first);
        SenderLease::take(&store).expect("free again");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(lease_path(&store))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
