//! Durable operations: a named sequence of steps, each recorded before and
//! after it runs, resumed after a crash, run with bounded concurrency,
//! cancellable and retryable.
//!
//! A [`Workflow`] says which steps an operation of its kind has and how to
//! run one. Steps must be idempotent: a step interrupted by a crash runs
//! again on the next start (its activity log says so), so its effect must
//! not double. The engine guarantees that an operation finishes exactly
//! once and that every state change is in the store before it is acted on.

mod aks_discover;
mod selftest;

pub use aks_discover::AksDiscover;
pub use selftest::{SelfTest, SelfTestInputs};

pub use crate::store::StepFailure;
use crate::store::{OpStatus, OperationRow, Store};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// Operations that run steps at the same time, at most.
pub const DEFAULT_CONCURRENCY: usize = 16;

pub type StepFuture<'a> =
    Pin<Box<dyn Future<Output = Result<serde_json::Value, StepFailure>> + Send + 'a>>;

/// One kind of operation.
pub trait Workflow: Send + Sync + 'static {
    /// The kind's name, e.g. `selftest`.
    fn kind(&self) -> &'static str;
    /// Check the inputs and name the steps, in order.
    fn plan(&self, inputs: &serde_json::Value) -> Result<Vec<String>, String>;
    /// Run step `index` (0-based) for the `attempt`th time (1-based). Must
    /// be idempotent. Errors are shown to operators.
    fn run_step<'a>(&'a self, op: &'a OperationRow, index: u32, attempt: u32) -> StepFuture<'a>;
}

/// Why a request to the engine was refused.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("unknown operation kind {0:?}; known kinds: {1}")]
    UnknownKind(String, String),
    #[error("invalid inputs for {0}: {1}")]
    InvalidInputs(String, String),
    #[error("no operation {0:?}")]
    NotFound(String),
    #[error("operation {0} is {1} and cannot be {2}")]
    Conflict(String, &'static str, &'static str),
    #[error("the daemon is shutting down; try again once it is back")]
    ShuttingDown,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

struct Inner {
    store: Store,
    workflows: HashMap<&'static str, Arc<dyn Workflow>>,
    permits: Arc<Semaphore>,
    /// Operations with a task running them, and their cancel signals.
    running: Mutex<HashMap<String, Arc<Notify>>>,
    draining: AtomicBool,
    idle: Notify,
    /// Woken whenever an operation's record changes (for followers).
    changed: Notify,
}

/// The operation engine. Cheap to clone.
#[derive(Clone)]
pub struct Operations {
    inner: Arc<Inner>,
}

