//! Watches the plugin directory and keeps the registry in step with it.
//!
//! Events are debounced, then handled one plugin name at a time: a `.wasm`
//! or `.toml` that appears or changes loads that plugin; a `.wasm` that
//! disappears unloads it. A plugin that fails to load is retried with
//! exponential backoff (1 s doubling to 5 min) rather than in a tight loop; a
//! fresh change to its files retries it at once.

use crate::plugins::Registry;
use crate::task::AbortOnDrop;
use anyhow::{Context, Result};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long events settle before they are handled.
pub const DEBOUNCE: Duration = Duration::from_millis(50);
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(300);

/// Retry delay after `failures` consecutive failures.
pub fn backoff(failures: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(MAX_RETRY)
}

struct Retry {
    failures: u32,
    at: Instant,
}

/// Keeps the watcher alive; dropping it stops watching.
pub struct Watcher {
    _task: AbortOnDrop<()>,
}

/// Start watching the registry's directory. `failed` are names that failed
/// during the initial scan: they start on the retry schedule.
pub fn spawn(registry: Arc<Registry>, failed: Vec<String>) -> Result<Watcher> {
    let (tx, mut rx) = mpsc::unbounded_channel::<BTreeSet<String>>();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        match result {
            Ok(events) => {
                // Opens and reads (including the daemon's own) are not changes.
                let names: BTreeSet<String> = events
                    .iter()
                    .filter(|e| !matches!(e.kind, EventKind::Access(_)))
                    .flat_map(|e| e.paths.iter())
                    .filter_map(|p| plugin_name(p))
                    .collect();
                if !names.is_empty() {
                    let _ = tx.send(names);
                }
            }
            Err(errors) => {
                for e in errors {
                    tracing::warn!("plugin directory watch error: {e}");
                }
            }
        }
    })
    .context("cannot start the plugin directory watcher")?;
    debouncer
        .watch(registry.dir(), RecursiveMode::NonRecursive)
        .with_context(|| format!("cannot watch {}", registry.dir().display()))?;

    let now = Instant::now();
    let mut retries: HashMap<String, Retry> = failed
        .into_iter()
        .map(|name| {
            (
                name,
                Retry {
                    failures: 1,
                    at: now + backoff(1),
                },
            )
        })
        .collect();

    let task = tokio::spawn(async move {
        let _debouncer = debouncer;
        loop {
            let next = retries.values().map(|r| r.at).min();
            let names: BTreeSet<String> = tokio::select! {
                received = rx.recv() => match received {
                    Some(names) => {
                        // A change resets the schedule for these names.
                        for n in &names { retries.remove(n); }
                        names
                    }
                    None => return,
                },
                _ = sleep_until(next) => {
                    let now = Instant::now();
                    retries.iter().filter(|(_, r)| r.at <= now).map(|(n, _)| n.clone()).collect()
                }
            };
            for name in names {
                let wasm = registry.dir().join(format!("{name}.wasm"));
                if !tokio::fs::try_exists(&wasm).await.unwrap_or(false) {
                    retries.remove(&name);
                    registry.unload(&name);
                    continue;
                }
                match registry.load(&name).await {
                    Ok(_) => {
                        retries.remove(&name);
                    }
                    Err(_) => {
                        let failures = retries.get(&name).map_or(0, |r| r.failures) + 1;
                        let delay = backoff(failures);
                        tracing::debug!(plugin = %name, failures, retry_in = ?delay, "will retry loading");
                        retries.insert(
                            name,
                            Retry {
                                failures,
                                at: Instant::now() + delay,
                            },
                        );
                    }
                }
            }
        }
    });
    Ok(Watcher {
        _task: AbortOnDrop(task),
    })
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// `dir/<name>.wasm` or `dir/<name>.toml` → `name`.
fn plugin_name(path: &Path) -> Option<String> {
    let ext = path.extension()?.to_str()?;
    if ext != "wasm" && ext != "toml" {
        return None;
    }
    Some(path.file_stem()?.to_str()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(30), MAX_RETRY);
    }

    #[test]
    fn only_plugin_files_count() {
        assert_eq!(plugin_name(Path::new("/p/a.wasm")).as_deref(), Some("a"));
        assert_eq!(plugin_name(Path::new("/p/a.toml")).as_deref(), Some("a"));
        assert_eq!(plugin_name(Path::new("/p/.a.wasm.swp")), None);
        assert_eq!(plugin_name(Path::new("/p/a")), None);
    }
}
