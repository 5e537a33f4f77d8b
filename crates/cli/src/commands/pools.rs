//! `updraft pools` and `updraft pools set|reset NAME`.

use std::process::ExitCode;

use serde_json::json;
use updraft_engine::ports::SlotClaim;

use super::{Context, print_json};
use crate::error::CliResult;
use crate::render::table;

pub async fn list(ctx: &Context) -> CliResult<ExitCode> {
    let pools = ctx.engine().await?.pools().await?;
    if ctx.json() {
        let tries = |claims: &[SlotClaim]| -> Vec<serde_json::Value> {
            claims
                .iter()
                .map(|c| {
                    json!({
                        "dag": c.of.dag,
                        "run_id": c.of.run_id,
                        "task": c.of.key.to_string(),
                        "try": c.of.try_number,
                        "slots": c.slots,
                        "priority": c.priority,
                        "since": c.at.to_rfc3339(),
                    })
                })
                .collect()
        };
        let list: Vec<_> = pools
            .iter()
            .map(|p| {
                json!({
                    "pool": p.pool,
                    "slots": p.slots,
                    "declared": p.declared,
                    "set": p.set,
                    "used": p.used(),
                    "waiting": p.waiting.len(),
                    "holders": tries(&p.holders),
                    "waiters": tries(&p.waiting),
                })
            })
            .collect();
        print_json(&serde_json::Value::Array(list))?;
        return Ok(ExitCode::SUCCESS);
    }
    if pools.is_empty() {
        println!("no pools: declare them in pools.yaml beside the specs");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = pools
        .iter()
        .map(|p| {
            let slots = match (p.slots, p.set) {
                (Some(n), Some(_)) => format!("{n} (set)"),
                (Some(n), None) => n.to_string(),
                (None, _) => "-".into(),
            };
            let holders: Vec<&str> = p.holders.iter().map(|h| h.holder.as_str()).collect();
            vec![
                p.pool.clone(),
                slots,
                p.used().to_string(),
                p.waiting.len().to_string(),
                holders.join(" "),
            ]
        })
        .collect();
    println!(
        "{}",
        table(&["POOL", "SLOTS", "USED", "WAITING", "HELD BY"], &rows)
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn set(ctx: &Context, pool: &str, slots: Option<u32>) -> CliResult<ExitCode> {
    ctx.engine().await?.set_pool_slots(pool, slots).await?;
    match slots {
        Some(n) => println!("pool {pool}: {n} slots until reset"),
        None => println!("pool {pool}: back to the slots pools.yaml declares"),
    }
    Ok(ExitCode::SUCCESS)
}
