//! What a host needs beyond `run(source)`: frozen data from exports,
//! modules bound as globals.

use luamod::prelude::*;
use luamod_examples::greet;
use luamod_tests::shelf;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_results_are_read_only_at_every_level() {
    let rt = Runtime::builder()
        .module(&shelf::MODULE)
        .workers(1)
        .build()
        .unwrap();
    let got: Vec<String> = rt
        .run(
            "local shelf = require('shelf')
             local c = shelf.catalog()
             local out = {}
             local function try(name, f)
               local ok, err = pcall(f)
               out[#out + 1] = name .. ': ' .. (ok and 'allowed' or tostring(err))
             end
             try('assign', function() c.odd = nil end)
             try('nested', function() c.odd[1] = 7 end)
             try('rawset', function() rawset(c, 'x', 1) end)
             try('setmetatable', function() setmetatable(c, nil) end)
             try('insert', function() table.insert(c.even, 6) end)
             local keys = {}
             for k, v in pairs(c) do keys[#keys + 1] = k .. '=' .. #v end
             table.sort(keys)
             out[#out + 1] = table.concat(keys, ',')
             out[#out + 1] = tostring(c.odd[2]) .. ' ' .. tostring(#c.odd)
             out[#out + 1] = tostring(shelf.count())
             local v, err = shelf.maybe(false)
             out[#out + 1] = tostring(v) .. ' ' .. err:kind()
             local ok = pcall(function() shelf.maybe(true)[1] = 'b' end)
             out[#out + 1] = tostring(ok)
             return out",
        )
        .await
        .unwrap();
    assert!(
        got[0].starts_with("assign: ")
            && got[0].contains("attempt to modify read-only table 'shelf.catalog'"),
        "{got:?}"
    );
    for line in &got[1..5] {
        assert!(line.contains("read-only table 'shelf.catalog'"), "{got:?}");
    }
    assert_eq!(
        &got[5..],
        ["even=2,odd=3", "3 3", "5", "nil NOT_FOUND", "false"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_can_be_globals_too() {
    let with = Runtime::builder()
        .module(&greet::MODULE)
        .globals(true)
        .workers(1)
        .build()
        .unwrap();
    let same: bool = with
        .run("return greet == require('greet') and greet.hello('Ann') == require('greet').hello('Ann')")
        .await
        .unwrap();
    assert!(same);
    // A process that shadows the global changes only its own view.
    let _: () = with.run("greet = nil").await.unwrap();
    let still: bool = with.run("return greet ~= nil").await.unwrap();
    assert!(still);
    let err = with.run::<()>("greet.hello = nil").await.unwrap_err();
    assert!(err.to_string().contains("read-only table 'greet'"), "{err}");

    let without = Runtime::builder()
        .module(&greet::MODULE)
        .workers(1)
        .build()
        .unwrap();
    let absent: bool = without.run("return greet == nil").await.unwrap();
    assert!(absent);
}

#[test]
fn frozen_returns_are_typed_as_what_they_hold() {
    let files = luamod::stubs::render(&[&shelf::MODULE], luamod::stubs::Format::LuaLs);
    let (_, text) = files
        .iter()
        .find(|(p, _)| p.ends_with("shelf.lua"))
        .expect("shelf stub");
    assert!(
        text.contains("---@return table<string, integer[]>\nfunction shelf.catalog() end"),
        "{text}"
    );
    assert!(
        text.contains("---@return integer\nfunction shelf.count() end"),
        "{text}"
    );
}
