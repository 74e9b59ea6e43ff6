//! `selftest`: an operation that exercises the engine end to end (record,
//! run, resume, cancel, retry) without touching anything outside the daemon.
//! Inputs: `steps` (1–100, default 3), `step_ms` (0–60000, default 500) and
//! optionally `fail_at` (a 1-based step that fails on its first attempt, to
//! try `drover op retry`).

use super::{StepFuture, Workflow};
use crate::store::OperationRow;
use serde::Deserialize;
use std::time::Duration;

pub struct SelfTest;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Inputs {
    #[serde(default = "default_steps")]
    steps: u32,
    #[serde(default = "default_step_ms")]
    step_ms: u64,
    #[serde(default)]
    fail_at: Option<u32>,
}

fn default_steps() -> u32 {
    3
}

fn default_step_ms() -> u64 {
    500
}

fn parse(inputs: &serde_json::Value) -> Result<Inputs, String> {
    let inputs = if inputs.is_null() {
        serde_json::json!({})
    } else {
        inputs.clone()
    };
    let i: Inputs = serde_json::from_value(inputs).map_err(|e| e.to_string())?;
    if !(1..=100).contains(&i.steps) {
        return Err("steps must be between 1 and 100".into());
    }
    if i.step_ms > 60_000 {
        return Err("step_ms must be at most 60000".into());
    }
    if let Some(f) = i.fail_at
        && !(1..=i.steps).contains(&f)
    {
        return Err(format!("fail_at must be between 1 and steps ({})", i.steps));
    }
    Ok(i)
}

impl Workflow for SelfTest {
    fn kind(&self) -> &'static str {
        "selftest"
    }

    fn plan(&self, inputs: &serde_json::Value) -> Result<Vec<String>, String> {
        let i = parse(inputs)?;
        Ok((1..=i.steps).map(|n| format!("wait-{n}")).collect())
    }

    fn run_step<'a>(&'a self, op: &'a OperationRow, index: u32, attempt: u32) -> StepFuture<'a> {
        Box::pin(async move {
            let i = parse(&op.inputs)?;
            tokio::time::sleep(Duration::from_millis(i.step_ms)).await;
            // Fail only the first attempt, so a retry succeeds.
            if i.fail_at == Some(index + 1) && attempt == 1 {
                return Err(format!(
                    "step {} fails on its first attempt, as asked (fail_at)",
                    index + 1
                ));
            }
            Ok(serde_json::json!({ "waited_ms": i.step_ms }))
        })
    }
}
