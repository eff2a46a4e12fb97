//! SQLite through rusqlite (bundled). Opening, statements and queries are
//! commands run on the blocking pool, never on a scheduler worker.

pub use self::sql::{DEFAULT_RESULT_LIMIT, MODULE, SQLITE_HEAP_LIMIT, set_result_limit};

/// SQLite databases. Opening checks the permission `sql.open` with the
/// path as resource.
#[luamod::module(name = "sql", class(storage))]
#[allow(clippy::module_inception)]
pub mod sql {
    use std::ffi::c_int;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use luamod::prelude::*;
    use luamod::runtime::HandlerCx;
    use luamod::types::Type;
    use luamod::{ArgError, CallCx, Invoke, Invoked, LuaType, TypeRegistry};
    use rusqlite::types::Value as Sql;

    /// The default [`set_result_limit`]: 100,000 rows, 64 MiB.
    pub const DEFAULT_RESULT_LIMIT: (usize, usize) = (100_000, 64 << 20);

    /// SQLite's heap limit, set when a database is opened (SQLite applies
    /// it to the whole host): 256 MiB.
    pub const SQLITE_HEAP_LIMIT: usize = 256 << 20;

    static ROW_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_RESULT_LIMIT.0);
    static BYTE_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_RESULT_LIMIT.1);

    /// The most rows, and bytes of text and blobs, one `db:query` returns
    /// (for the whole host). A query that would return more is `nil, err`
    /// of kind `RESOURCE_EXHAUSTED`, and SQLite stops stepping it.
    pub fn set_result_limit(rows: usize, bytes: usize) {
        ROW_LIMIT.store(rows, Ordering::Relaxed);
        BYTE_LIMIT.store(bytes, Ordering::Relaxed);
    }

    /// One SQL value: nil, integer, number, string (text) or a blob.
    #[derive(Debug, Clone, PartialEq)]
    pub struct SqlValue(pub Sql);

    impl<'a> FromArg<'a> for SqlValue {
        fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
            if let Ok(None) = <Option<bool>>::from_arg(cx, idx) {
                return Ok(SqlValue(Sql::Null));
            }
            if let Ok(Some(b)) = <Option<bool>>::from_arg(cx, idx) {
                return Ok(SqlValue(Sql::Integer(b as i64)));
            }
            if let Ok(i) = i64::from_arg(cx, idx) {
                return Ok(SqlValue(Sql::Integer(i)));
            }
            if let Ok(n) = f64::from_arg(cx, idx) {
                return Ok(SqlValue(Sql::Real(n)));
            }
            match <&[u8]>::from_arg(cx, idx) {
                Ok(b) => Ok(SqlValue(match std::str::from_utf8(b) {
                    Ok(s) => Sql::Text(s.to_owned()),
                    Err(_) => Sql::Blob(b.to_vec()),
                })),
                Err(_) => Err(ArgError::msg(
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

    type Conn = Arc<Mutex<rusqlite::Connection>>;

    /// The end of a transaction: `true`, or `nil, err`.
    pub type TxEnd = Then<Exec, Result<bool, LuaError>>;

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
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                rusqlite::ErrorCode::ConstraintViolation => ErrorKind::Conflict,
                rusqlite::ErrorCode::OutOfMemory | rusqlite::ErrorCode::TooBig => {
                    ErrorKind::ResourceExhausted
                }
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                    ErrorKind::Unavailable
                }
                rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::PermissionDenied => {
                    ErrorKind::Unavailable
                }
                _ => ErrorKind::Invalid,
            },
            _ => ErrorKind::Invalid,
        };
        LuaError::new(kind, e.to_string()).with_retryable(kind == ErrorKind::Unavailable)
    }

    async fn blocking<T: Send + 'static>(
        conn: Conn,
        f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, LuaError> {
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c).map_err(sql_error)
        })
        .await
        .map_err(|e| LuaError::new(ErrorKind::Internal, e.to_string()))?
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
    }

    async fn exec(c: Exec, _: HandlerCx) -> Result<usize, LuaError> {
        blocking(c.conn, move |db| {
            db.execute(&c.sql, rusqlite::params_from_iter(params(&c.params)))
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

    async fn query(c: Query, _: HandlerCx) -> Result<Vec<Row>, LuaError> {
        blocking(c.conn, move |db| {
            let mut stmt = db.prepare(&c.sql)?;
            let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
            let mut rows = stmt.query(rusqlite::params_from_iter(params(&c.params)))?;
            let (max_rows, max_bytes) = (
                ROW_LIMIT.load(Ordering::Relaxed),
                BYTE_LIMIT.load(Ordering::Relaxed),
            );
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
        blocking(c.conn, move |db| {
            let tx = db.transaction()?;
            let mut changed = 0;
            for s in &c.statements {
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
        /// (or the failure to begin or commit).
        pub fn transaction(&self, f: Function) -> Then<Exec, Invoke<TxEnd>> {
            let conn = self.conn.clone();
            let stmt = |conn: &Conn, sql: &str| Exec {
                conn: conn.clone(),
                sql: sql.to_owned(),
                params: None,
            };
            Yield(stmt(&conn, "BEGIN")).then(move |_| {
                Invoke::new(f, Vec::new(), move |how| match how {
                    Invoked::Returned => Yield(stmt(&conn, "COMMIT")).then(|_| Ok(true)),
                    Invoked::Failed(e) => Yield(stmt(&conn, "ROLLBACK")).then(move |_| Err(e)),
                })
            })
        }
    }

    /// Opens (creating if needed) the database file at `path`;
    /// `":memory:"` is a private in-memory database.
    #[luamod::function(permission = "sql.open", resource = path)]
    pub async fn open(path: String) -> Result<Db, LuaError> {
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || {
            let c = rusqlite::Connection::open(&p)?;
            // SQLite's own memory (a `randomblob(1e9)`, a huge sort) is
            // outside the Lua limit: cap it for the whole host.
            c.query_row(
                &format!("PRAGMA hard_heap_limit = {SQLITE_HEAP_LIMIT}"),
                [],
                |_| Ok(()),
            )?;
            Ok::<_, rusqlite::Error>(c)
        })
        .await
        .map_err(|e| LuaError::new(ErrorKind::Internal, e.to_string()))?
        .map_err(sql_error)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }
}
