//! Tasks that end with their owner.

/// A spawned task that is aborted when this handle is dropped: a plugin call
/// whose caller went away (a request cut off, a client gone) is freed at its
/// next yield instead of running on unobserved; a background task (the
/// plugin watcher, the audit pruner) stops with its owner.
pub struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    /// Wait for the task; dropping this future aborts it.
    pub async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
