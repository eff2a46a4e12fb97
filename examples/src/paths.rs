//! Paths as the file system will resolve them, for permission checks on
//! what is really touched (`fs`, `sql.open`).
//!
//! A policy pattern is matched against the *real* path: `..` resolved,
//! symbolic links followed, absolute. Checking the text a script passed
//! would let `ALLOWED/../secret` or a link inside `ALLOWED` reach outside.
//! To leave no window between the check and the use, the file or the
//! directory is opened first and the path checked is the one the kernel
//! reports for that open descriptor (`/proc/self/fd`); the use then goes
//! through the same descriptor. (Without `/proc`, on other systems, the
//! path is resolved with `canonicalize` just before use: a directory
//! swapped in between by another program could still be reached.)

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use luamod::prelude::*;
use luamod::security::Context;

/// An I/O failure as a Lua error, its kind chosen by the OS error: what
/// cannot succeed by retrying (a directory where a file was expected, a
/// name too long) is `INVALID`; a full disk or an I/O error is
/// `UNAVAILABLE` and retryable (space may be freed, the device may come
/// back); running out of descriptors or memory is `RESOURCE_EXHAUSTED`.
pub fn io_error(op: &str, path: &str, e: std::io::Error) -> LuaError {
    let (kind, retryable) = match e.raw_os_error() {
        Some(libc::ENOENT) => (ErrorKind::NotFound, false),
        Some(libc::EEXIST | libc::ENOTEMPTY) => (ErrorKind::AlreadyExists, false),
        Some(libc::EACCES | libc::EPERM | libc::EROFS) => (ErrorKind::PermissionDenied, false),
        Some(
            libc::EISDIR
            | libc::ENOTDIR
            | libc::ENAMETOOLONG
            | libc::ELOOP
            | libc::EINVAL
            | libc::EXDEV
            | libc::EFBIG
            | libc::ENXIO
            | libc::ENODEV,
        ) => (ErrorKind::Invalid, false),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM) => (ErrorKind::ResourceExhausted, true),
        Some(
            libc::ENOSPC
            | libc::EDQUOT
            | libc::EIO
            | libc::EAGAIN
            | libc::EBUSY
            | libc::EINTR
            | libc::ETIMEDOUT,
        ) => (ErrorKind::Unavailable, true),
        _ => match e.kind() {
            std::io::ErrorKind::NotFound => (ErrorKind::NotFound, false),
            std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
                (ErrorKind::Invalid, false)
            }
            _ => (ErrorKind::Unavailable, false),
        },
    };
    LuaError::new(kind, format!("{op} '{path}': {e}"))
        .with_retryable(retryable)
        .with_detail("path", path)
}

/// The longest path the kernel takes (Linux's `PATH_MAX` less its NUL).
/// A longer one names nothing, and [`resolved`] would pay for it with its
/// length squared (every prefix is resolved in turn): a script's 4 MB path
/// held a blocking thread for minutes.
pub const MAX_PATH: usize = 4095;

/// Refuses a path past [`MAX_PATH`], without repeating it.
fn within_length(op: &str, path: &str) -> Result<(), LuaError> {
    if path.len() > MAX_PATH {
        return Err(LuaError::new(
            ErrorKind::Invalid,
            format!(
                "{op}: path too long ({} bytes; at most {MAX_PATH})",
                path.len()
            ),
        )
        .with_retryable(false));
    }
    Ok(())
}

fn invalid(op: &str, path: &str, why: &str) -> LuaError {
    LuaError::new(ErrorKind::Invalid, format!("{op} '{path}': {why}"))
        .with_retryable(false)
        .with_detail("path", path)
}

/// Suffixes of the files SQLite keeps beside a database (`x.db-journal`,
/// `x.db-wal`, `x.db-shm`).
pub const COMPANIONS: &[&str] = &["-journal", "-wal", "-shm"];

/// Refuses a name that is one of a database's own files: a script that
/// writes one could forge a journal SQLite plays back, and truncating
/// the `-shm` file SQLite maps into memory for a database in WAL mode
/// kills the host with `SIGBUS` at the database's next access. The
/// `sql` module does not open them as databases, nor `fs` write or
/// remove them. `path` is checked as given: its last component is the
/// name [`beneath_checked`] creates, replaces or removes.
pub fn refuse_companion(op: &str, path: &str) -> Result<(), LuaError> {
    if COMPANIONS.iter().any(|s| path.ends_with(s)) {
        return Err(invalid(
            op,
            path,
            "a name ending in -journal, -wal or -shm belongs to a database's files",
        ));
    }
    Ok(())
}

/// The path the kernel reports for an open descriptor.
#[cfg(target_os = "linux")]
fn real_path_of(file: &File, _opened_as: &Path) -> std::io::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

#[cfg(not(target_os = "linux"))]
fn real_path_of(_file: &File, opened_as: &Path) -> std::io::Result<PathBuf> {
    std::fs::canonicalize(opened_as)
}

/// A path through an open descriptor, so that later uses reach the very
/// file or directory that was checked.
#[cfg(target_os = "linux")]
fn through(file: &File, _real: &Path) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

#[cfg(not(target_os = "linux"))]
fn through(_file: &File, real: &Path) -> PathBuf {
    real.to_path_buf()
}

