//! Files: read, write, list, test and remove, each checked against the
//! process's permissions (`fs.read`, `fs.write`, path as resource) and run
//! on the runtime's pool so a slow disk never blocks other processes.

pub use self::fs::{DEFAULT_READ_LIMIT, MODULE, set_read_limit};

/// Files and directories. Contents are Lua strings (bytes, not only UTF-8).
#[luamod::module(name = "fs", class(io))]
#[allow(clippy::module_inception)]
pub mod fs {
    use std::sync::atomic::{AtomicUsize, Ordering};

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

    /// The default [`set_read_limit`]: 16 MiB.
    pub const DEFAULT_READ_LIMIT: usize = 16 << 20;

    static READ_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_READ_LIMIT);

    /// The most bytes `fs.read` returns (for the whole host); a longer
    /// file is `nil, err` of kind `RESOURCE_EXHAUSTED`, and no more than
    /// the limit is ever read.
    pub fn set_read_limit(bytes: usize) {
        READ_LIMIT.store(bytes, Ordering::Relaxed);
    }

    /// Reads a whole file (at most 16 MiB unless the host says otherwise).
    #[luamod::function(permission = "fs.read", resource = path)]
    pub async fn read(path: String) -> Result<Bytes, LuaError> {
        use tokio::io::AsyncReadExt;
        let limit = READ_LIMIT.load(Ordering::Relaxed);
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| io_error("read", &path, e))?;
        let mut data = Vec::new();
        // One byte past the limit tells a long file from one that fits.
        file.take(limit as u64 + 1)
            .read_to_end(&mut data)
            .await
            .map_err(|e| io_error("read", &path, e))?;
        if data.len() > limit {
            return Err(LuaError::new(
                ErrorKind::ResourceExhausted,
                format!("read '{path}': the file is longer than the limit of {limit} bytes"),
            )
            .with_detail("path", path.as_str()));
        }
        Ok(Bytes(data))
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
