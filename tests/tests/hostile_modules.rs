//! The adversarial suite, part three: the example modules against scripts
//! that try to reach past their policies (paths, SQL, URLs), leave
//! resources behind when cancelled, or get misleading answers. Real files
//! in a temporary directory, a real SQLite file, real loopback servers.

#![cfg(not(feature = "luajit"))]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use luamod::prelude::*;
use luamod::runtime::SpawnOptions;
use luamod_examples::{buffer, fs, http_client, sql, time};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `ALLOWED` (the policy's directory) and `OUTSIDE` with a secret in it.
struct Dirs {
    root: PathBuf,
    allowed: PathBuf,
    outside: PathBuf,
}

impl Dirs {
    fn new(tag: &str) -> Dirs {
        let root = std::env::temp_dir().join(format!(
            "luamod-hostile-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let allowed = root.join("allowed");
        let outside = root.join("outside");
        std::fs::create_dir_all(allowed.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let root = std::fs::canonicalize(root).unwrap();
        let (allowed, outside) = (root.join("allowed"), root.join("outside"));
        std::fs::write(outside.join("secret"), "top secret").unwrap();
        std::fs::write(allowed.join("note"), "hello").unwrap();
        std::os::unix::fs::symlink(&outside, allowed.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), allowed.join("filelink")).unwrap();
        Dirs {
            root,
            allowed,
            outside,
        }
    }

    fn pattern(&self) -> String {
        format!("{}/*", self.allowed.display())
    }

    /// A prelude defining `ALLOWED` and `OUTSIDE` for the script.
    fn lua(&self, body: &str) -> String {
        format!(
            "local ALLOWED, OUTSIDE = {:?}, {:?}\n{body}",
            self.allowed.display().to_string(),
            self.outside.display().to_string()
        )
    }
}

impl Drop for Dirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn runtime_for(dirs: &Dirs) -> Runtime {
    let p = dirs.pattern();
    Runtime::builder()
        .module(&fs::MODULE)
        .module(&sql::MODULE)
        .module(&time::MODULE)
        .module(&buffer::MODULE)
        .workers(1)
        .actor(Actor::new("mallory"))
        .policy(Policy::allow(["fs.read", "fs.write", "sql.open"]).on(p.as_str()))
        .build()
        .unwrap()
}

/// Runs `body`; it returns a list of `name=KIND` (or `name=ok`) strings.
async fn outcomes(rt: &Runtime, src: &str) -> Vec<String> {
    rt.run::<Vec<String>>(src)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

const PROBE: &str = "
local out = {}
local function try(name, v, err)
  if err then out[#out + 1] = name .. '=' .. err:kind()
  elseif v == nil then out[#out + 1] = name .. '=nil'
  else out[#out + 1] = name .. '=ok' end
end
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_paths_are_checked_where_they_really_lead() {
    let dirs = Dirs::new("fs");
    let rt = runtime_for(&dirs);
    let src = dirs.lua(&format!(
        "{PROBE}
        local fs = require('fs')
        try('read ..', fs.read(ALLOWED .. '/../outside/secret'))
        try('read ../..', fs.read(ALLOWED .. '/sub/../../outside/secret'))
        try('read link dir', fs.read(ALLOWED .. '/link/secret'))
        try('read file link', fs.read(ALLOWED .. '/filelink'))
        try('write ..', fs.write(ALLOWED .. '/../outside/planted', 'x'))
        try('write link dir', fs.write(ALLOWED .. '/link/planted', 'x'))
        try('write file link', fs.write(ALLOWED .. '/filelink', 'overwritten'))
        try('remove ..', fs.remove(ALLOWED .. '/../outside/secret'))
        try('remove link dir', fs.remove(ALLOWED .. '/link/secret'))
        try('list ..', fs.list(ALLOWED .. '/..'))
        try('list link', fs.list(ALLOWED .. '/link'))
        local function exists(name, p) out[#out + 1] = name .. '=' .. tostring(fs.exists(p)) end
        exists('exists ..', ALLOWED .. '/../outside/secret')
        exists('exists through link', ALLOWED .. '/link/secret')
        exists('exists missing outside', ALLOWED .. '/link/nothing')
        exists('exists missing dir outside', ALLOWED .. '/link/no/dir')
        exists('exists file link', ALLOWED .. '/filelink')
        exists('exists inside', ALLOWED .. '/note')
        local _, why = fs.read(ALLOWED .. '/link/secret')
        local m = why:message()
        out[#out + 1] = 'message names the request=' .. tostring(
          m:find(ALLOWED .. '/link/secret', 1, true) ~= nil and m:find(OUTSIDE, 1, true) == nil)
        try('read inside', fs.read(ALLOWED .. '/./sub/../note'))
        try('write inside', fs.write(ALLOWED .. '/sub/new', 'data'))
        try('remove the link itself', fs.remove(ALLOWED .. '/filelink'))
        return out"
    ));
    let got = outcomes(&rt, &src).await;
    assert_eq!(
        got,
        [
            "read ..=PERMISSION_DENIED",
            "read ../..=PERMISSION_DENIED",
            "read link dir=PERMISSION_DENIED",
            "read file link=PERMISSION_DENIED",
            "write ..=PERMISSION_DENIED",
            "write link dir=PERMISSION_DENIED",
            // A link in the file's place is not followed.
            "write file link=INVALID",
            "remove ..=PERMISSION_DENIED",
            "remove link dir=PERMISSION_DENIED",
            "list ..=PERMISSION_DENIED",
            "list link=PERMISSION_DENIED",
            // Outside: false whether or not the target exists.
            "exists ..=false",
            "exists through link=false",
            "exists missing outside=false",
            "exists missing dir outside=false",
            "exists file link=false",
            "exists inside=true",
            "message names the request=true",
            "read inside=ok",
            "write inside=ok",
            "remove the link itself=ok",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(dirs.outside.join("secret")).unwrap(),
        "top secret"
    );
    assert!(!dirs.outside.join("planted").exists());
    assert!(!dirs.allowed.join("filelink").exists());
    assert_eq!(
        std::fs::read_to_string(dirs.allowed.join("sub/new")).unwrap(),
        "data"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_errors_are_kinded_by_what_went_wrong() {
    let dirs = Dirs::new("fserr");
    let rt = runtime_for(&dirs);
    let long = "n".repeat(300);
    let made = std::process::Command::new("mkfifo")
        .arg(dirs.allowed.join("fifo"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let src = dirs.lua(&format!(
        "{PROBE}
        local fs = require('fs')
        local function kind(name, v, err)
          out[#out + 1] = name .. '=' .. err:kind() .. ' retryable=' .. tostring(err:retryable())
        end
        kind('dir', fs.read(ALLOWED .. '/sub'))
        kind('not a dir', fs.read(ALLOWED .. '/note/x'))
        kind('too long', fs.read(ALLOWED .. '/{long}'))
        kind('missing', fs.read(ALLOWED .. '/missing'))
        kind('trailing slash', fs.write(ALLOWED .. '/sub/', 'x'))
        -- A FIFO with no writer: opened without blocking, read as empty.
        out[#out + 1] = 'fifo=' .. tostring(fs.read(ALLOWED .. '/fifo'))
        return out"
    ));
    assert_eq!(
        outcomes(&rt, &src).await,
        [
            "dir=INVALID retryable=false",
            "not a dir=INVALID retryable=false",
            "too long=INVALID retryable=false",
            "missing=NOT_FOUND retryable=false",
            "trailing slash=INVALID retryable=false",
            "fifo=",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_cannot_reach_files_outside_its_policy() {
    let dirs = Dirs::new("sql");
    let rt = runtime_for(&dirs);
    let src = dirs.lua(&format!(
        "{PROBE}
        local sql = require('sql')
        try('open ..', sql.open(ALLOWED .. '/../outside/x.db'))
        try('open link', sql.open(ALLOWED .. '/link/x.db'))
        try('open uri', sql.open('file:' .. OUTSIDE .. '/x.db'))
        local db = assert(sql.open(ALLOWED .. '/app.db'))
        assert(db:exec('CREATE TABLE t (x)'))
        try('attach', db:exec(\"ATTACH DATABASE '\" .. OUTSIDE .. \"/x.db' AS o\"))
        try('create in attached', db:exec('CREATE TABLE o.t (x)'))
        try('attach expression', db:exec(\"ATTACH '\" .. OUTSIDE .. \"/e.db' || '' AS e\"))
        try('attach parameter', db:exec('ATTACH ?1 AS p', {{ OUTSIDE .. '/p.db' }}))
        try('vacuum into', db:exec(\"VACUUM INTO '\" .. OUTSIDE .. \"/y.db'\"))
        try('load_extension', db:query(\"SELECT load_extension('\" .. OUTSIDE .. \"/evil')\"))
        try('temp dir', db:exec(\"PRAGMA temp_store_directory = '\" .. OUTSIDE .. \"'\"))
        try('temp on disk', db:exec('PRAGMA temp_store = FILE'))
        try('temp table', db:exec('CREATE TEMP TABLE tt AS SELECT 1 AS x'))
        try('heap limit', db:query('PRAGMA hard_heap_limit = 0'))
        try('writable schema', db:exec('PRAGMA writable_schema = ON'))
        try('vacuum', db:exec('VACUUM'))
        try('table_info', db:query('PRAGMA table_info(t)'))
        try('attach memory', db:exec(\"ATTACH ':memory:' AS scratch\"))
        return out"
    ));
    assert_eq!(
        outcomes(&rt, &src).await,
        [
            "open ..=PERMISSION_DENIED",
            "open link=PERMISSION_DENIED",
            "open uri=PERMISSION_DENIED",
            "attach=PERMISSION_DENIED",
            "create in attached=INVALID",
            "attach expression=PERMISSION_DENIED",
            "attach parameter=PERMISSION_DENIED",
            "vacuum into=PERMISSION_DENIED",
            "load_extension=PERMISSION_DENIED",
            "temp dir=PERMISSION_DENIED",
            "temp on disk=PERMISSION_DENIED",
            "temp table=ok",
            "heap limit=PERMISSION_DENIED",
            "writable schema=PERMISSION_DENIED",
            "vacuum=ok",
            "table_info=ok",
            "attach memory=ok",
        ]
    );
    let outside: Vec<_> = std::fs::read_dir(&dirs.outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(outside, ["secret"], "nothing was created outside");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_results_say_what_happened() {
    let dirs = Dirs::new("sqlres");
    let rt = runtime_for(&dirs);
    let src = dirs.lua(
        "local sql = require('sql')
        local db = assert(sql.open(ALLOWED .. '/r.db'))
        assert(db:exec('CREATE TABLE t (x)'))
        local n, err = db:exec('INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); INSERT INTO t VALUES (3)')
        assert(n == nil and err:kind() == 'INVALID', tostring(err))
        assert(err:message():find('one statement', 1, true), err:message())
        assert(db:query('SELECT count(*) AS c FROM t')[1].c == 0, 'nothing ran')
        -- The body commits by hand, then fails: the caller sees the body's error.
        local ok, terr = db:transaction(function()
          assert(db:exec('INSERT INTO t VALUES (4)'))
          assert(db:exec('COMMIT'))
          error('body failed after its own commit')
        end)
        assert(ok == nil and terr:message():find('body failed', 1, true), tostring(terr))
        return 'ok'",
    );
    let r: String = rt.run(&src).await.unwrap();
    assert_eq!(r, "ok");
}

/// Cancelled inside `db:transaction(fn)` (by its deadline): the transaction
/// rolls back at once, so another connection can write without waiting for
/// the collector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_transaction_rolls_back_at_once() {
    let dirs = Dirs::new("sqltx");
    let rt = runtime_for(&dirs);
    let db = dirs.allowed.join("tx.db");
    let src = dirs.lua(
        "local sql, time = require('sql'), require('time')
        local db = assert(sql.open(ALLOWED .. '/tx.db'))
        assert(db:exec('CREATE TABLE t (x)'))
        db:transaction(function()
          assert(db:exec('INSERT INTO t VALUES (1)'))
          time.sleep(60000)
        end)",
    );
    let count = rows_after_timeout(&rt, &src, Duration::from_millis(300), db).await;
    assert_eq!(count, 1, "the cancelled insert was rolled back");
}

/// A coroutine closed while it waits inside `db:transaction(fn)`: the
/// transaction rolls back at once, and statements run after the close
/// are not made part of it (they were, and the collector's late rollback
/// then took the acknowledged writes with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_coroutine_rolls_its_transaction_back() {
    let dirs = Dirs::new("sqlco");
    let rt = runtime_for(&dirs);
    let db = dirs.allowed.join("co.db");
    let src = dirs.lua(
        "local sql = require('sql')
        local db = assert(sql.open(ALLOWED .. '/co.db'))
        assert(db:exec('CREATE TABLE t (x)'))
        local co = coroutine.create(function()
          return db:transaction(function()
            assert(db:exec('INSERT INTO t VALUES (42)'))
            coroutine.yield()
          end)
        end)
        assert(coroutine.resume(co))
        assert(coroutine.close(co))
        assert(db:exec('INSERT INTO t VALUES (1)'))
        local ok, err = db:transaction(function() assert(db:exec('INSERT INTO t VALUES (2)')) end)
        assert(ok, tostring(err))
        return 'ok'",
    );
    let r: String = rt.run(&src).await.unwrap();
    assert_eq!(r, "ok");
    assert_eq!(column_x::<i64>(db).await, [1, 2]);
}

/// An abandoned transaction is rolled back only while it is still the one
/// open: one ended by hand and then abandoned (its coroutine closed in the
/// middle of another transaction) leaves the other alone, all or nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoning_an_ended_transaction_leaves_the_open_one_alone() {
    let dirs = Dirs::new("sqltx2");
    let rt = runtime_for(&dirs);
    let db = dirs.allowed.join("tx2.db");
    let src = dirs.lua(
        "local sql = require('sql')
        local db = assert(sql.open(ALLOWED .. '/tx2.db'))
        assert(db:exec('CREATE TABLE t (x)'))
        local co = coroutine.create(function()
          return db:transaction(function() coroutine.yield() end)
        end)
        assert(coroutine.resume(co))
        assert(db:exec('COMMIT'))
        local ok, err = db:transaction(function()
          assert(db:exec(\"INSERT INTO t VALUES ('debit')\"))
          assert(coroutine.close(co))
          assert(db:exec(\"INSERT INTO t VALUES ('credit')\"))
        end)
        assert(ok, tostring(err))
        return 'ok'",
    );
    let r: String = rt.run(&src).await.unwrap();
    assert_eq!(r, "ok");
    assert_eq!(column_x::<String>(db).await, ["credit", "debit"]);
}

/// Column `x` of table `t` in `db`, in order, read by a connection of the
/// test's own (waiting for any lock).
async fn column_x<T: rusqlite::types::FromSql + Send + 'static>(db: PathBuf) -> Vec<T> {
    tokio::task::spawn_blocking(move || {
        let c = rusqlite_open(&db);
        let mut q = c.prepare("SELECT x FROM t ORDER BY x").unwrap();
        q.query_map([], |r| r.get::<_, T>(0))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    })
    .await
    .unwrap()
}

/// Runs `src` until its `deadline` stops it, then writes a row of the
/// test's own into `db` (waiting for any lock) and counts the rows.
async fn rows_after_timeout(rt: &Runtime, src: &str, deadline: Duration, db: PathBuf) -> i64 {
    let opts = SpawnOptions {
        deadline: Some(deadline),
        ..SpawnOptions::default()
    };
    let pid = rt.spawn(src, opts).unwrap();
    let err = rt.join(pid).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Timeout), "{err}");
    tokio::task::spawn_blocking(move || {
        let c = rusqlite_open(&db);
        c.execute("INSERT INTO t VALUES (2)", []).unwrap();
        c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
            .unwrap()
    })
    .await
    .unwrap()
}

/// Cancelled inside `db:batch` (by its deadline): the batch stops between
/// two statements and rolls back. SQLite sees an interrupt only inside a
/// statement's loops, so a batch of statements without loops ran on for
/// every statement after the process was gone, and then committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_batch_stops_between_statements_and_rolls_back() {
    let dirs = Dirs::new("sqlbatch");
    let rt = runtime_for(&dirs);
    let db = dirs.allowed.join("batch.db");
    let src = dirs.lua(
        "local sql = require('sql')
        local db = assert(sql.open(ALLOWED .. '/batch.db'))
        assert(db:exec('CREATE TABLE t (x)'))
        local s = { sql = 'INSERT INTO t VALUES (length(hex(zeroblob(100000))))' }
        local list = {}
        for i = 1, 20000 do list[i] = s end
        return db:batch(list)",
    );
    // Long enough for the open and the table (a disk sync) on a busy
    // machine; the batch takes far longer.
    let count = rows_after_timeout(&rt, &src, Duration::from_secs(2), db).await;
    assert_eq!(count, 1, "the cancelled batch was rolled back");
}

/// Paths past what the kernel takes are refused before they are resolved
/// (resolving checks every prefix: a 2 MB path held a blocking thread for
/// over a minute, and the time grows with the square of the length).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_longer_than_the_kernel_takes_are_refused_at_once() {
    let dirs = Dirs::new("longpath");
    let rt = runtime_for(&dirs);
    let src = dirs.lua(&format!(
        "{PROBE}
        local fs, sql = require('fs'), require('sql')
        local long = ALLOWED .. '/' .. ('a/'):rep(1 << 20)
        try('read', fs.read(long))
        try('write', fs.write(long .. 'f', 'x'))
        try('list', fs.list(long))
        try('remove', fs.remove(long .. 'f'))
        try('open', sql.open(long .. 'db'))
        out[#out + 1] = 'exists=' .. tostring(fs.exists(long))
        local _, err = fs.read(long)
        out[#out + 1] = 'says why=' .. tostring(err:message():find('path too long', 1, true) ~= nil)
        out[#out + 1] = 'short message=' .. tostring(#err:message() < 200)
        return out"
    ));
    assert_eq!(
        outcomes(&rt, &src).await,
        [
            "read=INVALID",
            "write=INVALID",
            "list=INVALID",
            "remove=INVALID",
            "open=INVALID",
            "exists=false",
            "says why=true",
            "short message=true",
        ]
    );
}

/// A directory a script filled is listed up to `fs::MAX_LIST` names: each
/// listing copies every name into Rust on the blocking pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_a_directory_of_too_many_files_is_refused() {
    let dirs = Dirs::new("biglist");
    let full = dirs.allowed.join("full");
    std::fs::create_dir(&full).unwrap();
    for i in 0..=fs::MAX_LIST {
        std::fs::File::create(full.join(i.to_string())).unwrap();
    }
    let rt = runtime_for(&dirs);
    let src = dirs.lua(&format!(
        "{PROBE}
        local fs = require('fs')
        try('full', fs.list(ALLOWED .. '/full'))
        try('small', fs.list(ALLOWED .. '/sub'))
        return out"
    ));
    assert_eq!(
        outcomes(&rt, &src).await,
        ["full=RESOURCE_EXHAUSTED", "small=ok"]
    );
}

/// A connection of the test's own, which waits for locks (no time limit of
/// the test: it waits as long as the lock is held).
fn rusqlite_open(path: &Path) -> luamod_tests::sqlite::Connection {
    luamod_tests::sqlite::open_waiting(path)
}

/// An endless query, cancelled: SQLite stops it (a writer gets in) and the
/// runtime drops promptly afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_endless_query_is_interrupted() {
    let dirs = Dirs::new("sqlspin");
    let rt = runtime_for(&dirs);
    let path = dirs.allowed.join("spin.db");
    let src = dirs.lua(
        "local sql = require('sql')
        local db = assert(sql.open(ALLOWED .. '/spin.db'))
        assert(db:exec('CREATE TABLE t (x)'))
        assert(db:exec('INSERT INTO t VALUES (1)'))
        return db:query('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT c.x + 1 FROM c, t) SELECT count(*) FROM c')",
    );
    let pid = rt.spawn(&src, SpawnOptions::default()).unwrap();
    while rt.stats().await[0].waiting == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Let the query get going, then cancel.
    tokio::time::sleep(Duration::from_millis(100)).await;
    rt.cancel(pid);
    rt.join(pid).await.unwrap_err();
    let count = tokio::task::spawn_blocking(move || {
        let c = rusqlite_open(&path);
        // A write needs the reader gone.
        c.execute("INSERT INTO t VALUES (2)", []).unwrap();
        c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(count, 2);
    drop(rt);
}

/// A loopback HTTP server on `ip` that counts requests; `/hello` answers
/// `hi`, `/to?url` redirects there, `/loop` redirects to itself.
async fn server(ip: &str) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = 0;
                loop {
                    let Ok(n) = sock.read(&mut buf[got..]).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    got += n;
                    if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") || got == buf.len() {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&buf[..got]).to_string();
                let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let reply = if let Some(to) = target.strip_prefix("/to?") {
                    format!(
                        "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                } else if target == "/loop" {
                    "HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
                } else {
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi".to_owned()
                };
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    (base, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_policies_hold_against_url_tricks_and_redirects() {
    let (good, _) = server("127.0.0.1").await;
    let (evil, evil_hits) = server("127.0.0.2").await;
    let evil_port = evil.rsplit(':').next().unwrap().to_owned();
    let good_port = good.rsplit(':').next().unwrap().to_owned();
    let rt = Runtime::builder()
        .module(&http_client::MODULE)
        .workers(1)
        .actor(Actor::new("mallory"))
        .policy(Policy::allow("http_client.request").on(format!("{good}/*").as_str()))
        .build()
        .unwrap();
    let src = format!(
        "{PROBE}
        local http = require('http_client')
        local GOOD, EP, GP = {good:?}, {evil_port:?}, {good_port:?}
        try('userinfo', http.get('http://127.0.0.1:' .. GP .. '@127.0.0.2:' .. EP .. '/hello'))
        try('userinfo 2', http.get('http://127.0.0.1:1@127.0.0.2:' .. EP .. '/hello'))
        try('decimal', http.get('http://2130706434:' .. EP .. '/hello'))
        try('hex', http.get('http://0x7f000002:' .. EP .. '/hello'))
        try('octal', http.get('http://0177.0.0.2:' .. EP .. '/hello'))
        try('short', http.get('http://127.2:' .. EP .. '/hello'))
        try('mapped v6', http.get('http://[::ffff:127.0.0.2]:' .. EP .. '/hello'))
        try('redirect out', http.get(GOOD .. '/to?http://127.0.0.2:' .. EP .. '/hello'))
        try('redirect loop', http.get(GOOD .. '/loop'))
        try('scheme', http.get('file:///etc/passwd'))
        try('unspecified', http.get('http://0:' .. EP .. '/hello'))
        try('host header', http.request({{ url = GOOD .. '/hello', headers = {{ HOST = '127.0.0.2:' .. EP }} }}))
        -- The `http` crate panics past 24,576 header names.
        local many = {{}} for i = 1, 30000 do many['x-' .. i] = 'v' end
        try('too many headers', http.request({{ url = GOOD .. '/hello', headers = many }}))
        -- Held, with two more copies, for as long as the request lasts.
        local large = {{}} for i = 1, 100 do large['x-' .. i] = ('v'):rep(1000) end
        try('headers too large', http.request({{ url = GOOD .. '/hello', headers = large }}))
        try('good', http.get(GOOD .. '/hello'))
        try('good upper case', http.get('HTTP://127.0.0.1:' .. GP .. '/hello'))
        try('good dots', http.get(GOOD .. '/a/../hello'))
        try('encoded slash', http.get(GOOD .. '/a/..%2fhello'))
        try('encoded backslash', http.get(GOOD .. '/a/..%5Chello'))
        try('redirect in', http.get(GOOD .. '/to?/hello'))
        return out"
    );
    let got = outcomes(&rt, &src).await;
    assert_eq!(
        got,
        [
            "userinfo=PERMISSION_DENIED",
            "userinfo 2=PERMISSION_DENIED",
            "decimal=PERMISSION_DENIED",
            "hex=PERMISSION_DENIED",
            "octal=PERMISSION_DENIED",
            "short=PERMISSION_DENIED",
            "mapped v6=PERMISSION_DENIED",
            "redirect out=PERMISSION_DENIED",
            "redirect loop=INVALID",
            "scheme=PERMISSION_DENIED",
            "unspecified=PERMISSION_DENIED",
            "host header=INVALID",
            "too many headers=INVALID",
            "headers too large=INVALID",
            "good=ok",
            "good upper case=PERMISSION_DENIED",
            "good dots=ok",
            "encoded slash=INVALID",
            "encoded backslash=INVALID",
            "redirect in=ok",
        ]
    );
    assert_eq!(
        evil_hits.load(Ordering::SeqCst),
        0,
        "the other host was never reached"
    );

    // A deny-list (allow everything, deny one host): the forms of an
    // address that reach it under another text are caught too.
    let rt = Runtime::builder()
        .module(&http_client::MODULE)
        .workers(1)
        .actor(Actor::new("mallory"))
        .policy(Policy::allow("http_client.request"))
        .policy(Policy::deny("http_client.request").on("http://127.0.0.2:*"))
        .build()
        .unwrap();
    let src = format!(
        "{PROBE}
        local http = require('http_client')
        local EP = {evil_port:?}
        try('direct', http.get('http://127.0.0.2:' .. EP .. '/hello'))
        try('mapped v6', http.get('http://[::ffff:127.0.0.2]:' .. EP .. '/hello'))
        try('mapped hex', http.get('http://[::ffff:7f00:2]:' .. EP .. '/hello'))
        try('decimal', http.get('http://2130706434:' .. EP .. '/hello'))
        try('unspecified', http.get('http://0.0.0.0:' .. EP .. '/hello'))
        try('zero', http.get('http://0:' .. EP .. '/hello'))
        try('v6 unspecified', http.get('http://[::]:' .. EP .. '/hello'))
        return out"
    );
    assert_eq!(
        outcomes(&rt, &src).await,
        [
            "direct=PERMISSION_DENIED",
            "mapped v6=PERMISSION_DENIED",
            "mapped hex=PERMISSION_DENIED",
            "decimal=PERMISSION_DENIED",
            "unspecified=INVALID",
            "zero=INVALID",
            "v6 unspecified=INVALID",
        ]
    );
    assert_eq!(
        evil_hits.load(Ordering::SeqCst),
        0,
        "the denied host was never reached"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_arithmetic_cannot_overflow() {
    let dirs = Dirs::new("time");
    let rt = runtime_for(&dirs);
    let src = "local time = require('time')
        local out = {}
        for _, f in ipairs({
          function() return time.after(math.maxinteger) end,
          function() return time.after(-1) end,
          function() return time.ticker(2^60) end,
          function() return time.sleep(-5) end,
          function() return time.after(1):reset(math.maxinteger) end,
        }) do
          local ok, err = pcall(f)
          out[#out + 1] = tostring(ok) .. ' ' .. tostring(err)
        end
        local far = time.after(2^53)
        out[#out + 1] = tostring(far.active)
        return out";
    let got = outcomes(&rt, src).await;
    for line in &got[..5] {
        assert!(
            line.starts_with("false") && line.contains("duration out of range"),
            "{got:?}"
        );
    }
    assert!(got[0].contains("bad argument #1 to 'after'"), "{got:?}");
    assert_eq!(got[5], "true");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comparisons_and_error_constructors_answer_plainly() {
    let dirs = Dirs::new("misc");
    let rt = runtime_for(&dirs);
    let src = "local buffer, time = require('buffer'), require('time')
        local b, t = buffer.Buffer.new('x'), time.after(10)
        local out = { tostring(b == t), tostring(t == b), tostring(b == buffer.Buffer.new('x')) }
        for _, spec in ipairs({
          { kind = 5 }, { message = {} }, { retryable = 'yes' }, { kind = 'NOPE' },
          { details = 5 }, { details = { a = {} } }, { details = { [{}] = 'x' } }, true,
        }) do
          local ok, err = pcall(errors.new, spec)
          out[#out + 1] = tostring(err)
        end
        return out";
    let got = outcomes(&rt, src).await;
    assert_eq!(&got[..3], ["false", "false", "true"]);
    for line in &got[3..] {
        assert!(line.contains("bad argument #1 to 'errors.new'"), "{got:?}");
        assert!(!line.contains("error converting"), "{got:?}");
    }
}

/// A forged hot journal names a file outside as its super-journal: SQLite
/// would delete that file when it rolls the journal back. A script cannot
/// forge one (`fs` refuses to write a journal's name, `sql` to open one as
/// a database); another program that writes the directory can, and the
/// module's file layer then refuses to open the super-journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_journal_cannot_delete_files_outside() {
    let dirs = Dirs::new("journal");
    let victim = dirs.outside.join("victim");
    std::fs::write(&victim, "still here").unwrap();
    let rt = runtime_for(&dirs);
    // A database with a row, closed as its process ends.
    let make = dirs.lua(
        "local db = assert(require('sql').open(ALLOWED .. '/h.db'))
        assert(db:exec('CREATE TABLE t (x)'))
        assert(db:exec('INSERT INTO t VALUES (1)'))
        return true",
    );
    assert!(rt.run::<bool>(&make).await.unwrap());
    // A hot journal beside it, naming the victim as its super-journal.
    let name = victim.display().to_string().into_bytes();
    let sum = name
        .iter()
        .map(|&b| u32::from(b))
        .fold(0u32, u32::wrapping_add);
    let mut journal = b"X\0\0\0".to_vec();
    journal.extend_from_slice(&name);
    journal.extend_from_slice(&(name.len() as u32).to_be_bytes());
    journal.extend_from_slice(&sum.to_be_bytes());
    journal.extend_from_slice(&[0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]);
    std::fs::write(dirs.allowed.join("h.db-journal"), journal).unwrap();
    let src = dirs.lua(
        "local fs, sql = require('fs'), require('sql')
        local w, werr = fs.write(ALLOWED .. '/x.db-journal', 'forged')
        local db = assert(sql.open(ALLOWED .. '/h.db'))
        local rows, err = db:query('SELECT * FROM t')
        local other, oerr = sql.open(ALLOWED .. '/h.db-journal')
        return tostring(w) .. ' ' .. werr:kind() .. ' ' .. tostring(other) .. ' ' .. oerr:kind()",
    );
    let r: String = rt.run(&src).await.unwrap();
    assert_eq!(r, "nil INVALID nil INVALID");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "still here");
}

/// A database's `-shm` file is mapped into the host's memory while the
/// database is in WAL mode: truncating it through `fs.write` made the
/// database's next access kill the host with `SIGBUS`. `fs` refuses to
/// write or remove a database's own files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_databases_own_files_cannot_be_written_or_removed() {
    let dirs = Dirs::new("shm");
    let rt = runtime_for(&dirs);
    let src = dirs.lua(
        "local fs, sql = require('fs'), require('sql')
        local db = assert(sql.open(ALLOWED .. '/w.db'))
        local mode = db:query('PRAGMA journal_mode=WAL')[1].journal_mode
        assert(db:exec('CREATE TABLE t (x)'))
        assert(db:exec('INSERT INTO t VALUES (1)'))
        local out = { mode }
        for _, f in ipairs({ 'w.db-shm', 'w.db-wal' }) do
          local ok, err = fs.write(ALLOWED .. '/' .. f, '')
          out[#out + 1] = 'write ' .. f .. '=' .. (ok and 'ok' or err:kind())
          ok, err = fs.remove(ALLOWED .. '/' .. f)
          out[#out + 1] = 'remove ' .. f .. '=' .. (ok and 'ok' or err:kind())
        end
        out[#out + 1] = 'rows=' .. #db:query('SELECT * FROM t')
        return table.concat(out, ' ')",
    );
    let r: String = rt.run(&src).await.unwrap();
    assert_eq!(
        r,
        "wal write w.db-shm=INVALID remove w.db-shm=INVALID write w.db-wal=INVALID remove w.db-wal=INVALID rows=1"
    );
}

/// An export that takes a sequence whose elements may be nil.
#[luamod::module(name = "holes")]
mod holes {
    #[luamod::function]
    pub fn count(xs: Vec<Option<i64>>) -> usize {
        xs.len()
    }
}

/// `#t` is any border: 66 keys at powers of two make it 2^62, which an
/// element type that takes nil would read as that many holes into Rust
/// memory. A sequence that is mostly holes is refused; a few are kept.
#[test]
fn a_sequence_argument_that_is_mostly_holes_is_refused() {
    let lua = luamod::lua_with(&[&holes::MODULE]).unwrap();
    let few: usize = lua
        .load("return require('holes').count({1, nil, 3})")
        .eval()
        .unwrap();
    assert_eq!(few, 3);
    let (len, ok, e): (i64, bool, String) = lua
        .load(
            "local t = {}
             for _, k in ipairs({1, 2, 3, 4, 5, 8, 9}) do t[k] = k end
             for m = 4, 62 do t[1 << m] = m end
             local ok, e = pcall(require('holes').count, t)
             return #t, ok, tostring(e)",
        )
        .eval()
        .unwrap();
    assert_eq!(len, 1 << 62);
    assert!(!ok);
    assert!(e.contains("mostly nil"), "{e}");
}

/// An export that takes a sequence of sequences.
#[luamod::module(name = "nested")]
mod nested {
    #[luamod::function]
    pub fn total(xs: Vec<Vec<i64>>) -> usize {
        xs.iter().map(Vec::len).sum()
    }
}

/// One table passed many times over is read into Rust once per reference:
/// 20,000 references to a million integers would be 160 GB of Rust memory.
/// Elements count against the call's copy limit like strings do.
#[test]
fn a_table_passed_many_times_over_is_refused_past_the_copy_limit() {
    let lua = luamod::lua_with(&[&nested::MODULE]).unwrap();
    let (ok, e): (bool, String) = lua
        .load(
            "local P = {} for i = 1, 1e6 do P[i] = i end
             local S = {} for i = 1, 20000 do S[i] = P end
             local ok, e = pcall(require('nested').total, S)
             return ok, tostring(e)",
        )
        .eval()
        .unwrap();
    assert!(!ok);
    assert!(e.contains("arguments too large"), "{e}");
    let small: usize = lua
        .load("local P = {1, 2, 3} return require('nested').total({P, P, P})")
        .eval()
        .unwrap();
    assert_eq!(small, 9);
}

/// An export that takes any number of strings.
#[luamod::module(name = "strings")]
mod strings {
    #[luamod::function]
    pub fn count(xs: luamod::mlua::Variadic<String>) -> usize {
        xs.len()
    }
}

/// Short strings count against the copy limit at what their copies hold:
/// each one-byte argument is a `String` in the `Vec` (24 bytes) and a heap
/// block (about 25), not one byte. A million of them would otherwise be
/// counted at 1 MB while holding about 50.
#[test]
fn short_strings_count_against_the_copy_limit_with_their_overhead() {
    let lua = luamod::lua_with(&[&strings::MODULE]).unwrap();
    // What the big argument leaves of the limit.
    let room = 3_500_000;
    let call = |short: usize| -> (bool, String) {
        lua.load(format!(
            "local big = ('x'):rep({big})
             local t = {{}} for i = 1, {short} do t[i] = 'a' end
             local ok, e = pcall(require('strings').count, big, table.unpack(t))
             return ok, tostring(e)",
            big = luamod::CallCx::MAX_COPIED - room,
        ))
        .eval()
        .unwrap()
    };
    // 100,000 bytes of text, about 4.9 MB of copies.
    let (ok, e) = call(100_000);
    assert!(!ok, "{e}");
    assert!(e.contains("arguments too large"), "{e}");
    // Half as many fit.
    let (ok, n) = call(50_000);
    assert!(ok, "{n}");
    assert_eq!(n, "50001");
}