/// Where `path` leads as far as it exists: the real path of its longest
/// existing prefix (links followed, as the kernel would), then the rest as
/// written (with `.` and `..` applied to the text: those entries do not
/// exist). Used to check a permission before anything is opened, and for
/// paths that do not exist, so that a refusal never depends on what exists
/// outside the policy.
pub fn resolved(path: &str) -> PathBuf {
    let abs = match std::env::current_dir() {
        Ok(cwd) => cwd.join(path),
        Err(_) => PathBuf::from(path),
    };
    for anc in abs.ancestors() {
        if let Ok(real) = std::fs::canonicalize(anc) {
            let rest = abs.strip_prefix(anc).unwrap_or(Path::new(""));
            let mut out = real;
            for c in rest.components() {
                match c {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::Normal(n) => out.push(n),
                    _ => {}
                }
            }
            return out;
        }
    }
    abs
}

/// Checks `action` on `real`, where the script's `requested` path leads.
/// A refusal names the requested path, not where it leads (which would
/// tell the script about files outside its policy).
pub fn check_real(
    ctx: &Context,
    action: &str,
    real: &Path,
    requested: &str,
) -> Result<(), LuaError> {
    ctx.check(action, real.display()).map_err(|_| {
        LuaError::new(
            ErrorKind::PermissionDenied,
            format!(
                "permission denied: '{action}' on '{requested}': it leads outside what the \
                 policy allows"
            ),
        )
        .with_retryable(false)
        .with_detail("action", action)
        .with_detail("resource", requested)
    })
}

/// Checks `action` on where `path` leads (see [`resolved`]).
pub fn check_resolved(ctx: &Context, action: &str, path: &str) -> Result<PathBuf, LuaError> {
    within_length(action, path)?;
    let r = resolved(path);
    check_real(ctx, action, &r, path)?;
    Ok(r)
}

/// An existing file or directory, open, with its real path checked.
pub struct Opened {
    /// The open file or directory.
    pub file: File,
    /// Its real path (what the permission was checked against).
    pub real: PathBuf,
}

impl Opened {
    /// A path that reaches the opened file itself (for APIs that take a
    /// path, such as listing a directory).
    pub fn path(&self) -> PathBuf {
        through(&self.file, &self.real)
    }
}

/// Opens `path` for reading (following links; without blocking on a FIFO),
/// after checking `action` on where it leads, then checks it again on the
/// real path of what was opened.
pub fn open_checked(
    ctx: &Context,
    action: &str,
    op: &str,
    path: &str,
    directory: bool,
) -> Result<Opened, LuaError> {
    if path.is_empty() {
        return Err(invalid(op, path, "empty path"));
    }
    within_length(op, path)?;
    // First where the text leads, so a file outside is not even opened
    // (some device files act on open); then the descriptor, which counts.
    check_resolved(ctx, action, path)?;
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    if directory {
        flags |= libc::O_DIRECTORY;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| io_error(op, path, e))?;
    let real = real_path_of(&file, Path::new(path)).map_err(|e| io_error(op, path, e))?;
    check_real(ctx, action, &real, path)?;
    Ok(Opened { file, real })
}

/// A name inside an open, checked directory: where a file will be
/// created, replaced or removed.
pub struct Beneath {
    dir: File,
    real_dir: PathBuf,
    name: OsString,
    /// The real path of the entry (its directory's real path and name).
    pub real: PathBuf,
}

impl Beneath {
    /// A path that reaches the entry through the open directory.
    pub fn path(&self) -> PathBuf {
        through(&self.dir, &self.real_dir).join(&self.name)
    }
}

/// Resolves the directory of `path` (it must exist), keeps it open, and
/// checks `action` on the real path of the entry `path` names in it. The
/// last component must be a plain name: not `..`, `.` or empty.
pub fn beneath_checked(
    ctx: &Context,
    action: &str,
    op: &str,
    path: &str,
) -> Result<Beneath, LuaError> {
    within_length(op, path)?;
    let p = Path::new(path);
    let name = match p.components().next_back() {
        Some(Component::Normal(n)) if !path.ends_with('/') && !path.ends_with("/.") => {
            n.to_os_string()
        }
        _ => {
            return Err(invalid(
                op,
                path,
                "not a file name (it ends in '/', '.' or '..')",
            ));
        }
    };
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // The entry itself is not followed (a link there is replaced or
    // removed, never written through): check its directory's destination.
    check_real(
        ctx,
        action,
        &resolved(&parent.to_string_lossy()).join(&name),
        path,
    )?;
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(parent)
        .map_err(|e| io_error(op, path, e))?;
    let real_dir = real_path_of(&dir, parent).map_err(|e| io_error(op, path, e))?;
    let real = real_dir.join(&name);
    check_real(ctx, action, &real, path)?;
    Ok(Beneath {
        dir,
        real_dir,
        name,
        real,
    })
}

/// Opens the entry of `b` for writing: created or truncated, never through
/// a symbolic link (a link planted there is refused, not followed).
pub fn create_beneath(b: &Beneath, op: &str, path: &str) -> Result<File, LuaError> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(b.path())
        .map_err(|e| io_error(op, path, e))
}
