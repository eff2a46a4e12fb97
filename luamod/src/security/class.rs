//! [`Class`]: what a module's functions may touch.

/// A class describes what a module's functions may touch. Hosts use classes
/// to decide which modules a context may bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Same inputs, same outputs; no outside world.
    Deterministic,
    /// May differ between runs (randomness, environment).
    Nondeterministic,
    /// Touches local I/O (files, processes' pipes).
    Io,
    /// Talks over the network.
    Network,
    /// Reads or writes persistent storage.
    Storage,
    /// Safe to use in a replayed workflow.
    Workflow,
    /// Encodes and decodes data.
    Encoding,
    /// Reads clocks or waits on timers.
    Time,
    /// Starts or controls processes.
    Process,
    /// Handles credentials, crypto or policy.
    Security,
}

impl Class {
    /// Every class, in declaration order.
    pub const ALL: [Class; 10] = [
        Class::Deterministic,
        Class::Nondeterministic,
        Class::Io,
        Class::Network,
        Class::Storage,
        Class::Workflow,
        Class::Encoding,
        Class::Time,
        Class::Process,
        Class::Security,
    ];

    /// The name used in `class(...)` and in manifests.
    pub const fn as_str(self) -> &'static str {
        match self {
            Class::Deterministic => "deterministic",
            Class::Nondeterministic => "nondeterministic",
            Class::Io => "io",
            Class::Network => "network",
            Class::Storage => "storage",
            Class::Workflow => "workflow",
            Class::Encoding => "encoding",
            Class::Time => "time",
            Class::Process => "process",
            Class::Security => "security",
        }
    }
}
