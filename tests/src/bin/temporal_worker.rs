//! A Temporal worker process running the suite's Lua workflows, for the
//! tests that kill workers and run several (`tests/temporal.rs`).
//!
//! Environment: `LUAMOD_TEMPORAL_ADDRESS` (the server), `TASK_QUEUE`,
//! `CHARGE_LOG` (where charges are logged) and `WORKER` (its name there).

use luamod::temporal::sdk::{Runtime, Worker, WorkerOptions};

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = var("LUAMOD_TEMPORAL_ADDRESS")?;
    let workflows =
        luamod_tests::temporal::workflows(var("CHARGE_LOG")?.into(), var("WORKER")?).build()?;
    let client = luamod_tests::temporal::connect(&address).await?;
    let mut options = WorkerOptions::new(var("TASK_QUEUE")?).build();
    workflows.register(&mut options)?;
    let runtime = Runtime::from_current_tokio(Default::default())?;
    let mut worker = Worker::new(&runtime, client, options)?;
    println!("ready");
    worker.run().await?;
    Ok(())
}
