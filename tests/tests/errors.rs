//! Operational errors as values, the `errors` module, and panics.

use luamod::mlua::Lua;

fn state() -> Lua {
    luamod::lua_with(&[&luamod_tests::probe::MODULE]).unwrap()
}

fn eval<T: luamod::mlua::FromLuaMulti>(lua: &Lua, code: &str) -> T {
    lua.load(code)
        .set_name("=t")
        .eval()
        .unwrap_or_else(|e| panic!("{code}: {e}"))
}

#[test]
fn result_ok_is_value_nil_and_err_is_nil_error() {
    let lua = state();
    let (n, v, e): (i64, Option<String>, String) = eval(
        &lua,
        "local p = require('probe')
         local r = table.pack(p.concat({'a', 'b'}, '-'))
         local v, err = p.fail('NOT_FOUND', 'no such key')
         return r.n, r[1] .. tostring(r[2]), tostring(v) .. ' ' .. err:kind() .. ' ' .. err:message()",
    );
    assert_eq!((n, v.as_deref()), (2, Some("a-bnil")));
    assert_eq!(e, "nil NOT_FOUND no such key");
}

#[test]
fn error_userdata_methods() {
    let lua = state();
    let (kind, msg, retry, s, has_stack): (String, String, Option<bool>, String, bool) = eval(
        &lua,
        "local _, err = require('probe').fail('TIMEOUT', 'slow')
         return err:kind(), err:message(), err:retryable(), tostring(err),
                err:stack():find('stack traceback', 1, true) ~= nil",
    );
    assert_eq!(
        (kind.as_str(), msg.as_str(), retry, s.as_str(), has_stack),
        ("TIMEOUT", "slow", None, "slow", true)
    );
}

#[test]
fn errors_module_constants_new_wrap_is() {
    let lua = state();
    let kinds: Vec<String> = eval(
        &lua,
        "return { errors.UNKNOWN, errors.NOT_FOUND, errors.ALREADY_EXISTS, errors.INVALID,
                  errors.PERMISSION_DENIED, errors.UNAVAILABLE, errors.INTERNAL, errors.CANCELED,
                  errors.CONFLICT, errors.TIMEOUT, errors.RATE_LIMITED }",
    );
    assert_eq!(kinds.len(), 11);
    assert_eq!(kinds[4], "PERMISSION_DENIED");

    let (kind, msg, retry, port, host): (String, String, bool, i64, String) = eval(
        &lua,
        "local e = errors.new{kind = errors.UNAVAILABLE, message = 'db down', retryable = true,
                             details = {port = 5432, host = 'db'}}
         local d = e:details()
         return e:kind(), e:message(), e:retryable(), d.port, d.host",
    );
    assert_eq!(
        (kind.as_str(), msg.as_str(), retry, port, host.as_str()),
        ("UNAVAILABLE", "db down", true, 5432, "db")
    );

    let (kind, msg, retry, is_unavail, is_timeout, cause): (String, String, bool, bool, bool, String) = eval(
        &lua,
        "local e = errors.new{kind = errors.UNAVAILABLE, message = 'db down', retryable = true}
         local w = errors.wrap(e, 'loading users')
         return w:kind(), w:message(), w:retryable(),
                errors.is(w, errors.UNAVAILABLE), errors.is(w, errors.TIMEOUT), w:cause():message()",
    );
    assert_eq!(
        (
            kind.as_str(),
            msg.as_str(),
            retry,
            is_unavail,
            is_timeout,
            cause.as_str()
        ),
        (
            "UNAVAILABLE",
            "loading users: db down",
            true,
            true,
            false,
            "db down"
        )
    );

    let (plain, is_str): (String, bool) = eval(
        &lua,
        "local w = errors.wrap('boom', 'ctx'); return w:kind() .. ' ' .. w:message(), errors.is('boom', errors.UNKNOWN)",
    );
    assert_eq!((plain.as_str(), is_str), ("UNKNOWN ctx: boom", false));

    let e: String = eval(
        &lua,
        "local ok, e = pcall(errors.new, {kind = 'NOPE'}); return tostring(e)",
    );
    assert!(e.contains("unknown kind 'NOPE'"), "{e}");
    // The errors module is read-only like every module table.
    let e: String = eval(
        &lua,
        "local ok, e = pcall(function() errors.NEW = 1 end); return e",
    );
    assert_eq!(e, "t:1: attempt to modify read-only table 'errors'");
}

#[test]
fn panic_becomes_internal_error_and_state_stays_usable() {
    let lua = state();
    let (ok, kind, msg): (bool, String, String) = eval(
        &lua,
        "local ok, e = pcall(require('probe').boom, 'kaboom')
         return ok, e:kind(), e:message()",
    );
    assert!(!ok);
    assert_eq!(kind, "INTERNAL");
    assert_eq!(msg, "panic in 'probe.boom': kaboom");
    // The same state keeps working, including the export that panicked.
    for _ in 0..3 {
        let n: i64 = eval(
            &lua,
            "local p = require('probe'); pcall(p.boom, 'again'); return p.floor(2.5)",
        );
        assert_eq!(n, 2);
    }
    // Uncaught, it reaches the host as an error, and the host lives on.
    let err = lua
        .load("require('probe').boom('host')")
        .exec()
        .unwrap_err();
    assert!(
        err.to_string().contains("panic in 'probe.boom': host"),
        "{err}"
    );
    let n: i64 = eval(&lua, "return require('probe').floor(1.5)");
    assert_eq!(n, 1);
}

#[test]
fn mlua_errors_inside_an_export_propagate() {
    let lua = state();
    let msg: String = eval(
        &lua,
        "local ok, e = pcall(require('probe').apply, function() error('inner failure') end, 1)
         return tostring(e)",
    );
    assert!(msg.contains("inner failure"), "{msg}");
}

#[test]
fn exports_work_inside_lua_coroutines() {
    // Inside a coroutine mlua's idea of the current thread differs from the
    // thread running the export; values that cross through mlua (tables,
    // functions, error userdata) must still land on the right stack.
    let lua = state();
    let (a, applied, kind, yielded): (i64, i64, String, i64) = eval(
        &lua,
        "local p = require('probe')
         local co = coroutine.wrap(function()
           local t = p.pair(1, 2)
           local v = p.apply(function(x) return x * 3 end, 5)
           local _, err = p.fail('TIMEOUT', 'x')
           coroutine.yield(t.b)
           return t.a, v, err:kind()
         end)
         local y = co()
         local a, v, k = co()
         return a, v, k, y",
    );
    assert_eq!((a, applied, kind.as_str(), yielded), (1, 15, "TIMEOUT", 2));
}
