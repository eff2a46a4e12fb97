//! The example modules from Lua, through the runtime, including their
//! failure paths.

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
