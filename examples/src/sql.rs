//! SQLite through rusqlite (bundled). Opening, statements and queries are
//! commands run on the blocking pool, never on a scheduler worker.

pub use self::sql::{
    DEFAULT_RESULT_LIMIT, MAX_OPEN, MAX_OPEN_PER_PROCESS, MODULE, SQLITE_HEAP_LIMIT, SqlConfig,
    open_now,
};

/// SQLite databases. Opening checks the permission `sql.open` with the
/// path as resource.
#[luamod::module(name = "sql", class(storage), commands(End), state = SqlConfig)]
#[allow(clippy::module_inception)]
pub mod sql {
    use std::ffi::c_int;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use luamod::prelude::*;
    use luamod::runtime::HandlerCx;
    use luamod::types::Type;
    use luamod::{ArgError, CallCx, Invoke, Invoked, LuaType, TypeRegistry};
    use rusqlite::types::Value as Sql;

    /// The default result limit: 100,000 rows, 64 MiB.
    pub const DEFAULT_RESULT_LIMIT: (usize, usize) = (100_000, 64 << 20);

    /// How a runtime's `sql` behaves (`Builder::module_with(&sql::MODULE,
    /// SqlConfig { .. })`; the default: [`DEFAULT_RESULT_LIMIT`]).
    #[derive(Debug, Clone)]
    pub struct SqlConfig {
        /// The most rows one `db:query` returns; more is `nil, err` of
        /// kind `RESOURCE_EXHAUSTED`, and SQLite stops stepping.
        pub max_rows: usize,
        /// The most bytes of text, blobs and column names one `db:query`
        /// returns.
        pub max_bytes: usize,
    }

    impl Default for SqlConfig {
        fn default() -> Self {
            SqlConfig {
                max_rows: DEFAULT_RESULT_LIMIT.0,
                max_bytes: DEFAULT_RESULT_LIMIT.1,
            }
        }
    }

    /// SQLite's heap limit, set when a database is opened (SQLite applies
    /// it to the whole host): 256 MiB. Temporary tables, sorts and
    /// `VACUUM`'s copy are kept in memory under it (never in the system's
    /// temporary directory, which no policy covers): one connection's
    /// large temporary data can make others' statements fail for memory
    /// while it lasts, and `VACUUM` works on databases whose copy fits.
    pub const SQLITE_HEAP_LIMIT: usize = 256 << 20;

    /// One SQL value: nil, integer, number, string (text) or a blob.
    #[derive(Debug, Clone, PartialEq)]
    pub struct SqlValue(pub Sql);

