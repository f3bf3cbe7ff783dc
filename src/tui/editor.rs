//! Edit a body in `$EDITOR` (then `vi`), for edit-and-replay.

use std::path::Path;

use thiserror::Error;

/// The largest edited body read back.
pub const MAX_EDITED_BYTES: usize = 16 * 1024 * 1024;

/// Why an edit did not give a body.
#[derive(Debug, Error)]
pub enum EditError {
    #[error("could not write the temporary file: {0}")]
    Write(std::io::Error),
    #[error("could not start the editor `{0}`: {1}")]
    Spawn(String, std::io::Error),
    #[error("the editor exited with {0}; nothing replayed")]
    Failed(std::process::ExitStatus),
    #[error("could not read the edited file: {0}")]
    Read(std::io::Error),
    #[error("the edited body is larger than {MAX_EDITED_BYTES} bytes")]
    TooLarge,
    #[error("$EDITOR is not a command line: {0}")]
    BadEditor(String),
}

/// The editor command line: `$VISUAL`, `$EDITOR`, or `vi`.
pub fn editor_command() -> Result<Vec<String>, EditError> {
    let raw = std::env::var("VISUAL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|s| !s.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".into());
    match shlex::split(&raw) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(EditError::BadEditor(raw)),
    }
}

/// Write `body` to a private temp file, run the editor on it (the terminal must be given back
/// first), and read the result.
pub async fn edit(id: &str, body: &[u8], json: bool) -> Result<Vec<u8>, EditError> {
    let cmd = editor_command()?;
    let ext = if json { "json" } else { "txt" };
    let id: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
    // Unpredictable name, created exclusively, 0600; removed when `path` is dropped.
    let path =
        crate::private_files::temp_file(&format!("-{id}.{ext}"), body).map_err(EditError::Write)?;
    run(&cmd, &path).await
}

async fn run(cmd: &[String], path: &Path) -> Result<Vec<u8>, EditError> {
    let status = tokio::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .arg(path)
        .kill_on_drop(true) // the UI quit (SIGTERM) while the editor ran
        .status()
        .await
        .map_err(|e| EditError::Spawn(cmd[0].clone(), e))?;
    if !status.success() {
        return Err(EditError::Failed(status));
    }
    let meta = std::fs::metadata(path).map_err(EditError::Read)?;
    if meta.len() > MAX_EDITED_BYTES as u64 {
        return Err(EditError::TooLarge);
    }
    std::fs::read(path).map_err(EditError::Read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_a_real_editor_command() {
        // `sh -c 'printf edited > "$0"'` plays the editor: it rewrites the file it is given.
        let cmd: Vec<String> = ["sh", "-c", "printf edited > \"$0\""]
            .map(String::from)
            .to_vec();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.json");
        std::fs::write(&p, b"original").unwrap();
        assert_eq!(run(&cmd, &p).await.unwrap(), b"edited");
        let fail: Vec<String> = ["sh", "-c", "exit 3"].map(String::from).to_vec();
        assert!(matches!(run(&fail, &p).await, Err(EditError::Failed(_))));
    }
}
