//! The example modules hold no Rust memory that the limits do not see:
//! what `json.decode` builds is Lua's, `json.encode` holds about the text
//! it writes, and `buffer.join` about the buffers its call copies. A
//! binary of its own, with an allocator that counts every block, so that
//! the peak is this test's alone (its tests run one at a time).

#![cfg(not(feature = "luajit"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use luamod_examples::{buffer, json};

/// The system allocator, counting the bytes it holds and their peak.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = HELD.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` with the caller's own
// arguments; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            HELD.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// The tests measure one peak: they must not overlap.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A state with `module`, and this binary's turn to measure a peak.
fn alone_with(
    module: &'static luamod::ModuleDef,
) -> (std::sync::MutexGuard<'static, ()>, luamod::mlua::Lua) {
    let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    (serial, luamod::lua_with(&[module]).unwrap())
}

/// Runs `f` and returns what it returned and the most bytes held at once
/// while it ran, beyond what was held before.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = HELD.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - before)
}

#[test]
fn decoding_a_large_array_holds_about_what_lua_holds() {
    let (_serial, lua) = alone_with(&json::MODULE);
    let mem = luamod::MemoryControl::install(&lua).unwrap();
    // Two million small numbers: the most text `decode` reads.
    let n = (json::MAX_TEXT - 2) / 2;
    let mut text = String::with_capacity(json::MAX_TEXT);
    text.push('[');
    for i in 0..n {
        text.push_str(if i + 1 == n { "7" } else { "7," });
    }
    text.push(']');
    lua.globals().set("text", text.as_str()).unwrap();
    drop(text);
    let lua_before = mem.used();
    let (len, peak) = peak_of(|| {
        lua.load("local v = require('json').decode(text) return #v")
            .eval::<usize>()
            .unwrap()
    });
    assert_eq!(len, n);
    let in_lua = mem.used() - lua_before;
    // Lua's own blocks are in the peak too (mlua allocates through the
    // global allocator), with the table's last growth (its old array
    // beside the new). A value tree beside them was three times Lua's
    // share: 32 bytes per number against Lua's 16.
    assert!(
        peak <= 2 * in_lua,
        "decoding held {peak} bytes at its peak, Lua holds {in_lua}"
    );
}

#[test]
fn encoding_many_small_objects_holds_about_its_text() {
    let (_serial, lua) = alone_with(&json::MODULE);
    lua.load("t = {} for i = 1, 60000 do t[i] = { a = i } end")
        .exec()
        .unwrap();
    let (len, peak) = peak_of(|| {
        lua.load("local s = assert(require('json').encode(t)) return #s")
            .eval::<usize>()
            .unwrap()
    });
    // Printed for BENCHMARKS.md (`-- --nocapture`).
    eprintln!("encode of 60,000 objects: peak {peak} bytes, text {len} bytes");
    // The text, its buffer's last growth, and its copy into Lua: 1.8 MB,
    // measured. A value tree of the objects first made it 41 MB.
    assert!(
        peak <= 4 * len,
        "encoding held {peak} bytes at its peak for {len} bytes of text"
    );
}

#[test]
fn encoding_stops_writing_at_the_text_limit() {
    let (_serial, lua) = alone_with(&json::MODULE);
    // 1 MiB of control characters: 6 MiB of text once escaped, which the
    // budget (a string's bytes, counted once) lets through to the writer.
    lua.load("s = ('\\1'):rep(1 << 20)").exec().unwrap();
    let (kind, peak) = peak_of(|| {
        lua.load("local v, err = require('json').encode(s) assert(v == nil) return err:kind()")
            .eval::<String>()
            .unwrap()
    });
    assert_eq!(kind, "RESOURCE_EXHAUSTED");
    eprintln!("encode of 1 MiB of control characters: peak {peak} bytes");
    // The text stops at MAX_TEXT (its buffer at a power of two, 4 MiB);
    // written whole, it was 6 MiB in an 8 MiB buffer.
    assert!(
        peak <= json::MAX_TEXT + json::MAX_TEXT / 4,
        "encoding held {peak} bytes at its peak"
    );
}

#[test]
fn joining_many_buffers_holds_about_its_argument() {
    let (_serial, lua) = alone_with(&buffer::MODULE);
    // One empty buffer, 65,536 times (a sequence's first reservation,
    // so its vector is not grown): the joined buffer is empty too.
    let n = 65_536;
    lua.load(format!(
        "local b = require('buffer').Buffer.new() t = {{}} for i = 1, {n} do t[i] = b end"
    ))
    .exec()
    .unwrap();
    let (len, peak) = peak_of(|| {
        lua.load("return #require('buffer').join(t, '')")
            .eval::<usize>()
            .unwrap()
    });
    assert_eq!(len, 0);
    eprintln!("join of {n} buffers: peak {peak} bytes");
    // The argument read into Rust (a `Vec` of the buffers, which the
    // call's copy limit counts) and a little more: a list of the pieces
    // besides it was 32 bytes per buffer more, uncounted.
    let argument = n * std::mem::size_of::<buffer::buffer::Buffer>();
    assert!(
        peak <= argument + n * 8,
        "joining held {peak} bytes at its peak for {argument} bytes of argument"
    );
}