impl Operations {
    pub fn new(store: Store, concurrency: usize, workflows: Vec<Arc<dyn Workflow>>) -> Operations {
        Operations {
            inner: Arc::new(Inner {
                store,
                workflows: workflows.into_iter().map(|w| (w.kind(), w)).collect(),
                permits: Arc::new(Semaphore::new(concurrency.max(1))),
                running: Mutex::new(HashMap::new()),
                draining: AtomicBool::new(false),
                idle: Notify::new(),
                changed: Notify::new(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        let mut k: Vec<_> = self.inner.workflows.keys().copied().collect();
        k.sort();
        k
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.inner.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start an operation; it runs in the background.
    pub fn start(
        &self,
        kind: &str,
        inputs: serde_json::Value,
        created_by: &str,
    ) -> Result<OperationRow, OpError> {
        if self.inner.draining.load(Ordering::Acquire) {
            return Err(OpError::ShuttingDown);
        }
        let workflow = self
            .inner
            .workflows
            .get(kind)
            .ok_or_else(|| OpError::UnknownKind(kind.to_string(), self.kinds().join(", ")))?;
        let steps = workflow
            .plan(&inputs)
            .map_err(|e| OpError::InvalidInputs(kind.to_string(), e))?;
        let id = format!("op_{}", hex::encode(rand::random::<[u8; 8]>()));
        let row = self
            .inner
            .store
            .op_create(&id, kind, &inputs, &steps, created_by)?;
        self.spawn(id);
        Ok(row)
    }

    /// Resume every unfinished operation (on start).
    pub fn resume_all(&self) -> Result<usize> {
        let ids = self.inner.store.op_unfinished()?;
        for id in &ids {
            self.inner.store.op_mark_interrupted(id)?;
            self.spawn(id.clone());
        }
        if !ids.is_empty() {
            tracing::info!(count = ids.len(), "resuming unfinished operations");
        }
        Ok(ids.len())
    }

    /// Ask an operation to stop: before its next step, or now if its step
    /// can be abandoned (steps are idempotent).
    pub fn cancel(&self, id: &str, by: &str) -> Result<OperationRow, OpError> {
        match self.inner.store.op_request_cancel(id, by)? {
            None => return Err(OpError::NotFound(id.into())),
            Some(st) if st.is_terminal() => {
                return Err(OpError::Conflict(id.into(), st.as_str(), "cancelled"));
            }
            Some(_) => {}
        }
        let signal = self.running().get(id).cloned();
        match signal {
            Some(n) => n.notify_one(),
            // Not running (e.g. waiting for a permit was lost): finish here.
            None => self.inner.store.op_finish(id, OpStatus::Cancelled)?,
        }
        // The request is an activity of its own: followers see it now.
        self.changed();
        self.get(id)
    }

    /// Run a failed or cancelled operation again from its unfinished steps.
    pub fn retry(&self, id: &str, by: &str) -> Result<OperationRow, OpError> {
        if self.inner.draining.load(Ordering::Acquire) {
            return Err(OpError::ShuttingDown);
        }
        match self.inner.store.op_reset_for_retry(id, by)? {
            None => Err(OpError::NotFound(id.into())),
            Some(st) if !matches!(st, OpStatus::Failed | OpStatus::Cancelled) => {
                Err(OpError::Conflict(id.into(), st.as_str(), "retried"))
            }
            Some(_) => {
                self.changed();
                self.spawn(id.to_string());
                self.get(id)
            }
        }
    }

    /// Wait until operation `id` has activities after `after`, has ended,
    /// or `wait` has passed, whichever comes first: what lets a client follow
    /// an operation without polling in a tight loop.
    pub async fn wait_for_change(
        &self,
        id: &str,
        after: i64,
        wait: Duration,
    ) -> Result<(), OpError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.get(id)?.status.is_terminal()
                || self.inner.store.op_has_activities_after(id, after)?
            {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(());
            }
        }
    }

    /// Wake whoever follows an operation: its record changed.
    fn changed(&self) {
        self.inner.changed.notify_waiters();
    }

    pub fn get(&self, id: &str) -> Result<OperationRow, OpError> {
        self.inner
            .store
            .op_get(id)?
            .ok_or_else(|| OpError::NotFound(id.into()))
    }

    /// Stop starting steps, and wait up to `deadline` for running steps to
    /// finish. Operations left unfinished resume on the next start.
    pub async fn drain(&self, deadline: Duration) -> usize {
        self.inner.draining.store(true, Ordering::Release);
        let wait = async {
            loop {
                let idle = self.inner.idle.notified();
                if self.running().is_empty() {
                    return;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(deadline, wait).await;
        self.running().len()
    }

    fn spawn(&self, id: String) {
        let signal = Arc::new(Notify::new());
        {
            let mut running = self.running();
            if running.contains_key(&id) {
                return;
            }
            running.insert(id.clone(), signal.clone());
        }
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(e) = engine.run(&id, &signal).await {
                tracing::error!(operation = %id, "operation runner failed: {e:#}");
            }
            engine.running().remove(&id);
            engine.inner.idle.notify_waiters();
            engine.changed();
        });
    }

    async fn run(&self, id: &str, cancel: &Notify) -> Result<()> {
        let store = &self.inner.store;
        let _permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .context("operation permits closed")?;
        let op = store.op_get(id)?.context("operation disappeared")?;
        if op.status.is_terminal() {
            return Ok(());
        }
        let Some(workflow) = self.inner.workflows.get(op.kind.as_str()).cloned() else {
            store.op_running(id, "started")?;
            let steps = store.op_steps(id)?;
            if let Some(step) = steps.iter().find(|s| s.status != OpStatus::Succeeded) {
                store.op_step_finished(
                    id,
                    step.index,
                    &step.name,
                    OpStatus::Failed,
                    None,
                    Some(&StepFailure::new(
                        "unknown-kind",
                        format!("this daemon does not know operation kind {:?}", op.kind),
                    )),
                )?;
            }
            return Ok(());
        };
        store.op_running(
            id,
            if op.status == OpStatus::Pending && op.updated_at == op.created_at {
                "started"
            } else {
                "resumed"
            },
        )?;
        for step in store.op_steps(id)? {
            if step.status == OpStatus::Succeeded {
                continue;
            }
            if store.op_cancel_requested(id)? {
                store.op_finish(id, OpStatus::Cancelled)?;
                return Ok(());
            }
            if self.inner.draining.load(Ordering::Acquire) {
                store.op_running(
                    id,
                    "paused: the daemon is shutting down; resumes on next start",
                )?;
                return Ok(());
            }
            let attempt = store.op_step_started(id, step.index, &step.name)?;
            self.changed();
            let outcome = tokio::select! {
                r = workflow.run_step(&op, step.index, attempt) => Some(r),
                _ = cancel.notified() => None,
            };
            match outcome {
                Some(Ok(output)) => store.op_step_finished(
                    id,
                    step.index,
                    &step.name,
                    OpStatus::Succeeded,
                    Some(&output),
                    None,
                )?,
                Some(Err(e)) => {
                    store.op_step_finished(
                        id,
                        step.index,
                        &step.name,
                        OpStatus::Failed,
                        None,
                        Some(&e),
                    )?;
                    return Ok(());
                }
                None => {
                    store.op_step_finished(
                        id,
                        step.index,
                        &step.name,
                        OpStatus::Cancelled,
                        None,
                        None,
                    )?;
                    return Ok(());
                }
            }
            self.changed();
        }
        store.op_finish(id, OpStatus::Succeeded)?;
        Ok(())
    }
}
