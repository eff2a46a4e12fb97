//! Files: read, write, list, test and remove, each checked against the
//! process's permissions (`fs.read`, `fs.write`, path as resource) and run
//! on the runtime's pool so a slow disk never blocks other processes.

pub use self::fs::MODULE;

/// Files and directories. Contents are Lua strings (bytes, not only UTF-8).
#[luamod::module(name = "fs", class(io))]
#[allow(clippy::module_inception)]
pub mod fs {
    use luamod::prelude::*;

    fn io_error(op: &str, path: &str, e: std::io::Error) -> LuaError {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
            std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
                ErrorKind::Invalid
            }
            _ => ErrorKind::Unavailable,
        };
        LuaError::new(kind, format!("{op} '{path}': {e}"))
            .with_retryable(kind == ErrorKind::Unavailable)
            .with_detail("path", path)
    }

    /// Reads a whole file.
    #[luamod::function(permission = "fs.read", resource = path)]
    pub async fn read(path: String) -> Result<Bytes, LuaError> {
        tokio::fs::read(&path)
            .await
            .map(Bytes)
            .map_err(|e| io_error("read", &path, e))
    }

    /// Writes `data` to a file, replacing it; returns the bytes written.
    #[luamod::function(permission = "fs.write", resource = path)]
    pub async fn write(path: String, data: Bytes) -> Result<usize, LuaError> {
        let n = data.0.len();
        tokio::fs::write(&path, data.0)
            .await
            .map(|()| n)
            .map_err(|e| io_error("write", &path, e))
    }

    /// The names in a directory, sorted.
    #[luamod::function(permission = "fs.read", resource = path)]
    pub async fn list(path: String) -> Result<Vec<String>, LuaError> {
        let mut dir = tokio::fs::read_dir(&path)
            .await
            .map_err(|e| io_error("list", &path, e))?;
        let mut names = Vec::new();
        while let Some(entry) = dir
            .next_entry()
            .await
            .map_err(|e| io_error("list", &path, e))?
        {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Whether a file or directory exists.
    #[luamod::function(permission = "fs.read", resource = path)]
    pub async fn exists(path: String) -> Result<bool, LuaError> {
        tokio::fs::try_exists(&path)
            .await
            .map_err(|e| io_error("exists", &path, e))
    }

    /// Removes a file.
    #[luamod::function(permission = "fs.write", resource = path)]
    pub async fn remove(path: String) -> Result<bool, LuaError> {
        tokio::fs::remove_file(&path)
            .await
            .map(|()| true)
            .map_err(|e| io_error("remove", &path, e))
    }
}
