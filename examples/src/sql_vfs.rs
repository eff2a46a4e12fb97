//! The file layer the example `sql` module opens databases through: the
//! system's own (SQLite's default VFS), except that it never opens a
//! *super-journal*.
//!
//! When SQLite finds a hot rollback journal next to a database, it plays
//! it back and then deletes the super-journal whose path the journal's
//! trailer names — any path. Whoever can write a file named like a
//! database's journal could make SQLite delete any file the host can. A
//! script cannot (`fs` refuses to write such a name, `sql` to open one as
//! a database); another program that writes the directory can.
//! Super-journals exist only for transactions across attached databases,
//! which the module's authorizer refuses, so refusing to open one loses
//! nothing; SQLite deletes a super-journal only after opening it.
//!
//! Every other call goes to the default VFS with the default VFS's own
//! handle (its methods read their private data from it). Loading
//! extensions is not offered at all.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name to open connections with.
pub const NAME: &str = "luamod-guarded";
const NAME_C: &CStr = c"luamod-guarded";

/// The default VFS this one forwards to.
///
/// # Safety
/// `vfs` is the guarded VFS registered by [`register`].
unsafe fn inner(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    // SAFETY: `register` set pAppData to the default VFS, which SQLite
    // keeps for the life of the process.
    unsafe { (*vfs).pAppData as *mut ffi::sqlite3_vfs }
}

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    if flags & ffi::SQLITE_OPEN_SUPER_JOURNAL != 0 {
        // SAFETY: `file` is SQLite's buffer for this open; a failed open
        // must leave its methods null (SQLite then never closes it).
        unsafe { (*file).pMethods = std::ptr::null() };
        return ffi::SQLITE_CANTOPEN;
    }
    // SAFETY: forwards SQLite's own arguments to the default VFS, whose
    // file objects are the size this VFS announced (its szOsFile).
    unsafe {
        let inner = inner(vfs);
        match (*inner).xOpen {
            Some(f) => f(inner, name, file, flags, out_flags),
            None => ffi::SQLITE_CANTOPEN,
        }
    }
}

/// Forwards one method of the VFS to the default one.
macro_rules! forward {
    ($name:ident, $field:ident, ($($arg:ident: $ty:ty),*), $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(vfs: *mut ffi::sqlite3_vfs, $($arg: $ty),*) -> $ret {
            // SAFETY: SQLite's own arguments, passed to the default VFS
            // with its own handle.
            unsafe {
                let inner = inner(vfs);
                match (*inner).$field {
                    Some(f) => f(inner, $($arg),*),
                    None => $missing,
                }
            }
        }
    };
}

forward!(x_delete, xDelete, (name: *const c_char, sync_dir: c_int), c_int, ffi::SQLITE_IOERR_DELETE);
forward!(x_access, xAccess, (name: *const c_char, flags: c_int, out: *mut c_int), c_int, ffi::SQLITE_IOERR_ACCESS);
forward!(x_full_pathname, xFullPathname, (name: *const c_char, n: c_int, out: *mut c_char), c_int, ffi::SQLITE_CANTOPEN);
forward!(x_randomness, xRandomness, (n: c_int, out: *mut c_char), c_int, 0);
forward!(x_sleep, xSleep, (us: c_int), c_int, 0);
forward!(x_current_time, xCurrentTime, (out: *mut f64), c_int, ffi::SQLITE_ERROR);
forward!(x_get_last_error, xGetLastError, (n: c_int, out: *mut c_char), c_int, 0);
forward!(x_current_time_int64, xCurrentTimeInt64, (out: *mut ffi::sqlite3_int64), c_int, ffi::SQLITE_ERROR);

/// Registers the guarded VFS (once per process).
pub fn register() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        // SAFETY: sqlite3_vfs_find(NULL) returns the default VFS (SQLite
        // initialises itself first); the new VFS is leaked, so it lives as
        // long as SQLite may use it, and is registered as non-default.
        unsafe {
            if ffi::sqlite3_initialize() != ffi::SQLITE_OK {
                return Err("SQLite failed to initialise".to_owned());
            }
            let default = ffi::sqlite3_vfs_find(std::ptr::null());
            if default.is_null() {
                return Err("SQLite has no default VFS".to_owned());
            }
            let d = &*default;
            let vfs = Box::into_raw(Box::new(ffi::sqlite3_vfs {
                iVersion: 2,
                szOsFile: d.szOsFile,
                mxPathname: d.mxPathname,
                pNext: std::ptr::null_mut(),
                zName: NAME_C.as_ptr(),
                pAppData: default as *mut c_void,
                xOpen: Some(x_open),
                xDelete: Some(x_delete),
                xAccess: Some(x_access),
                xFullPathname: Some(x_full_pathname),
                xDlOpen: None,
                xDlError: None,
                xDlSym: None,
                xDlClose: None,
                xRandomness: Some(x_randomness),
                xSleep: Some(x_sleep),
                xCurrentTime: Some(x_current_time),
                xGetLastError: Some(x_get_last_error),
                xCurrentTimeInt64: Some(x_current_time_int64),
                xSetSystemCall: None,
                xGetSystemCall: None,
                xNextSystemCall: None,
            }));
            match ffi::sqlite3_vfs_register(vfs, 0) {
                ffi::SQLITE_OK => Ok(()),
                rc => Err(format!(
                    "cannot register the guarded SQLite VFS (code {rc})"
                )),
            }
        }
    })
    .clone()
}
