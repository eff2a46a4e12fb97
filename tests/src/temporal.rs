//! The Temporal suite's module and workflows, shared by its tests and by
//! the worker process they start and kill (`src/bin/temporal_worker.rs`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use luamod::LuaError;
use luamod::runtime::{HandlerCx, handler_fn};
use luamod::temporal::client::{Client, ClientOptions, ConnectionOptions, Url};
use luamod::temporal::{Builder, LuaWorkflows};

/// Orders: charging is a command, so on Temporal it is an activity.
#[luamod::module(name = "orders", class(workflow))]
pub mod orders {
    use luamod::runtime::Yield;

    /// Charges `cents` to an order.
    #[derive(Debug, luamod::Command, serde::Serialize, serde::Deserialize)]
    #[command(id = 4100, name = "orders.charge", output = String)]
    pub struct Charge {
        /// The order.
        pub order: String,
        /// How much.
        pub cents: i64,
    }

    /// Charges `cents` to `order`; returns the receipt, or `nil, err`.
    #[luamod::function]
    pub fn charge(order: String, cents: i64) -> Yield<Charge> {
        Yield(Charge { order, cents })
    }
}

/// Charges each amount of its second argument to the order named by the
/// first, sleeping (a durable timer) `pause` ms after each; returns the
/// receipts and how long it waited in workflow time.
pub const ORDER: &str = r#"
local workflow = require("workflow")
local orders = require("orders")
local order, amounts, pause = ...
local receipts = {}
local started = workflow.now()
for i, cents in ipairs(amounts) do
  local receipt, err = orders.charge(order, cents)
  receipts[i] = receipt or ("refused: " .. err:kind())
  workflow.sleep(pause)
end
return { receipts = receipts, waited = workflow.now() - started }
"#;

/// The suite's workflows: `order` runs [`ORDER`].
pub fn workflows(log: PathBuf, worker: String) -> Builder {
    builder(log, worker).workflow("order", ORDER)
}

/// The suite's runtime and commands, no workflow yet; the handler appends
/// `WORKER ORDER CENTS` to `log` for every charge it runs.
pub fn builder(log: PathBuf, worker: String) -> Builder {
    let charge = handler_fn(move |c: orders::Charge, _: HandlerCx| {
        let line = format!("{worker} {} {}\n", c.order, c.cents);
        let log = log.clone();
        async move {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .map_err(|e| LuaError::new(luamod::ErrorKind::Unavailable, e.to_string()))?;
            if c.cents <= 0 {
                return Err(LuaError::new(
                    luamod::ErrorKind::Invalid,
                    "nothing to charge",
                ));
            }
            Ok(format!("{}:{}", c.order, c.cents))
        }
    });
    LuaWorkflows::builder(
        luamod::Runtime::builder()
            .workers(1)
            .module(&orders::MODULE)
            .handler(charge),
    )
    .command::<orders::Charge>()
    .activity_timeout(Duration::from_secs(10))
}

/// A client of the server at `address` (`host:port`), namespace `default`.
pub async fn connect(address: &str) -> Result<Client, Box<dyn std::error::Error>> {
    let url = Url::parse(&format!("http://{address}"))?;
    let conn = ConnectionOptions::new(url)
        .identity("luamod-tests".to_owned())
        .build();
    Ok(Client::connect(conn, ClientOptions::new("default").build()).await?)
}
