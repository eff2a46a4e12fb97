//! Files: read, write, list, test and remove, each checked against the
//! process's permissions (`fs.read`, `fs.write`) and run on the runtime's
//! pool so a slow disk never blocks other processes.
//!
//! Permissions are checked on the *real* path of what is touched (see
//! [`crate::paths`]): `..` and symbolic links are resolved, and the check
//! is made on the open descriptor that is then used, so a policy
//! `/srv/data/*` cannot be left through `/srv/data/../etc/passwd` or a
//! link inside `/srv/data`. Patterns name real, absolute paths.

pub use self::fs::{DEFAULT_READ_LIMIT, FsConfig, MAX_LIST, MODULE};

/// Files and directories. Contents are Lua strings (bytes, not only UTF-8).
#[luamod::module(name = "fs", class(io), state = FsConfig)]
#[allow(clippy::module_inception)]
pub mod fs {
    use std::io::{Read, Write};

    use luamod::prelude::*;
    use luamod::runtime::HandlerCx;

    use crate::paths::{self, io_error};

    /// The default read limit: 16 MiB.
    pub const DEFAULT_READ_LIMIT: usize = 16 << 20;

    /// How a runtime's `fs` behaves (`Builder::module_with(&fs::MODULE,
    /// FsConfig { .. })`; the default: [`DEFAULT_READ_LIMIT`]).
    #[derive(Debug, Clone)]
    pub struct FsConfig {
        /// The most bytes `fs.read` returns; a longer file is `nil, err`
        /// of kind `RESOURCE_EXHAUSTED`, and no more than the limit is
        /// ever read.
        pub read_limit: usize,
    }

    impl Default for FsConfig {
        fn default() -> Self {
            FsConfig {
                read_limit: DEFAULT_READ_LIMIT,
            }
        }
    }

    /// Runs blocking file work on the pool.
    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> Result<T, LuaError> + Send + 'static,
    ) -> Result<T, LuaError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| LuaError::new(ErrorKind::Internal, e.to_string()))?
    }

    /// Reads a whole file (at most 16 MiB unless the host says otherwise).
    #[luamod::function(permission = "fs.read", resource = path)]
    pub async fn read(cx: HandlerCx, cfg: &FsConfig, path: String) -> Result<Bytes, LuaError> {
        let limit = cfg.read_limit;
        blocking(move || {
            let opened = paths::open_checked(cx.context(), "fs.read", "read", &path, false)?;
            let mut data = Vec::new();
            // One byte past the limit tells a long file from one that fits.
            opened
                .file
                .take(limit as u64 + 1)
                .read_to_end(&mut data)
                .map_err(|e| io_error("read", &path, e))?;
            if data.len() > limit {
                return Err(LuaError::new(
                    ErrorKind::ResourceExhausted,
                    format!("read '{path}': the file is longer than the limit of {limit} bytes"),
                )
                .with_detail("path", path.as_str()));
            }
            Ok(Bytes(data))
        })
        .await
    }

    /// Writes `data` to a file, replacing it; returns the bytes written.
    /// The file's directory must exist; a symbolic link in the file's
    /// place is refused, not followed.
    #[luamod::function(permission = "fs.write", resource = path)]
    pub async fn write(cx: HandlerCx, path: String, data: Bytes) -> Result<usize, LuaError> {
        blocking(move || {
            let target = paths::beneath_checked(cx.context(), "fs.write", "write", &path)?;
            paths::refuse_companion("write", &path)?;
            let mut file = paths::create_beneath(&target, "write", &path)?;
            file.write_all(&data.0)
                .map_err(|e| io_error("write", &path, e))?;
            Ok(data.0.len())
        })
        .await
    }

    /// The most names `fs.list` returns: a longer listing is `nil, err` of
    /// kind `RESOURCE_EXHAUSTED` (a script can fill a directory with a
    /// million files, and each listing would copy all their names).
    pub const MAX_LIST: usize = 100_000;

    /// The names in a directory, sorted; a directory of more than 100,000
    /// is `nil, err`.
    #[luamod::function(permission = "fs.read", resource = path)]
    pub async fn list(cx: HandlerCx, path: String) -> Result<Vec<String>, LuaError> {
        blocking(move || {
            let dir = paths::open_checked(cx.context(), "fs.read", "list", &path, true)?;
            let mut names = Vec::new();
            for entry in std::fs::read_dir(dir.path()).map_err(|e| io_error("list", &path, e))? {
                // A cancel drops the future, not this closure: it asks.
                if cx.cancel().is_cancelled() {
                    return Err(LuaError::new(
                        ErrorKind::Canceled,
                        "the listing was cancelled",
                    ));
                }
                if names.len() == MAX_LIST {
                    return Err(LuaError::new(
                        ErrorKind::ResourceExhausted,
                        format!("list '{path}': more than {MAX_LIST} entries"),
                    )
                    .with_retryable(false));
                }
                let entry = entry.map_err(|e| io_error("list", &path, e))?;
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
            names.sort();
            Ok(names)
        })
        .await
    }

    /// Whether a file or directory exists. A path that leads outside what
    /// the policy allows (through `..` or a link) answers false: whether
    /// something exists there is not the script's to know.
    #[luamod::function(permission = "fs.read", resource = path)]
    pub async fn exists(cx: HandlerCx, path: String) -> Result<bool, LuaError> {
        blocking(move || {
            if paths::check_resolved(cx.context(), "fs.read", &path).is_err() {
                return Ok(false);
            }
            Ok(match std::fs::canonicalize(&path) {
                Ok(real) => cx.context().check("fs.read", real.display()).is_ok(),
                Err(_) => false,
            })
        })
        .await
    }

    /// Removes a file (a symbolic link itself, not what it points to).
    #[luamod::function(permission = "fs.write", resource = path)]
    pub async fn remove(cx: HandlerCx, path: String) -> Result<bool, LuaError> {
        blocking(move || {
            let target = paths::beneath_checked(cx.context(), "fs.write", "remove", &path)?;
            paths::refuse_companion("remove", &path)?;
            std::fs::remove_file(target.path())
                .map(|()| true)
                .map_err(|e| io_error("remove", &path, e))
        })
        .await
    }
}