    impl<'a> FromArg<'a> for SqlValue {
        fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
            // By the value's own type: a string that reads as a number
            // ("007", "4111111111111111111111") stays text, and a float
            // that is whole (2.0) stays a real.
            match luamod::mlua::Value::from_arg(cx, idx)? {
                luamod::mlua::Value::Nil => Ok(SqlValue(Sql::Null)),
                luamod::mlua::Value::Boolean(b) => Ok(SqlValue(Sql::Integer(b as i64))),
                luamod::mlua::Value::Integer(i) => Ok(SqlValue(Sql::Integer(i))),
                luamod::mlua::Value::Number(n) => Ok(SqlValue(Sql::Real(n))),
                // Through `Bytes`, whose copy counts against the call's
                // limit (a script can pass one large string many times
                // over).
                luamod::mlua::Value::String(_) => {
                    let luamod::Bytes(b) = luamod::Bytes::from_arg(cx, idx)?;
                    Ok(SqlValue(match String::from_utf8(b) {
                        Ok(s) => Sql::Text(s),
                        Err(e) => Sql::Blob(e.into_bytes()),
                    }))
                }
                _ => Err(ArgError::msg(
                    idx,
                    "nil, boolean, number or string expected",
                )),
            }
        }
    }

    impl IntoReturn for SqlValue {
        fn push_return(self, cx: &CallCx) -> Result<c_int, luamod::call::CallError> {
            match self.0 {
                Sql::Null => Option::<i64>::None.push_return(cx),
                Sql::Integer(i) => i.push_return(cx),
                Sql::Real(f) => f.push_return(cx),
                Sql::Text(s) => s.push_return(cx),
                Sql::Blob(b) => Bytes(b).push_return(cx),
            }
        }
    }

    impl LuaType for SqlValue {
        fn lua_type(_: &mut TypeRegistry) -> Type {
            Type::parse("integer|number|string|boolean|nil").unwrap_or(Type::Any)
        }
    }

    /// A row: column name → value, as a fresh table.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Row(pub Vec<(String, SqlValue)>);

    impl IntoReturn for Row {
        fn push_return(self, cx: &CallCx) -> Result<c_int, luamod::call::CallError> {
            let map: std::collections::BTreeMap<String, SqlValue> = self.0.into_iter().collect();
            map.push_return(cx)
        }
    }

    impl LuaType for Row {
        fn lua_type(_: &mut TypeRegistry) -> Type {
            Type::parse("table<string, integer|number|string>").unwrap_or(Type::Table)
        }
    }

    /// A statement of a transaction.
    #[derive(LuaRecord, Debug, Clone)]
    pub struct Statement {
        /// The SQL.
        pub sql: String,
        /// Its parameters (`?1`, `?2`, ...).
        pub params: Option<Vec<SqlValue>>,
    }

    /// The most databases open at once in the host (every runtime): each
    /// holds file descriptors, which a script that opens without end would
    /// otherwise take from the whole host. A database is closed when the
    /// process that opened it ends; one it left to the collector before
    /// then holds its place until it is collected or the process ends.
    pub const MAX_OPEN: usize = 256;

    /// The most databases one process keeps open at once: a process could
    /// otherwise take all of [`MAX_OPEN`] while it runs, refusing every
    /// other process of the host.
    pub const MAX_OPEN_PER_PROCESS: usize = 32;

    static OPEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// Databases open per process (its handler context, which tells
    /// processes of different runtimes apart); at most a few hundred
    /// entries, as places are at most [`MAX_OPEN`].
    static PER_PROCESS: Mutex<Vec<(HandlerCx, usize)>> = Mutex::new(Vec::new());

    /// Takes a place among [`MAX_OPEN`] and the process's share of them.
    fn take_place(cx: &HandlerCx) -> Result<(), LuaError> {
        let mut per = PER_PROCESS.lock().unwrap_or_else(|p| p.into_inner());
        let i = match per.iter().position(|(c, _)| c.same_process(cx)) {
            Some(i) => i,
            None => {
                per.push((cx.clone(), 0));
                per.len() - 1
            }
        };
        let refused = if per[i].1 >= MAX_OPEN_PER_PROCESS {
            Some(format!(
                "too many open databases (at most {MAX_OPEN_PER_PROCESS} in a process)"
            ))
        } else if OPEN.fetch_add(1, Ordering::SeqCst) >= MAX_OPEN {
            OPEN.fetch_sub(1, Ordering::SeqCst);
            Some(format!(
                "too many open databases (at most {MAX_OPEN} in the host)"
            ))
        } else {
            None
        };
        match refused {
            Some(msg) => {
                if per[i].1 == 0 {
                    per.swap_remove(i);
                }
                Err(LuaError::new(ErrorKind::ResourceExhausted, msg))
            }
            None => {
                per[i].1 += 1;
                Ok(())
            }
        }
    }

    /// Gives a place back, and the process's share of it.
    fn give_back(cx: &HandlerCx) {
        OPEN.fetch_sub(1, Ordering::SeqCst);
        let mut per = PER_PROCESS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = per.iter().position(|(c, _)| c.same_process(cx)) {
            per[i].1 -= 1;
            if per[i].1 == 0 {
                per.swap_remove(i);
            }
        }
    }

    /// How many databases are open in the host now (for a host's
    /// metrics; at most [`MAX_OPEN`]).
    pub fn open_now() -> usize {
        OPEN.load(Ordering::SeqCst)
    }

    /// A connection that is closed on the blocking pool, never on the
    /// thread that drops it last: closing the last connection of a WAL
    /// database checkpoints its whole log, and a finalizer on a worker
    /// would run that inside some other process's step. Closed when the
    /// process that opened it ends, or when dropped.
    struct Closing {
        /// `None` once closed.
        conn: Option<rusqlite::Connection>,
        /// The process that opened it, whose share of [`MAX_OPEN`] it
        /// holds.
        owner: HandlerCx,
        pool: tokio::runtime::Handle,
        /// Dropped with this: ends the task that closes the connection at
        /// its process's end (see `close_at_end`).
        _dropped: tokio::sync::oneshot::Sender<()>,
    }

    impl Closing {
        /// The open connection, or why there is none.
        fn open(&mut self) -> Result<&mut rusqlite::Connection, LuaError> {
            self.conn.as_mut().ok_or_else(|| {
                LuaError::new(
                    ErrorKind::Invalid,
                    "the database is closed: the process that opened it has ended",
                )
                .with_retryable(false)
            })
        }

        fn close(&mut self) {
            if let Some(conn) = self.conn.take() {
                let closed = Closed(Some(conn), self.owner.clone());
                // A pool shutting down drops the task unrun: `Closed` then
                // closes the connection here and still gives its place back.
                self.pool.spawn_blocking(move || drop(closed));
            }
        }
    }

    impl Drop for Closing {
        fn drop(&mut self) {
            self.close();
        }
    }

    /// Closes `db` when its process ends (the handler context's cancel
    /// fires then, however the process ends), unless it is dropped first.
    /// The task holds no strong reference: the collector may still free
    /// the database before.
    fn close_at_end(
        db: &Arc<Mutex<Closing>>,
        end: luamod::runtime::CancelToken,
        dropped: tokio::sync::oneshot::Receiver<()>,
        pool: &tokio::runtime::Handle,
    ) {
        let db = Arc::downgrade(db);
        let blocking = pool.clone();
        pool.spawn(async move {
            tokio::select! {
                () = end.cancelled() => {}
                _ = dropped => return,
            }
            if let Some(db) = db.upgrade() {
                // The lock waits for a statement still running, which the
                // end of its process interrupts.
                blocking.spawn_blocking(move || {
                    db.lock().unwrap_or_else(|p| p.into_inner()).close();
                });
            }
        });
    }

    /// A connection on its way to be closed; gives its place among
    /// [`MAX_OPEN`] back once closed, wherever it is dropped.
    struct Closed(Option<rusqlite::Connection>, HandlerCx);

    impl Drop for Closed {
        fn drop(&mut self) {
            drop(self.0.take());
            give_back(&self.1);
        }
    }

    /// An open connection and what can stop the statement it runs.
    #[derive(Clone)]
    struct Conn {
        db: Arc<Mutex<Closing>>,
        interrupt: Arc<rusqlite::InterruptHandle>,
        /// The transactions `db:transaction` began on this connection.
        tx: Arc<Transactions>,
        /// The pool that runs a transaction's ROLLBACK when the process
        /// that began it ends first.
        pool: tokio::runtime::Handle,
    }

    /// The end of a transaction: `true`, or `nil, err`.
    pub type TxEnd = Then<End, Result<bool, LuaError>>;

    /// An open database.
    #[luamod::userdata]
    pub struct Db {
        conn: Conn,
        /// The path it was opened with.
        #[lua(get)]
        pub path: String,
    }

    fn sql_error(e: rusqlite::Error) -> LuaError {
        let kind = match &e {
            // The authorizer's refusal (SQLite words a refused function as
            // a plain error).
            rusqlite::Error::SqliteFailure(_, Some(msg))
            | rusqlite::Error::SqlInputError { msg, .. }
                if msg.starts_with("not authorized") =>
            {
                ErrorKind::PermissionDenied
            }
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                rusqlite::ErrorCode::ConstraintViolation => ErrorKind::Conflict,
                rusqlite::ErrorCode::OutOfMemory | rusqlite::ErrorCode::TooBig => {
                    ErrorKind::ResourceExhausted
                }
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                    ErrorKind::Unavailable
                }
                // A symbolic link refused by NOFOLLOW, or a super-journal
                // the guarded file layer will not open: not a passing
                // condition.
                rusqlite::ErrorCode::CannotOpen
                    if f.extended_code == rusqlite::ffi::SQLITE_CANTOPEN_SYMLINK =>
                {
                    ErrorKind::PermissionDenied
                }
                rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::PermissionDenied => {
                    return LuaError::new(ErrorKind::Unavailable, e.to_string())
                        .with_retryable(false);
                }
                rusqlite::ErrorCode::AuthorizationForStatementDenied => ErrorKind::PermissionDenied,
                rusqlite::ErrorCode::OperationInterrupted => ErrorKind::Canceled,
                _ => ErrorKind::Invalid,
            },
            rusqlite::Error::MultipleStatement => {
                return LuaError::new(
                    ErrorKind::Invalid,
                    "db:exec runs one statement; run several with db:batch{...} (one \
                     transaction) or one db:exec each",
                );
            }
            rusqlite::Error::ExecuteReturnedResults => {
                return LuaError::new(
                    ErrorKind::Invalid,
                    "db:exec ran a statement that returns rows; use db:query",
                );
            }
            _ => ErrorKind::Invalid,
        };
        LuaError::new(kind, e.to_string()).with_retryable(kind == ErrorKind::Unavailable)
    }

    /// Stops the call's statement when the handler is dropped (its process
    /// was cancelled, timed out or the runtime shut down): a statement
    /// that has not started is skipped, a running one interrupted.
    struct StopOnDrop {
        stop: Arc<AtomicBool>,
        interrupt: Arc<rusqlite::InterruptHandle>,
        armed: bool,
    }

    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            if self.armed {
                self.stop.store(true, Ordering::SeqCst);
                self.interrupt.interrupt();
            }
        }
    }

    async fn blocking<T: Send + 'static>(
        conn: Conn,
        f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, LuaError> {
        blocking_until(conn, move |db, _| f(db)).await
    }

    /// [`blocking`] for work of many statements, which asks `stopped`
    /// between two: SQLite checks an interrupt only inside a statement's
    /// loops (one without loops never sees it) and clears it when the next
    /// statement starts.
    async fn blocking_until<T: Send + 'static>(
        conn: Conn,
        f: impl FnOnce(&mut rusqlite::Connection, &dyn Fn() -> bool) -> rusqlite::Result<T>
        + Send
        + 'static,
    ) -> Result<T, LuaError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut guard = StopOnDrop {
            stop: stop.clone(),
            interrupt: conn.interrupt.clone(),
            armed: true,
        };
        let r = tokio::task::spawn_blocking(move || {
            let mut guard = conn.db.lock().unwrap_or_else(|p| p.into_inner());
            let c = guard.open()?;
            conn.tx.settle(c);
            if stop.load(Ordering::SeqCst) {
                return Err(LuaError::new(
                    ErrorKind::Canceled,
                    "the statement was not run: its process ended",
                ));
            }
            // An interrupt that came between the check and the start of
            // the statement would be lost; the progress handler is not.
            let seen = stop.clone();
            c.progress_handler(1000, Some(move || seen.load(Ordering::SeqCst)));
            let stopped = || stop.load(Ordering::SeqCst);
            let r = f(c, &stopped).map_err(sql_error);
            c.progress_handler(0, None::<fn() -> bool>);
            r
        })
        .await;
        guard.armed = false;
        r.map_err(|e| LuaError::new(ErrorKind::Internal, e.to_string()))?
    }

    fn params(p: &Option<Vec<SqlValue>>) -> Vec<Sql> {
        p.iter().flatten().map(|v| v.0.clone()).collect()
    }

    /// Runs a statement; the number of rows it changed.
    #[derive(Command)]
    #[command(id = 1101, name = "sql.exec", output = usize, handler = exec)]
    pub struct Exec {
        conn: Conn,
        sql: String,
        params: Option<Vec<SqlValue>>,
        /// The number of the transaction this statement begins (`BEGIN`
        /// of `db:transaction`), or 0.
        begins: u64,
    }

    async fn exec(c: Exec, _: HandlerCx) -> Result<usize, LuaError> {
        let tx = c.conn.tx.clone();
        blocking(c.conn, move |db| {
            let n = db.execute(&c.sql, rusqlite::params_from_iter(params(&c.params)))?;
            if c.begins != 0 {
                tx.open.store(c.begins, Ordering::SeqCst);
            }
            Ok(n)
        })
        .await
    }

    /// Runs a query; its rows.
    #[derive(Command)]
    #[command(id = 1102, name = "sql.query", output = Vec<Row>, handler = query)]
    pub struct Query {
        conn: Conn,
        sql: String,
        params: Option<Vec<SqlValue>>,
    }

    async fn query(c: Query, cx: HandlerCx) -> Result<Vec<Row>, LuaError> {
        let cfg = cx.state::<SqlConfig>().unwrap_or_default();
        let (max_rows, max_bytes) = (cfg.max_rows, cfg.max_bytes);
        blocking(c.conn, move |db| {
            let mut stmt = db.prepare(&c.sql)?;
            let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
            let mut rows = stmt.query(rusqlite::params_from_iter(params(&c.params)))?;
            let mut out = Vec::new();
            let mut bytes = 0usize;
            while let Some(r) = rows.next()? {
                if out.len() >= max_rows {
                    return Ok(Err(format!("the query returns more than {max_rows} rows")));
                }
                let mut row = Vec::with_capacity(names.len());
                for (i, n) in names.iter().enumerate() {
                    // The size first: a huge blob is never copied.
                    let size = match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                            t.len()
                        }
                        _ => 8,
                    };
                    // What the row costs in Rust: the value, its column
                    // name and their headers.
                    bytes = bytes.saturating_add(size + n.len() + 96);
                    if bytes > max_bytes {
                        return Ok(Err(format!(
                            "the query returns more than {max_bytes} bytes"
                        )));
                    }
                    row.push((n.clone(), SqlValue(r.get::<_, Sql>(i)?)));
                }
                out.push(Row(row));
            }
            Ok(Ok(out))
        })
        .await?
        .map_err(|msg| LuaError::new(ErrorKind::ResourceExhausted, msg))
    }

    /// Runs statements atomically: all or none.
    #[derive(Command)]
    #[command(id = 1103, name = "sql.batch", output = usize, handler = batch)]
    pub struct Batch {
        conn: Conn,
        statements: Vec<Statement>,
    }

    async fn batch(c: Batch, _: HandlerCx) -> Result<usize, LuaError> {
        blocking_until(c.conn, move |db, stopped| {
            let tx = db.transaction()?;
            let mut changed = 0;
            for s in &c.statements {
                if stopped() {
                    // Rolled back as the transaction drops.
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERRUPT),
                        None,
                    ));
                }
                changed += tx.execute(&s.sql, rusqlite::params_from_iter(params(&s.params)))?;
            }
            tx.commit()?;
            Ok(changed)
        })
        .await
    }

    #[luamod::methods]
    impl Db {
        /// Runs a statement with optional parameters; the number of changed
        /// rows, or `nil, err` with SQLite's message.
        pub fn exec(&self, sql: String, params: Option<Vec<SqlValue>>) -> Yield<Exec> {
            Yield(Exec {
                conn: self.conn.clone(),
                sql,
                params,
                begins: 0,
            })
        }

        /// Runs a query; an array of rows (column name → value).
        pub fn query(&self, sql: String, params: Option<Vec<SqlValue>>) -> Yield<Query> {
            Yield(Query {
                conn: self.conn.clone(),
                sql,
                params,
            })
        }

        /// Runs `{ {sql = ..., params = {...}}, ... }` in one transaction:
        /// all statements apply or none does; the number of changed rows.
        pub fn batch(&self, statements: Vec<Statement>) -> Yield<Batch> {
            Yield(Batch {
                conn: self.conn.clone(),
                statements,
            })
        }

        /// Runs `f()` inside a transaction: commits when it returns, rolls
        /// back when it raises. `f` may use the database (and wait on other
        /// commands) freely. Returns `true`, or `nil, err` with `f`'s error
        /// (or the failure to begin or commit). If the process ends while
        /// `f` runs (cancelled, timed out), the transaction is rolled back
        /// at once.
        pub fn transaction(&self, f: Function) -> Then<Exec, Invoke<TxEnd>> {
            let conn = self.conn.clone();
            let number = conn.tx.last.fetch_add(1, Ordering::SeqCst) + 1;
            Yield(Exec {
                conn: conn.clone(),
                sql: "BEGIN".to_owned(),
                params: None,
                begins: number,
            })
            .then(move |_| {
                let open = OpenTx(Some(conn), number);
                Invoke::new(f, Vec::new(), move |how| {
                    // The guard travels with the command: if the process
                    // ends before the commit or rollback has run, dropping
                    // the command rolls back.
                    let end = |commit| End { tx: open, commit };
                    match how {
                        Invoked::Returned => Yield(end(true)).then(|()| Ok(true)),
                        // The body's error, whatever the rollback says (the
                        // body may have ended the transaction itself).
                        Invoked::Failed(e) => Yield(end(false)).then(move |()| Err(e)),
                    }
                })
            })
        }
    }

    /// The transactions `db:transaction` begins on one connection, by
    /// number, so that abandoning one never rolls back another: a
    /// transaction abandoned (its process ended, or the coroutine its body
    /// ran in was closed) is rolled back by whichever reaches the
    /// connection first, the next statement or the rollback task, and
    /// only if it is still the one open.
    #[derive(Default)]
    struct Transactions {
        /// The last number given.
        last: std::sync::atomic::AtomicU64,
        /// The transaction `db:transaction` began and that is open, or 0
        /// (none, or one the script began or ended by hand).
        open: std::sync::atomic::AtomicU64,
        /// A transaction abandoned and not rolled back yet, or 0.
        due: std::sync::atomic::AtomicU64,
    }

    impl Transactions {
        /// Before a statement: forget a transaction that is no longer
        /// open (the script committed or rolled back by hand), and roll
        /// back an abandoned one that still is.
        fn settle(&self, c: &rusqlite::Connection) {
            if c.is_autocommit() {
                self.open.store(0, Ordering::SeqCst);
            }
            let due = self.due.swap(0, Ordering::SeqCst);
            if due != 0 && due == self.open.load(Ordering::SeqCst) {
                let _ = c.execute_batch("ROLLBACK");
                self.open.store(0, Ordering::SeqCst);
            }
        }
    }

    /// Transaction number `.1`, begun; rolled back if dropped while open
    /// (its process ended, or the coroutine running its body was closed,
    /// with the body still running).
    struct OpenTx(Option<Conn>, u64);

    impl Drop for OpenTx {
        fn drop(&mut self) {
            if let Some(conn) = self.0.take() {
                // Due before anything else can reach the connection.
                conn.tx.due.store(self.1, Ordering::SeqCst);
                let pool = conn.pool.clone();
                // Waits for the statement the body ran, which the cancel
                // interrupts; a statement that reaches the connection first
                // rolls back itself, and a transaction already ended makes
                // this a no-op.
                pool.spawn_blocking(move || {
                    let mut guard = conn.db.lock().unwrap_or_else(|p| p.into_inner());
                    if let Ok(c) = guard.open() {
                        conn.tx.settle(c);
                    }
                });
            }
        }
    }

    /// Ends a transaction: `COMMIT` (rolled back if the commit fails, and
    /// that failure reported) or `ROLLBACK` (which never fails the call:
    /// a transaction the body already ended is left alone).
    #[derive(Command)]
    #[command(id = 1104, name = "sql.end", output = (), handler = end)]
    pub struct End {
        tx: OpenTx,
        commit: bool,
    }

    async fn end(mut c: End, _: HandlerCx) -> Result<(), LuaError> {
        let Some(conn) = c.tx.0.clone() else {
            return Err(LuaError::new(
                ErrorKind::Internal,
                "the transaction was already ended",
            ));
        };
        let commit = c.commit;
        let ended = blocking(conn, move |db| {
            if db.is_autocommit() {
                return Ok(Err(()));
            }
            if commit {
                if let Err(e) = db.execute_batch("COMMIT") {
                    if !db.is_autocommit() {
                        let _ = db.execute_batch("ROLLBACK");
                    }
                    return Err(e);
                }
            } else {
                let _ = db.execute_batch("ROLLBACK");
            }
            Ok(Ok(()))
        })
        .await;
        // It ran (whatever it answered): nothing is left to roll back.
        if let Some(conn) = c.tx.0.take() {
            let _ = conn
                .tx
                .open
                .compare_exchange(c.tx.1, 0, Ordering::SeqCst, Ordering::SeqCst);
        }
        ended?.or_else(|()| {
            if commit {
                Err(LuaError::new(
                    ErrorKind::Conflict,
                    "cannot commit: the transaction body already ended the transaction",
                ))
            } else {
                Ok(())
            }
        })
    }

    /// Pragmas a script may use: they read the schema or tune this
    /// connection. The others can reach past the database file (a
    /// directory for temporary files), lift host-wide limits (the heap
    /// limit) or corrupt the file (a writable schema).
    const PRAGMAS: &[&str] = &[
        "analysis_limit",
        "application_id",
        "auto_vacuum",
        "automatic_index",
        "busy_timeout",
        "cache_size",
        "cache_spill",
        "case_sensitive_like",
        "cell_size_check",
        "collation_list",
        "data_version",
        "database_list",
        "defer_foreign_keys",
        "encoding",
        "foreign_key_check",
        "foreign_key_list",
        "foreign_keys",
        "freelist_count",
        "function_list",
        "ignore_check_constraints",
        "incremental_vacuum",
        "index_info",
        "index_list",
        "index_xinfo",
        "integrity_check",
        "journal_mode",
        "journal_size_limit",
        "legacy_alter_table",
        "max_page_count",
        "optimize",
        "page_count",
        "page_size",
        "pragma_list",
        "query_only",
        "quick_check",
        "read_uncommitted",
        "recursive_triggers",
        "reverse_unordered_selects",
        "secure_delete",
        "synchronous",
        "table_info",
        "table_list",
        "table_xinfo",
        "user_version",
        "wal_autocheckpoint",
        "wal_checkpoint",
    ];

    /// What a statement may do: everything inside this database, nothing
    /// that names another file (`ATTACH`, `VACUUM INTO`), loads code
    /// (`load_extension`) or escapes through a pragma. `VACUUM` itself
    /// attaches a nameless temporary database, which stays allowed.
    fn authorize(ctx: rusqlite::hooks::AuthContext<'_>) -> rusqlite::hooks::Authorization {
        use rusqlite::hooks::{AuthAction, Authorization};
        match ctx.action {
            AuthAction::Attach { filename } if filename.is_empty() || filename == ":memory:" => {
                Authorization::Allow
            }
            AuthAction::Attach { .. } => Authorization::Deny,
            // What the authorizer cannot name is refused: SQLite passes
            // an ATTACH whose file name is an expression (`'x' || ''`, a
            // parameter) with no name at all, which arrives here.
            AuthAction::Unknown { .. } => Authorization::Deny,
            AuthAction::Function { function_name }
                if function_name.eq_ignore_ascii_case("load_extension") =>
            {
                Authorization::Deny
            }
            AuthAction::Pragma { pragma_name, .. }
                if !PRAGMAS.iter().any(|p| p.eq_ignore_ascii_case(pragma_name)) =>
            {
                Authorization::Deny
            }
            _ => Authorization::Allow,
        }
    }

    fn configure(c: &rusqlite::Connection) -> rusqlite::Result<()> {
        use rusqlite::config::DbConfig;
        // SQLite's own memory (a `randomblob(1e9)`, a huge sort) is
        // outside the Lua limit: cap it for the whole host (before the
        // authorizer, which refuses this pragma to scripts).
        c.query_row(
            &format!("PRAGMA hard_heap_limit = {SQLITE_HEAP_LIMIT}"),
            [],
            |_| Ok(()),
        )?;
        // Temporary tables, indices, sorts and statement journals in
        // memory, under that limit: on disk they went to the system's
        // temporary directory, outside any policy, which a script could
        // fill. The authorizer refuses `temp_store` to scripts.
        c.execute_batch("PRAGMA temp_store = MEMORY")?;
        c.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        c.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
        c.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, false)?;
        c.authorizer(Some(authorize));
        Ok(())
    }

    /// Opens (creating if needed) the database file at `path`;
    /// `":memory:"` is a private in-memory database. The permission is
    /// checked on the file's real path (its directory resolved; a path
    /// with a symbolic link in it when SQLite opens it is refused); the
    /// path is a plain file name, never a `file:` URI. The database is
    /// closed when the process that opened it ends.
    #[luamod::function(permission = "sql.open", resource = path)]
    pub async fn open(cx: HandlerCx, path: String) -> Result<Db, LuaError> {
        use rusqlite::OpenFlags;
        take_place(&cx)?;
        let owner = cx.clone();
        // Counted from here; given back if the open fails.
        let slot = OpenSlot(Some(cx.clone()));
        let end = cx.cancel().clone();
        let p = path.clone();
        // The place travels with the opening: a process that ends while
        // its database opens gives it back only once that connection is
        // gone too.
        let (conn, slot) = tokio::task::spawn_blocking(move || {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_NOFOLLOW;
            crate::sql_vfs::register().map_err(|e| LuaError::new(ErrorKind::Internal, e))?;
            let c = if p == ":memory:" {
                rusqlite::Connection::open_in_memory_with_flags(flags)
            } else {
                // Opening one as a database would let a script forge it.
                crate::paths::refuse_companion("open", &p)?;
                let target = crate::paths::beneath_checked(cx.context(), "sql.open", "open", &p)?;
                // The checked real path has no link in it, and with
                // NOFOLLOW SQLite refuses a path that has one by the time
                // it opens (a link swapped in after the check). The
                // guarded VFS never opens a super-journal (see sql_vfs).
                rusqlite::Connection::open_with_flags_and_vfs(
                    &target.real,
                    flags,
                    crate::sql_vfs::NAME,
                )
            }
            .map_err(sql_error)?;
            configure(&c).map_err(sql_error)?;
            Ok::<_, LuaError>((c, slot))
        })
        .await
        .map_err(|e| LuaError::new(ErrorKind::Internal, e.to_string()))??;
        let pool = tokio::runtime::Handle::current();
        // The count now goes with the connection (given back when it closes).
        slot.keep();
        let (dropped, on_drop) = tokio::sync::oneshot::channel();
        let interrupt = Arc::new(conn.get_interrupt_handle());
        let db = Arc::new(Mutex::new(Closing {
            conn: Some(conn),
            owner,
            pool: pool.clone(),
            _dropped: dropped,
        }));
        close_at_end(&db, end, on_drop, &pool);
        Ok(Db {
            conn: Conn {
                interrupt,
                db,
                tx: Arc::default(),
                pool,
            },
            path,
        })
    }

    /// A place among [`MAX_OPEN`], given back unless kept.
    struct OpenSlot(Option<HandlerCx>);

    impl OpenSlot {
        /// The place now goes with the connection (`Closed` gives it
        /// back).
        fn keep(mut self) {
            self.0 = None;
        }
    }

    impl Drop for OpenSlot {
        fn drop(&mut self) {
            if let Some(cx) = self.0.take() {
                give_back(&cx);
            }
        }
    }
}
