//! `selftest`: an operation that exercises the engine end to end (record,
//! run, resume, cancel, retry) without touching anything outside the daemon.
//! Inputs: `steps` (1–100, default 3), `step_ms` (0–60000, default 500) and
//! optionally `fail_at` (a 1-based step that fails on its first attempt, to
//! try `drover op retry`; a step number past the last one never fails).

use super::{StepFailure, StepFuture, Workflow};
use crate::store::OperationRow;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub struct SelfTest;

/// A selftest's inputs.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelfTestInputs {
    /// Number of steps.
    #[serde(default = "default_steps", deserialize_with = "crate::wire::int")]
    #[schema(minimum = 1, maximum = 100, default = 3)]
    pub steps: u32,
    /// How long each step waits, in milliseconds.
    #[serde(default = "default_step_ms", deserialize_with = "crate::wire::int")]
    #[schema(minimum = 0, maximum = 60000, default = 500)]
    pub step_ms: u64,
    /// A step (1-based) that fails on its first attempt; past the last step, none does.
    #[serde(default, deserialize_with = "crate::wire::opt_int")]
    #[schema(minimum = 1, maximum = 100)]
    pub fail_at: Option<u32>,
}

fn default_steps() -> u32 {
    3
}

fn default_step_ms() -> u64 {
    500
}

fn parse(inputs: &serde_json::Value) -> Result<SelfTestInputs, String> {
    let inputs = if inputs.is_null() {
        serde_json::json!({})
    } else {
        inputs.clone()
    };
    let i: SelfTestInputs = serde_json::from_value(inputs).map_err(|e| e.to_string())?;
    if !(1..=100).contains(&i.steps) {
        return Err("steps must be between 1 and 100".into());
    }
    if i.step_ms > 60_000 {
        return Err("step_ms must be at most 60000".into());
    }
    if i.fail_at.is_some_and(|f| !(1..=100).contains(&f)) {
        return Err("fail_at must be between 1 and 100".into());
    }
    Ok(i)
}

impl SelfTest {
    pub const KIND: &'static str = "selftest";
}

impl Workflow for SelfTest {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    fn plan(&self, inputs: &serde_json::Value) -> Result<Vec<String>, String> {
        let i = parse(inputs)?;
        Ok((1..=i.steps).map(|n| format!("wait-{n}")).collect())
    }

    fn run_step<'a>(&'a self, op: &'a OperationRow, index: u32, attempt: u32) -> StepFuture<'a> {
        Box::pin(async move {
            let i = parse(&op.inputs).map_err(|e| StepFailure::new("invalid-input", e))?;
            tokio::time::sleep(Duration::from_millis(i.step_ms)).await;
            // Fail only the first attempt, so a retry succeeds.
            if i.fail_at == Some(index + 1) && attempt == 1 {
                return Err(format!(
                    "step {} fails on its first attempt, as asked (fail_at)",
                    index + 1
                )
                .into());
            }
            Ok(serde_json::json!({ "waited_ms": i.step_ms }))
        })
    }
}
