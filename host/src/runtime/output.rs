//! Guest stdout and stderr: forwarded line by line to `tracing`, tagged with
//! the plugin, control characters escaped, within a per-call byte budget. Bytes past the budget are
//! counted and summarised once when the call ends, never buffered, so a guest
//! flooding its output cannot grow the daemon's memory or its log.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes one call may write to one stream before output is dropped.
pub const OUTPUT_BUDGET_BYTES: usize = 64 * 1024;
/// Lines longer than this are cut.
const MAX_LINE: usize = 4096;
/// Lines kept for error messages (a Rust panic message goes to stderr).
const TAIL_LINES: usize = 8;

#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Default)]
struct Inner {
    partial: Vec<u8>,
    budget_left: usize,
    dropped: u64,
    tail: std::collections::VecDeque<String>,
}

/// One call's stdout or stderr.
#[derive(Clone)]
pub struct GuestOutput {
    plugin: Arc<str>,
    stream: Stream,
    inner: Arc<Mutex<Inner>>,
}

impl GuestOutput {
    pub fn new(plugin: Arc<str>, stream: Stream) -> Self {
        GuestOutput {
            plugin,
            stream,
            inner: Arc::new(Mutex::new(Inner {
                budget_left: OUTPUT_BUDGET_BYTES,
                ..Default::default()
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn accept(&self, bytes: &[u8]) {
        let mut inner = self.lock();
        let take = bytes.len().min(inner.budget_left);
        inner.budget_left -= take;
        inner.dropped += (bytes.len() - take) as u64;
        let mut rest = &bytes[..take];
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            inner.partial.extend_from_slice(&rest[..pos]);
            let line = std::mem::take(&mut inner.partial);
            self.emit(&mut inner, &line);
            rest = &rest[pos + 1..];
        }
        let room = MAX_LINE.saturating_sub(inner.partial.len());
        inner
            .partial
            .extend_from_slice(&rest[..rest.len().min(room)]);
    }

    fn emit(&self, inner: &mut Inner, line: &[u8]) {
        let line = String::from_utf8_lossy(&line[..line.len().min(MAX_LINE)]);
        // A `\r` or an escape sequence must not rewrite the operator's log line.
        let line = crate::text::escape_control(&line).into_owned();
        let plugin = &*self.plugin;
        match self.stream {
            Stream::Stdout => tracing::info!(target: "plugin", plugin, stream = "stdout", "{line}"),
            Stream::Stderr => tracing::warn!(target: "plugin", plugin, stream = "stderr", "{line}"),
        }
        if inner.tail.len() == TAIL_LINES {
            inner.tail.pop_front();
        }
        inner.tail.push_back(line);
    }

    /// Flush a trailing partial line and report what was dropped. Called
    /// once when the call ends.
    pub fn finish(&self) {
        let mut inner = self.lock();
        if !inner.partial.is_empty() {
            let line = std::mem::take(&mut inner.partial);
            self.emit(&mut inner, &line);
        }
        if inner.dropped > 0 {
            let stream = match self.stream {
                Stream::Stdout => "stdout",
                Stream::Stderr => "stderr",
            };
            tracing::warn!(
                target: "plugin",
                plugin = &*self.plugin,
                stream,
                dropped_bytes = inner.dropped,
                "plugin wrote more than {OUTPUT_BUDGET_BYTES} bytes to {stream} in one call; the rest was dropped"
            );
        }
    }

    /// The last lines written, oldest first.
    pub fn tail(&self) -> Vec<String> {
        self.lock().tail.iter().cloned().collect()
    }

    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.accept(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always writable: what is over budget is dropped, not blocked on.
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.accept(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_budgeted_and_tailed() {
        let out = GuestOutput::new("p".into(), Stream::Stderr);
        out.accept(b"first\nsec");
        out.accept(b"ond\nthird");
        out.finish();
        assert_eq!(out.tail(), vec!["first", "second", "third"]);
        assert_eq!(out.dropped(), 0);
        let big = vec![b'x'; OUTPUT_BUDGET_BYTES + 100];
        let out = GuestOutput::new("p".into(), Stream::Stdout);
        out.accept(&big);
        out.accept(b"more\n");
        assert_eq!(out.dropped(), 105);
    }
}
