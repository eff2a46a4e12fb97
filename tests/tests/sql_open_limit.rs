//! The example `sql`'s caps on open databases, per process and host-wide.
//! A binary of its own: the count is the whole process's, and the other
//! suites open databases concurrently.

#![cfg(not(feature = "luajit"))]

use luamod::prelude::*;
use luamod::runtime::SpawnOptions;
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
        .module(&luamod_examples::time::MODULE)
        .workers(1)
        .actor(Actor::new("mallory"))
        .policy(Policy::allow("sql.open").on(format!("{}/*", dir.display()).as_str()))
        .build()
        .unwrap()
}

/// Opens databases `dir/TAG-1`, `dir/TAG-2`, ... until refused; returns
/// how many it kept, and the refusal's kind and message. With `hold`, it
/// then waits (60 s) with them open.
fn fill(dir: &std::path::Path, tag: &str, hold: bool) -> String {
    format!(
        "local sql, dir = require('sql'), {:?}
        local kept = {{}}
        while true do
          local db, err = sql.open(dir .. '/{tag}-' .. (#kept + 1))
          if not db then
            {}
            return #kept, err:kind(), err:message()
          end
          kept[#kept + 1] = db
        end",
        dir.display().to_string(),
        if hold {
            "require('time').sleep(60000)"
        } else {
            ""
        }
    )
}

/// A script that opens databases without end is refused at its share,
/// and the processes of the host at the cap, with `RESOURCE_EXHAUSTED`,
/// instead of taking every file descriptor of the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_databases_without_end_is_refused_at_the_cap() {
    let _turn = TURN.lock().await;
    // The other test's databases close as its processes end.
    all_closed().await;
    let dir = scratch("open");
    let rt = runtime(&dir);
    let (opened, kind, msg): (usize, String, String) =
        rt.run(fill(&dir, "one", false).as_str()).await.unwrap();
    assert_eq!(
        (opened, kind.as_str()),
        (sql::MAX_OPEN_PER_PROCESS, "RESOURCE_EXHAUSTED")
    );
    assert!(msg.contains("in a process"), "{msg}");
    all_closed().await;
    // Processes that each hold their share fill the host's places.
    let holders: Vec<_> = (0..sql::MAX_OPEN / sql::MAX_OPEN_PER_PROCESS)
        .map(|i| {
            rt.spawn(
                fill(&dir, &format!("h{i}"), true).as_str(),
                SpawnOptions::default(),
            )
            .unwrap()
        })
        .collect();
    let mut waited = 0;
    while sql::open_now() < sql::MAX_OPEN && waited < 400 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(sql::open_now(), sql::MAX_OPEN);
    let (opened, kind, msg): (usize, String, String) =
        rt.run(fill(&dir, "late", false).as_str()).await.unwrap();
    assert_eq!((opened, kind.as_str()), (0, "RESOURCE_EXHAUSTED"));
    assert!(msg.contains("in the host"), "{msg}");
    for pid in holders {
        rt.cancel(pid);
    }
    // Closed as their processes end, the databases give their places back.
    assert_eq!(all_closed().await, 0, "the holders' databases are closed");
    let (reopened, _, _): (usize, String, String) =
        rt.run(fill(&dir, "again", false).as_str()).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(reopened, sql::MAX_OPEN_PER_PROCESS);
}

/// A process's databases are closed when it ends: one that kept as many
/// as its share allows, and ended, does not leave the next script refused
/// until a collection frees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_ends_gives_its_databases_back() {
    let _turn = TURN.lock().await;
    // The other test's databases close as its processes end.
    all_closed().await;
    let dir = scratch("end");
    let rt = runtime(&dir);
    let (opened, kind, _): (usize, String, String) =
        rt.run(fill(&dir, "db", false).as_str()).await.unwrap();
    assert_eq!(
        (opened, kind.as_str()),
        (sql::MAX_OPEN_PER_PROCESS, "RESOURCE_EXHAUSTED")
    );
    // The ended process's databases close on the blocking pool, soon after
    // it ends. Nothing runs Lua meanwhile, so no collection frees them.
    assert_eq!(
        all_closed().await,
        0,
        "the ended process's databases are closed"
    );
    // And the next process gets its whole share again.
    let refill = rt
        .run::<(usize, String, String)>(fill(&dir, "db", false).as_str())
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(refill.0, sql::MAX_OPEN_PER_PROCESS);
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
