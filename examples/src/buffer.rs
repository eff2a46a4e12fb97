//! A userdata example: a growable byte buffer with methods, fields,
//! metamethods, a constructor and records.

pub use self::buffer::MODULE;

/// Growable byte buffers: build strings piece by piece without creating
/// intermediate Lua strings.
#[luamod::module(name = "buffer", class(deterministic))]
#[allow(clippy::module_inception)]
pub mod buffer {
    use luamod::mlua;
    use luamod::prelude::*;

    /// Options for `buffer.with`.
    #[derive(LuaRecord, Debug, Default)]
    pub struct Options {
        /// A label shown by `tostring`.
        pub label: Option<String>,
        /// Initial contents.
        pub init: Option<String>,
        /// Bytes to reserve up front.
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
        data: Vec<u8>,
        /// A free-form label, readable and writable from Lua.
        #[lua(field)]
        pub label: String,
        /// How many times `write` was called.
        #[lua(get)]
        pub writes: u64,
    }

    #[luamod::methods]
    impl Buffer {
        /// Creates a buffer, optionally with initial contents.
        pub fn new(init: Option<&[u8]>) -> Buffer {
            Buffer {
                data: init.map(<[u8]>::to_vec).unwrap_or_default(),
                ..Buffer::default()
            }
        }

        /// Creates a buffer from an options table.
        pub fn with(opts: Options) -> Buffer {
            let mut data = Vec::with_capacity(opts.capacity);
            data.extend_from_slice(opts.init.unwrap_or_default().as_bytes());
            Buffer {
                data,
                label: opts.label.unwrap_or_default(),
                writes: 0,
            }
        }

        /// Appends every argument (strings, or numbers as Lua formats them)
        /// and returns the new size.
        pub fn write(&mut self, parts: Variadic<&[u8]>) -> usize {
            for p in parts.iter() {
                self.data.extend_from_slice(p);
            }
            self.writes += 1;
            self.data.len()
        }

        /// The contents as a Lua string.
        pub fn contents(&self) -> &[u8] {
            &self.data
        }

        /// Bytes `i..=j` (1-based, negative from the end), like `string.sub`.
        pub fn sub(&self, i: i64, j: Option<i64>) -> &[u8] {
            let len = self.data.len() as i64;
            let norm = |k: i64| if k < 0 { (len + k + 1).max(0) } else { k };
            let (i, j) = (norm(i).max(1), norm(j.unwrap_or(-1)).min(len));
            if i > j {
                &[]
            } else {
                &self.data[(i - 1) as usize..j as usize]
            }
        }

        /// Whether the buffer holds no bytes.
        pub fn is_empty(&self) -> bool {
            self.data.is_empty()
        }

        /// Empties the buffer.
        pub fn clear(&mut self) {
            self.data.clear();
        }

        /// Calls `f(line)` for each line and returns how many lines there were.
        /// `f` may read the buffer but not write to it while it runs.
        pub fn each_line(&self, f: Function) -> mlua::Result<usize> {
            let mut n = 0;
            for line in self.data.split(|b| *b == b'\n') {
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
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count();
            Stats {
                size: self.data.len(),
                lines,
                writes: self.writes,
            }
        }

        /// Size in bytes.
        #[lua(get)]
        pub fn size(&self) -> usize {
            self.data.len()
        }

        /// `tostring(buf)`: `Buffer(label, N bytes)`.
        #[lua(meta = "__tostring")]
        pub fn display(&self) -> String {
            if self.label.is_empty() {
                format!("Buffer({} bytes)", self.data.len())
            } else {
                format!("Buffer({}, {} bytes)", self.label, self.data.len())
            }
        }

        /// `#buf`: size in bytes.
        #[lua(meta = "__len")]
        pub fn len(&self) -> usize {
            self.data.len()
        }

        /// `a == b`: same contents.
        #[lua(meta = "__eq")]
        pub fn same(&self, other: &Buffer) -> bool {
            self.data == other.data
        }

        /// `a .. b`: a new buffer with both contents.
        #[lua(meta = "__concat")]
        pub fn concat(&self, other: &Buffer) -> Buffer {
            let mut data = self.data.clone();
            data.extend_from_slice(&other.data);
            Buffer {
                data,
                ..Buffer::default()
            }
        }
    }

    /// Joins buffers into a new one, with an optional separator.
    #[luamod::function]
    pub fn join(parts: Vec<Buffer>, sep: Option<&str>) -> Buffer {
        let sep = sep.unwrap_or("").as_bytes();
        let mut data = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                data.extend_from_slice(sep);
            }
            data.extend_from_slice(&p.data);
        }
        Buffer {
            data,
            ..Buffer::default()
        }
    }
}
