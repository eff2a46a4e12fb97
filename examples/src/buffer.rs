//! A userdata example: a growable byte buffer with methods, fields,
//! metamethods, a constructor and records.

pub use self::buffer::{MAX_LABEL, MAX_SIZE, MAX_TOTAL, MODULE};

/// Growable byte buffers: build strings piece by piece without creating
/// intermediate Lua strings.
#[luamod::module(name = "buffer", class(deterministic))]
#[allow(clippy::module_inception)]
pub mod buffer {
    use luamod::mlua;
    use luamod::prelude::*;
    use luamod::{ExternalMemory, mlua::Lua};

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The most bytes one buffer holds (64 MiB).
    pub const MAX_SIZE: usize = 64 << 20;

    /// The most bytes all buffers of the host hold together (512 MiB).
    /// Their bytes live on the Rust heap; each buffer counts them against
    /// its Lua state's memory limit too ([`ExternalMemory`]), and this cap
    /// bounds states without one: past either limit, `new`, `with`,
    /// `write`, `..` and `join` raise "buffer too large", and past the
    /// state's limit "not enough memory".
    pub const MAX_TOTAL: usize = 512 << 20;

    /// Bytes held by every live buffer.
    static HELD: AtomicUsize = AtomicUsize::new(0);

    /// What a buffer's bytes cost beside themselves: their shared block.
    const HELD_SIZE: usize = size_of::<Held>() + 2 * size_of::<usize>();

    fn too_large(size: usize, limit: usize) -> mlua::Error {
        mlua::Error::runtime(format!(
            "buffer too large ({size} bytes; the limit is {limit} bytes)"
        ))
    }

    /// Bytes, their capacity counted in [`HELD`] and against the state's
    /// memory limit for as long as they live.
    #[derive(Debug, Default)]
    struct Held {
        bytes: Vec<u8>,
        charge: ExternalMemory,
    }

    impl Held {
        /// Room for `capacity` bytes, counted (and refused) before they
        /// are allocated.
        fn with_capacity(lua: &Lua, capacity: usize) -> mlua::Result<Held> {
            let mut held = Held::default();
            held.reserve(lua, capacity)?;
            Ok(held)
        }

        /// Room for `capacity` bytes in all, counted with the block that
        /// holds them before anything is allocated.
        fn reserve(&mut self, lua: &Lua, capacity: usize) -> mlua::Result<()> {
            let before = self.bytes.capacity();
            let capacity = capacity.max(before);
            if capacity > MAX_SIZE {
                return Err(too_large(capacity, MAX_SIZE));
            }
            if capacity == before && self.charge.bytes() == HELD_SIZE + before {
                return Ok(());
            }
            self.charge.resize(lua, HELD_SIZE + capacity)?;
            if capacity > before {
                if let Err(e) = check_total(capacity - before) {
                    // Other buffers' garbage of this state may hold the
                    // host's share: collected once before refusing.
                    let _ = lua.gc_collect();
                    if check_total(capacity - before).is_err() {
                        let _ = self.charge.resize(lua, HELD_SIZE + before);
                        return Err(e);
                    }
                }
                self.bytes.reserve_exact(capacity - self.bytes.len());
                let got = self.bytes.capacity();
                HELD.fetch_add(got - before, Ordering::SeqCst);
                // The allocator may give a little more than asked: counted
                // when the limit allows.
                let _ = self.charge.resize(lua, HELD_SIZE + got);
            }
            Ok(())
        }
    }

    impl PartialEq for Held {
        fn eq(&self, other: &Held) -> bool {
            self.bytes == other.bytes
        }
    }

    impl Drop for Held {
        fn drop(&mut self) {
            HELD.fetch_sub(self.bytes.capacity(), Ordering::SeqCst);
        }
    }

    /// Refuses `more` bytes if they would take all buffers past
    /// [`MAX_TOTAL`].
    fn check_total(more: usize) -> mlua::Result<()> {
        let held = HELD.load(Ordering::SeqCst);
        if held.saturating_add(more) > MAX_TOTAL {
            return Err(too_large(held.saturating_add(more), MAX_TOTAL));
        }
        Ok(())
    }

    /// A buffer's bytes, shared until written (copies of a buffer, such as
    /// the ones `join` receives, cost nothing).
    #[derive(Debug, Default, Clone, PartialEq)]
    struct Data(Arc<Held>);

