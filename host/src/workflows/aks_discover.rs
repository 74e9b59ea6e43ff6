//! `aks-discover`: find AKS clusters with a credential and record them in
//! the inventory, as an operation. A slow tenant (many subscriptions, many
//! pages, a throttling ARM) takes as long as it takes, bounded by the
//! plugin's own limits rather than by an HTTP request; the caller follows
//! the operation. Inputs: a `DiscoverRequest`. The step's output is the
//! summary (searched subscriptions, failures, new/updated/missing counts
//! and the ids found); the clusters themselves are in the inventory.
//! Discovery changes the inventory in one transaction, so running the step
//! again after a crash is safe.

use super::{StepFailure, StepFuture, Workflow};
use crate::aks::{Aks, DiscoverRequest};
use crate::store::OperationRow;
use std::sync::Arc;

pub struct AksDiscover {
    aks: Arc<Aks>,
}

impl AksDiscover {
    pub const KIND: &'static str = "aks-discover";

    pub fn new(aks: Arc<Aks>) -> AksDiscover {
        AksDiscover { aks }
    }
}

fn parse(inputs: &serde_json::Value) -> Result<DiscoverRequest, String> {
    let request: DiscoverRequest =
        serde_json::from_value(inputs.clone()).map_err(|e| e.to_string())?;
    request.check().map_err(|e| e.to_string())?;
    Ok(request)
}

impl Workflow for AksDiscover {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    fn plan(&self, inputs: &serde_json::Value) -> Result<Vec<String>, String> {
        parse(inputs)?;
        Ok(vec!["discover".into()])
    }

    fn run_step<'a>(&'a self, op: &'a OperationRow, _index: u32, _attempt: u32) -> StepFuture<'a> {
        Box::pin(async move {
            let request = parse(&op.inputs).map_err(|e| StepFailure::new("invalid-input", e))?;
            let found = self.aks.discover(request).await.map_err(|e| match e {
                crate::aks::AksError::Internal(inner) => {
                    tracing::error!(operation = %op.id, "discovery failed: {inner:#}");
                    StepFailure::new(
                        "internal",
                        "the daemon failed to record the discovery; its log has the details",
                    )
                }
                e => StepFailure::new(e.code(), e.to_string()),
            })?;
            serde_json::to_value(found).map_err(|e| StepFailure::new("internal", e.to_string()))
        })
    }
}
