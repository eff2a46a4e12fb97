//! The example `sql`'s cap on open databases, host-wide. A binary of its
//! own: the count is the whole process's, and the other suites open
//! databases concurrently.

#![cfg(not(feature = "luajit"))]

use luamod::prelude::*;
use luamod_examples::sql;

/// The count is the whole process's: the tests take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A directory of this test's own, by its real path (the policy names it).
fn scratch(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("luamod-sql-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::canonicalize(&dir).unwrap()
}

/// A runtime whose scripts may open databases in `dir`.
fn runtime(dir: &std::path::Path) -> Runtime {
    Runtime::builder()
        .module(&sql::MODULE)
        .workers(1)
        .actor(Actor::new("mallory"))
        .policy(Policy::allow("sql.open").on(format!("{}/*", dir.display()).as_str()))
        .build()
        .unwrap()
}

/// A script that opens databases without end is refused at the cap, with
/// `RESOURCE_EXHAUSTED`, instead of taking every file descriptor of the
/// host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_databases_without_end_is_refused_at_the_cap() {
    let _turn = TURN.lock().await;
    // The other test's databases close as its processes end.
    all_closed().await;
    let dir = scratch("open");
    let rt = runtime(&dir);
    let src = format!(
        "local sql, dir = require('sql'), {:?}
        local kept = {{}}
        for i = 1, {} do
          local db, err = sql.open(dir .. '/db' .. i)
          if not db then return #kept, err:kind() end
          kept[i] = db
        end
        return #kept, 'never refused'",
        dir.display().to_string(),
        sql::MAX_OPEN + 10
    );
    let (opened, kind): (usize, String) = rt.run(src.as_str()).await.unwrap();
    assert_eq!(
        (opened, kind.as_str()),
        (sql::MAX_OPEN, "RESOURCE_EXHAUSTED")
    );
    // Closed with the worker's state (their finalizers close them on the
    // blocking pool), the databases give their places back.
    rt.shutdown(std::time::Duration::from_secs(1)).await;
    drop(rt);
    let rt = runtime(&dir);
    let again = format!(
        "local db = require('sql').open({:?} .. '/again') return db ~= nil",
        dir.display().to_string()
    );
    let mut reopened = false;
    for _ in 0..100 {
        if rt.run::<bool>(again.as_str()).await.unwrap() {
            reopened = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(reopened, "the closed databases gave their places back");
}

/// A process's databases are closed when it ends: one that kept as many
/// as the cap allows, and ended, does not leave the next script refused
/// until a collection frees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_ends_gives_its_databases_back() {
    let _turn = TURN.lock().await;
    // The other test's databases close as its processes end.
    all_closed().await;
    let dir = scratch("end");
    let rt = runtime(&dir);
    let dir_lua = format!("{:?}", dir.display().to_string());
    let fill = format!(
        "local sql, dir = require('sql'), {dir_lua}
        local kept = {{}}
        while true do
          local db, err = sql.open(dir .. '/db' .. #kept)
          if not db then return #kept, err:kind() end
          kept[#kept + 1] = db
        end"
    );
    let (opened, kind): (usize, String) = rt.run(fill.as_str()).await.unwrap();
    assert_eq!(
        (opened, kind.as_str()),
        (sql::MAX_OPEN, "RESOURCE_EXHAUSTED")
    );
    // The ended process's databases close on the blocking pool, soon after
    // it ends. Nothing runs Lua meanwhile, so no collection frees them.
    assert_eq!(
        all_closed().await,
        0,
        "the ended process's databases are closed"
    );
    // And the next process gets the whole cap again.
    let refill = rt.run::<(usize, String)>(fill.as_str()).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(refill.0, sql::MAX_OPEN);
}

/// Waits (10 s at most) for every database of the host to be closed;
/// how many are still open.
async fn all_closed() -> usize {
    let mut waited = 0;
    while sql::open_now() > 0 && waited < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    sql::open_now()
}