    impl Data {
        /// Room for `capacity` bytes, refused past the limits.
        fn with_capacity(lua: &Lua, capacity: usize) -> mlua::Result<Data> {
            Ok(Data(Arc::new(Held::with_capacity(lua, capacity)?)))
        }

        /// Bytes for `parts`, refused past the limits.
        fn of<'p>(lua: &Lua, parts: impl Iterator<Item = &'p [u8]> + Clone) -> mlua::Result<Data> {
            let mut d = Data::default();
            d.extend(lua, parts)?;
            Ok(d)
        }

        fn bytes(&self) -> &[u8] {
            &self.0.bytes
        }

        /// Appends `parts`, read twice (once to size the result): a join
        /// of a million buffers needs no list of them besides its
        /// argument.
        fn extend<'p>(
            &mut self,
            lua: &Lua,
            parts: impl Iterator<Item = &'p [u8]> + Clone,
        ) -> mlua::Result<()> {
            let len = self.bytes().len();
            let add = parts.clone().fold(0usize, |n, p| n.saturating_add(p.len()));
            let size = len.saturating_add(add);
            if size > MAX_SIZE {
                return Err(too_large(size, MAX_SIZE));
            }
            if let Some(held) = Arc::get_mut(&mut self.0) {
                held.reserve(lua, size)?;
                for p in parts {
                    held.bytes.extend_from_slice(p);
                }
                return Ok(());
            }
            // Writing to shared bytes copies them first.
            let mut copy = Held::with_capacity(lua, size)?;
            copy.bytes.extend_from_slice(&self.0.bytes);
            for p in parts {
                copy.bytes.extend_from_slice(p);
            }
            self.0 = Arc::new(copy);
            Ok(())
        }

        fn clear(&mut self) {
            self.0 = Arc::default();
        }
    }

    /// The longest label a buffer keeps (longer ones are cut).
    pub const MAX_LABEL: usize = 256;

    /// A label, counted against the state's memory limit as it lives.
    #[derive(Debug, Default)]
    struct Label {
        text: Arc<str>,
        /// Counts `text` for as long as the label lives.
        _charge: ExternalMemory,
    }

    impl Label {
        fn new(lua: &Lua, label: &str) -> mlua::Result<Label> {
            let text = cut_label(label);
            let mut charge = ExternalMemory::new();
            charge.resize(lua, text.len())?;
            Ok(Label {
                text,
                _charge: charge,
            })
        }
    }

    /// A copy of a buffer (a by-value argument, read for the length of a
    /// call) shares the text and counts nothing.
    impl Clone for Label {
        fn clone(&self) -> Label {
            Label {
                text: self.text.clone(),
                _charge: ExternalMemory::new(),
            }
        }
    }

    fn cut_label(label: &str) -> Arc<str> {
        let mut end = label.len().min(MAX_LABEL);
        while !label.is_char_boundary(end) {
            end -= 1;
        }
        Arc::from(&label[..end])
    }

    /// Options for `buffer.with`.
    #[derive(LuaRecord, Debug, Default)]
    pub struct Options {
        /// A label shown by `tostring`.
        pub label: Option<String>,
        /// Initial contents.
        pub init: Option<String>,
        /// Bytes to reserve up front (at most 64 MiB; counted against the
        /// limits like written bytes).
        #[lua(default)]
        pub capacity: usize,
    }

    /// What `buf:stats()` returns.
    #[derive(LuaRecord, Debug)]
    pub struct Stats {
        /// Length in bytes.
        pub size: usize,
        /// Number of lines (a final line without a newline counts).
        pub lines: usize,
        /// Number of `write` calls so far.
        pub writes: u64,
    }

    /// A growable byte buffer.
    #[luamod::userdata]
    #[derive(Clone, Debug, Default)]
    pub struct Buffer {
        data: Data,
        label: Label,
        /// How many times `write` was called.
        #[lua(get)]
        pub writes: u64,
    }

    #[luamod::methods]
    impl Buffer {
        /// Creates a buffer, optionally with initial contents.
        pub fn new(lua: &Lua, init: Option<&[u8]>) -> mlua::Result<Buffer> {
            Ok(Buffer {
                data: Data::of(lua, std::iter::once(init.unwrap_or_default()))?,
                ..Buffer::default()
            })
        }

        /// Creates a buffer from an options table.
        pub fn with(lua: &Lua, opts: Options) -> mlua::Result<Buffer> {
            let init = opts.init.unwrap_or_default();
            let mut data = Data::with_capacity(lua, opts.capacity.max(init.len()))?;
            data.extend(lua, std::iter::once(init.as_bytes()))?;
            Ok(Buffer {
                data,
                label: Label::new(lua, opts.label.as_deref().unwrap_or(""))?,
                writes: 0,
            })
        }

        /// A free-form label shown by `tostring` (at most 256 bytes are
        /// kept).
        #[lua(get)]
        pub fn label(&self) -> &str {
            &self.label.text
        }

        /// Sets the label (cut to 256 bytes).
        #[lua(set)]
        pub fn set_label(&mut self, lua: &Lua, label: &str) -> mlua::Result<()> {
            self.label = Label::new(lua, label)?;
            Ok(())
        }

        /// Appends every argument (strings, or numbers as Lua formats them)
        /// and returns the new size.
        pub fn write(&mut self, lua: &Lua, parts: Variadic<&[u8]>) -> mlua::Result<usize> {
            self.data.extend(lua, parts.iter().copied())?;
            self.writes += 1;
            Ok(self.data.bytes().len())
        }

        /// The contents as a Lua string.
        pub fn contents(&self) -> &[u8] {
            self.data.bytes()
        }

        /// Bytes `i..=j` (1-based, negative from the end), like `string.sub`.
        pub fn sub(&self, i: i64, j: Option<i64>) -> &[u8] {
            let len = self.data.bytes().len() as i64;
            let norm = |k: i64| if k < 0 { (len + k + 1).max(0) } else { k };
            let (i, j) = (norm(i).max(1), norm(j.unwrap_or(-1)).min(len));
            if i > j {
                &[]
            } else {
                &self.data.bytes()[(i - 1) as usize..j as usize]
            }
        }

        /// Whether the buffer holds no bytes.
        pub fn is_empty(&self) -> bool {
            self.data.bytes().is_empty()
        }

        /// Empties the buffer.
        pub fn clear(&mut self) {
            self.data.clear();
        }

        /// Calls `f(line)` for each line and returns how many lines there were.
        /// `f` may read the buffer but not write to it while it runs.
        pub fn each_line(&self, f: Function) -> mlua::Result<usize> {
            let mut n = 0;
            for line in self.data.bytes().split(|b| *b == b'\n') {
                if line.is_empty() && n > 0 {
                    continue;
                }
                f.call::<()>(mlua::BString::from(line))?;
                n += 1;
            }
            Ok(n)
        }

        /// Size, line count and write count as a record.
        pub fn stats(&self) -> Stats {
            let lines = self
                .data
                .bytes()
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count();
            Stats {
                size: self.data.bytes().len(),
                lines,
                writes: self.writes,
            }
        }

        /// Size in bytes.
        #[lua(get)]
        pub fn size(&self) -> usize {
            self.data.bytes().len()
        }

        /// `tostring(buf)`: `Buffer(label, N bytes)`.
        #[lua(meta = "__tostring")]
        pub fn display(&self) -> String {
            if self.label.text.is_empty() {
                format!("Buffer({} bytes)", self.data.bytes().len())
            } else {
                format!(
                    "Buffer({}, {} bytes)",
                    self.label.text,
                    self.data.bytes().len()
                )
            }
        }

        /// `#buf`: size in bytes.
        #[lua(meta = "__len")]
        pub fn len(&self) -> usize {
            self.data.bytes().len()
        }

        /// `a == b`: same contents.
        #[lua(meta = "__eq")]
        pub fn same(&self, other: &Buffer) -> bool {
            self.data == other.data
        }

        /// `a .. b`: a new buffer with both contents.
        #[lua(meta = "__concat")]
        pub fn concat(&self, lua: &Lua, other: &Buffer) -> mlua::Result<Buffer> {
            Ok(Buffer {
                data: Data::of(lua, [self.data.bytes(), other.data.bytes()].into_iter())?,
                ..Buffer::default()
            })
        }
    }

    /// Joins buffers into a new one, with an optional separator.
    #[luamod::function]
    pub fn join(lua: &Lua, parts: Vec<Buffer>, sep: Option<&str>) -> mlua::Result<Buffer> {
        let sep = sep.unwrap_or("").as_bytes();
        // Read in place: a list of the pieces would be Rust memory the
        // call's copy limit does not count (16 bytes per piece, a
        // separator and a part per buffer).
        let pieces = parts
            .iter()
            .enumerate()
            .flat_map(|(i, p)| [if i > 0 { sep } else { &[][..] }, p.data.bytes()]);
        Ok(Buffer {
            data: Data::of(lua, pieces)?,
            ..Buffer::default()
        })
    }
}
