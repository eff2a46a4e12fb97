//! [`Command`]: plain data a Lua process yields to the outside world, and
//! [`CommandDef`], what a module declares about one.

use super::erased::ErasedHandler;
use super::id::CommandId;

/// What a module declares about a command it may yield.
#[derive(Debug)]
pub struct CommandDef {
    /// The id.
    pub id: CommandId,
    /// The name (`time.sleep`).
    pub name: &'static str,
    /// The module's handler for it, if it brings one.
    pub default_handler: fn() -> Option<std::sync::Arc<dyn ErasedHandler>>,
}

/// A request a Lua process yields; a handler answers it with `Output`.
///
/// Usually derived: `#[derive(Command)] #[command(id = 300, name = "time.sleep", output = ())]`.
/// An export returns it as `Yield<C>`; `Yield(cmd).then(f)` maps the
/// output before Lua sees it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a command",
    note = "derive it: `#[derive(Command)] #[command(id = N, name = \"mod.name\", output = T)]`"
)]
pub trait Command: Send + 'static {
    /// The id.
    const ID: CommandId;
    /// The name.
    const NAME: &'static str;
    /// The handler's successful result. To be yielded by an export it must
    /// also implement `IntoReturn` (how Lua receives it).
    type Output: Send + 'static;
    /// The declaration listed in a module's `commands`.
    const DEF: CommandDef = CommandDef {
        id: Self::ID,
        name: Self::NAME,
        default_handler: Self::default_handler,
    };

    /// The handler the command's module provides, if any.
    fn default_handler() -> Option<std::sync::Arc<dyn ErasedHandler>> {
        None
    }
}
