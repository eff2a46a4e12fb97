//! The example modules from Lua, through the runtime, including their
//! failure paths.

#![cfg(not(feature = "luajit"))]

use luamod::prelude::*;
use luamod::testing::eval;
use luamod_examples::{fs, json};

fn rt(policies: Vec<Policy>) -> Runtime {
    let mut b = Runtime::builder()
        .module(&json::MODULE)
        .module(&fs::MODULE)
        .actor(Actor::new("tester"))
        .workers(1);
    for p in policies {
        b = b.policy(p);
    }
    b.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_decode_reads_numbers_keys_and_text_as_serde_json_does() {
    let rt = rt(vec![]);
    let got: Vec<String> = eval(
        &rt,
        r#"
        local json = require('json')
        local out = {}
        local function show(v)
          if type(v) == 'table' then
            local keys = {}
            for k in pairs(v) do keys[#keys + 1] = tostring(k) end
            table.sort(keys)
            local parts = {}
            for _, k in ipairs(keys) do
              parts[#parts + 1] = k .. '=' .. show(v[tonumber(k) or k])
            end
            return '{' .. table.concat(parts, ',') .. '}'
          elseif json.is_null(v) then
            return 'null'
          end
          return math.type(v) and (math.type(v) .. ':' .. tostring(v)) or tostring(v)
        end
        for _, text in ipairs({
          '18446744073709551615', '-9223372036854775808', '9223372036854775807', '1e2', '-0.5',
          '{"a": 1, "a": 2}', '{"\\u00e9t\\u00e9": [null, null, 3]}', '[[], {}, [[1]]]',
          '"tab\\tand \\"quotes\\""', ' true ',
        }) do
          out[#out + 1] = show(json.decode(text))
        end
        for _, text in ipairs({ '[1] x', '', '[1,]', '{"a" 1}', '1e400', '"\\ud800"' }) do
          local v, err = json.decode(text)
          assert(v == nil and err:kind() == errors.INVALID, text)
          out[#out + 1] = err:message()
        end
        return out
        "#,
    )
    .await;
    let want_values = [
        "float:1.844674407371e+19",
        "integer:-9223372036854775808",
        "integer:9223372036854775807",
        "float:100.0",
        "float:-0.5",
        "{a=integer:2}",
        "{\u{e9}t\u{e9}={1=null,2=null,3=integer:3}}",
        "{1={},2={},3={1={1=integer:1}}}",
        "tab\tand \"quotes\"",
        "true",
    ];
    assert_eq!(got[..want_values.len()], want_values);
    let errors = &got[want_values.len()..];
    assert!(
        errors[0].contains("trailing characters at line 1 column 5"),
        "{}",
        errors[0]
    );
    for e in &errors[1..] {
        assert!(e.starts_with("invalid JSON at line 1 column "), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_round_trips_and_refuses_what_it_cannot_encode() {
    let rt = rt(vec![]);
    let (a, b, c, d, e): (String, String, String, String, String) = eval(
        &rt,
        r#"
        local json = require('json')
        local v = json.decode('{"a": [1, 2.5, "x", null, true], "b": {}}')
        assert(json.is_null(v.a[4]) and v.a[4] == json.null and v.a[2] == 2.5 and math.type(v.a[1]) == 'integer')
        return json.encode({1, 2, 3}), json.encode({}), json.encode({name = 'x'}),
               json.encode(v.a), json.encode({list = {}}, {pretty = true})
        "#,
    )
    .await;
    assert_eq!(
        (a.as_str(), b.as_str(), c.as_str()),
        ("[1,2,3]", "{}", r#"{"name":"x"}"#)
    );
    assert_eq!(d, r#"[1,2.5,"x",null,true]"#);
    assert_eq!(e, "{\n  \"list\": {}\n}");
    let errs: Vec<String> = eval(
        &rt,
        r#"
        local json = require('json')
        local out = {}
        local cyclic = {}; cyclic.self = cyclic
        for _, v in ipairs({ cyclic, {[1] = 'a', x = 1}, {[true] = 1}, {f = print}, {n = 0/0} }) do
          local s, err = json.encode(v)
          assert(s == nil and err:kind() == errors.INVALID)
          out[#out + 1] = err:message()
        end
        local v, err = json.decode('{"a": 1,\n "b": }')
        assert(v == nil)
        out[#out + 1] = err:message()
        out[#out + 1] = tostring(err:details().line) .. ':' .. tostring(err:details().column)
        return out
        "#,
    )
    .await;
    assert_eq!(errs[0], "cannot encode a table that contains itself");
    assert!(
        errs[1].contains("integer key as a JSON object"),
        "{}",
        errs[1]
    );
    assert!(errs[2].contains("boolean key"), "{}", errs[2]);
    assert_eq!(errs[3], "cannot encode a function as JSON");
    assert!(errs[4].contains("cannot encode NaN"), "{}", errs[4]);
    assert!(
        errs[5].starts_with("invalid JSON at line 2 column 7"),
        "{}",
        errs[5]
    );
    assert_eq!(errs[6], "2:7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_reads_writes_lists_and_checks_permissions() {
    let dir = std::env::temp_dir().join(format!("luamod-fs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display().to_string();
    let rt = rt(vec![
        Policy::allow(["fs.read", "fs.write"]).on(format!("{d}/*").as_str()),
        Policy::allow("fs.read").on(d.as_str()),
        Policy::deny("fs.write").on(format!("{d}/locked*").as_str()),
    ]);
    let src = format!(
        r#"
        local fs = require('fs')
        local dir = {d:?}
        assert(fs.write(dir .. '/a.bin', 'bytes\0and\255more') == 14)
        fs.write(dir .. '/b.txt', 'hello')
        local data = fs.read(dir .. '/a.bin')
        local names = table.concat(fs.list(dir), ',')
        local existed = fs.exists(dir .. '/b.txt')
        fs.remove(dir .. '/b.txt')
        local _, missing = fs.read(dir .. '/b.txt')
        local _, locked = fs.write(dir .. '/locked.txt', 'x')
        local _, outside = fs.read('/etc/hostname')
        return #data, data:byte(6), names, existed, fs.exists(dir .. '/b.txt'),
               missing:kind(), locked:kind(), outside:kind(), outside:message()
        "#
    );
    let r: (i64, i64, String, bool, bool, String, String, String, String) = eval(&rt, &src).await;
    assert_eq!((r.0, r.1), (14, 0));
    assert_eq!(r.2, "a.bin,b.txt");
    assert!(r.3 && !r.4);
    assert_eq!(
        (r.5.as_str(), r.6.as_str(), r.7.as_str()),
        ("NOT_FOUND", "PERMISSION_DENIED", "PERMISSION_DENIED")
    );
    assert_eq!(
        r.8,
        "permission denied: no policy allows actor 'tester' to perform 'fs.read' on '/etc/hostname'"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_talks_to_a_real_server_on_loopback() {
    let base = luamod_tests::http_server::start().await.unwrap();
    let rt = Runtime::builder()
        .module(&luamod_examples::http_client::MODULE)
        .module(&json::MODULE)
        .actor(Actor::new("tester"))
        .policy(Policy::allow("http_client.request").on(format!("{base}/*").as_str()))
        .workers(1)
        .build()
        .unwrap();
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let src = format!(
        r#"
        local http = require('http_client')
        local json = require('json')
        local base = {base:?}
        local r = http.get(base .. '/hello')
        local e = http.request{{ method = 'post', url = base .. '/echo', body = 'payload',
                                 headers = {{ ['x-a'] = '1' }} }}
        local j = json.decode(http.get(base .. '/json').body)
        local nf = http.get(base .. '/nope')
        local _, timeout = http.get(base .. '/slow?ms=2000', 50)
        local _, refused = http.request{{ url = 'http://127.0.0.1:{closed}/' , timeout_ms = 2000 }}
        local _, denied = http.get('http://127.0.0.1:{closed}/other')
        return r.status, r.body, r.headers['x-test'], e.body, #j.items, nf.status,
               timeout:kind(), timeout:retryable(), refused:kind(), refused:retryable(), denied:kind()
        "#
    );
    let r: (
        u16,
        String,
        String,
        String,
        i64,
        u16,
        String,
        bool,
        String,
        bool,
        String,
    ) = eval(&rt, &src).await;
    assert_eq!((r.0, r.1.as_str(), r.2.as_str()), (200, "hi", "yes"));
    assert_eq!(r.3, "POST payload");
    assert_eq!((r.4, r.5), (3, 404));
    assert_eq!((r.6.as_str(), r.7), ("TIMEOUT", true));
    assert_eq!(r.10, "PERMISSION_DENIED");
    assert_eq!(
        (r.8.as_str(), r.9),
        ("PERMISSION_DENIED", false),
        "the refused port is outside the policy"
    );

    // Allowed everywhere on loopback: a refused connection is UNAVAILABLE.
    let rt2 = Runtime::builder()
        .module(&luamod_examples::http_client::MODULE)
        .actor(Actor::new("tester"))
        .policy(Policy::allow("http_client.request").on("http://127.0.0.1:*"))
        .workers(1)
        .build()
        .unwrap();
    let (kind, retry): (String, bool) = eval(
        &rt2,
        &format!("local _, e = require('http_client').get('http://127.0.0.1:{closed}/') return e:kind(), e:retryable()"),
    )
    .await;
    assert_eq!((kind.as_str(), retry), ("UNAVAILABLE", true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_persists_to_a_file_across_runtimes() {
    let dir = std::env::temp_dir().join(format!("luamod-sql-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("app.db").display().to_string();
    let make = || {
        Runtime::builder()
            .module(&luamod_examples::sql::MODULE)
            .actor(Actor::new("tester"))
            .policy(Policy::allow("sql.open").on(db.as_str()))
            .workers(1)
            .build()
            .unwrap()
    };
    let rt = make();
    let src = format!(
        r#"
        local sql = require('sql')
        local db = assert(sql.open({db:?}))
        assert(db:exec('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL)'))
        assert(db:exec('INSERT INTO users (name, score) VALUES (?1, ?2)', {{ 'ann', 1.5 }}) == 1)
        local n = db:batch({{
          {{ sql = 'INSERT INTO users (name) VALUES (?1)', params = {{ 'bob' }} }},
          {{ sql = 'INSERT INTO users (name) VALUES (?1)', params = {{ 'cy' }} }},
        }})
        -- a failing batch applies nothing
        local none, terr = db:batch({{
          {{ sql = 'INSERT INTO users (name) VALUES (?1)', params = {{ 'dee' }} }},
          {{ sql = 'INSERT INTO users (name) VALUES (NULL)' }},
        }})
        -- transaction(fn): commits when fn returns...
        assert(db:transaction(function()
          assert(db:exec('INSERT INTO users (name) VALUES (?1)', {{ 'eve' }}))
          local rows = db:query('SELECT count(*) AS c FROM users')
          assert(rows[1].c == 4, 'fn sees its own writes')
        end) == true)
        -- ...and rolls back when it raises, returning nil, err
        local ok, txerr = db:transaction(function()
          db:exec('INSERT INTO users (name) VALUES (?1)', {{ 'fay' }})
          error('changed my mind')
        end)
        assert(ok == nil and txerr:message():find('changed my mind', 1, true), tostring(txerr))
        local count = db:query('SELECT count(*) AS c FROM users')[1].c
        assert(count == 4, 'rolled back: ' .. count)
        local bad, err = db:exec('SELEC nonsense')
        local _, denied = sql.open('/tmp/elsewhere.db')
        return n, none, terr:kind(), bad, err:message(), denied:kind(), db.path
        "#
    );
    let r: (
        i64,
        Option<i64>,
        String,
        Option<i64>,
        String,
        String,
        String,
    ) = eval(&rt, &src).await;
    assert_eq!((r.0, r.1, r.2.as_str(), r.3), (2, None, "CONFLICT", None));
    assert!(r.4.contains("syntax error"), "{}", r.4);
    assert_eq!(
        (r.5.as_str(), r.6.as_str()),
        ("PERMISSION_DENIED", db.as_str())
    );
    rt.shutdown(std::time::Duration::from_secs(1)).await;
    drop(rt);

    let rt = make();
    let rows: Vec<String> = eval(
        &rt,
        &format!(
            r#"
            local db = assert(require('sql').open({db:?}))
            local out = {{}}
            for _, row in ipairs(db:query('SELECT id, name, score FROM users ORDER BY id')) do
              out[#out + 1] = row.id .. ':' .. row.name .. ':' .. tostring(row.score)
            end
            return out
            "#
        ),
    )
    .await;
    assert_eq!(
        rows,
        vec!["1:ann:1.5", "2:bob:nil", "3:cy:nil", "4:eve:nil"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A parameter keeps its Lua type in SQLite: a string that reads as a
/// number (an id, a card number, a zero-padded code) is stored as text,
/// and a whole float as a real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_parameters_keep_their_lua_type() {
    let dir = std::env::temp_dir().join(format!("luamod-sql-types-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("types.db").display().to_string();
    let rt = Runtime::builder()
        .module(&luamod_examples::sql::MODULE)
        .actor(Actor::new("tester"))
        .policy(Policy::allow("sql.open").on(db.as_str()))
        .workers(1)
        .build()
        .unwrap();
    let (rows, same): (Vec<String>, i64) = eval(
        &rt,
        &format!(
            r#"
            local db = assert(require('sql').open({db:?}))
            assert(db:exec('CREATE TABLE t (a)'))
            assert(db:exec('INSERT INTO t VALUES (?1), (?2), (?3), (?4), (?5), (?6), (?7)',
              {{ '007', '4111111111111111111111', '0x1F', ' 12 ', 7, 2.0, 1.5 }}))
            local out = {{}}
            for _, r in ipairs(db:query('SELECT a, typeof(a) AS t FROM t ORDER BY rowid')) do
              out[#out + 1] = tostring(r.a) .. ':' .. r.t
            end
            return out, db:query("SELECT ?1 = '007' AS same", {{ '007' }})[1].same
            "#
        ),
    )
    .await;
    assert_eq!(
        rows,
        vec![
            "007:text",
            "4111111111111111111111:text",
            "0x1F:text",
            " 12 :text",
            "7:integer",
            "2.0:real",
            "1.5:real",
        ]
    );
    assert_eq!(same, 1);
    let _ = std::fs::remove_dir_all(&dir);
}
