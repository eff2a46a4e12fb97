//! Identifiers: [`CommandId`] for commands, [`Pid`] for processes.

use std::fmt;

/// A command's numeric id. Ids below 256 are reserved for the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u16);

impl CommandId {
    /// The first id modules may use.
    pub const FIRST_CUSTOM: u16 = 256;

    /// A stable id in the custom range derived from `name` (FNV-1a), used
    /// for `async fn` exports without an explicit `command = N`.
    ///
    /// ```
    /// use luamod::CommandId;
    /// assert_eq!(CommandId::derive("time.sleep"), CommandId::derive("time.sleep"));
    /// assert!(CommandId::derive("time.sleep").0 >= 256);
    /// ```
    pub const fn derive(name: &str) -> CommandId {
        let bytes = name.as_bytes();
        let mut h: u32 = 0x811c_9dc5;
        let mut i = 0;
        while i < bytes.len() {
            h ^= bytes[i] as u32;
            h = h.wrapping_mul(0x0100_0193);
            i += 1;
        }
        let span = (u16::MAX as u32) - (Self::FIRST_CUSTOM as u32) + 1;
        CommandId((Self::FIRST_CUSTOM as u32 + h % span) as u16)
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A process id. Never reused within a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(pub u64);

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
