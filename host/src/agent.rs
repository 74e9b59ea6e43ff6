//! `drover agent`: what the import manifests run inside an imported cluster.
//!
//! It checks the server's CA against the checksum it was given (before the
//! registration token leaves the pod), registers its cluster with the token,
//! then heartbeats with the cluster's Kubernetes version and node count, read
//! through the in-cluster API (or a kubeconfig). An unreachable server is
//! retried with exponential backoff; a refusal (revoked token, another
//! cluster's token, a removed cluster) ends the process with the reason, so
//! Kubernetes shows it in the pod's status and logs.

use crate::imports::{AgentTlsMode, CheckIn, CheckInReply};
use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use zeroize::Zeroizing;

/// The agent's settings (the Deployment passes them as environment).
#[derive(Clone)]
pub struct AgentSettings {
    /// The Drover server, e.g. `https://drover.example.com:7600`.
    pub server: String,
    pub token: Zeroizing<String>,
    pub cluster_id: String,
    /// sha256 (hex) of the server's CA PEM.
    pub ca_checksum: Option<String>,
    pub tls_mode: Option<AgentTlsMode>,
    /// Read the cluster through this kubeconfig instead of the in-cluster
    /// service account.
    pub kubeconfig: Option<PathBuf>,
    /// Where `/healthz` and `/readyz` are served.
    pub health_listen: Option<SocketAddr>,
    /// Longest wait between attempts while the server is unreachable.
    pub max_backoff: Duration,
}

/// Why the agent stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(
        "the server's CA certificate has sha256 {actual}, but DROVER_CA_CHECKSUM is {expected}: \
         refusing to send the registration token. Either the server's CA changed (print a new \
         import command and apply it) or something between this cluster and {server} is \
         intercepting TLS"
    )]
    CaMismatch {
        server: String,
        expected: String,
        actual: String,
    },
    #[error("the server refused the agent ({status}): {message}")]
    Server { status: u16, message: String },
}

const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Run until a signal arrives (Ok) or the server refuses us (Err).
pub async fn run(settings: AgentSettings) -> Result<()> {
    validate(&settings)?;
    let ready = Arc::new(AtomicBool::new(false));
    if let Some(addr) = settings.health_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for health checks on {addr}"))?;
        tracing::info!(addr = %listener.local_addr()?, "serving /healthz and /readyz");
        tokio::spawn(health_server(listener, ready.clone()));
    }
    tokio::select! {
        result = check_in_forever(&settings, &ready) => result,
        _ = crate::api::shutdown_signal() => {
            Ok(())
        }
    }
}

fn validate(s: &AgentSettings) -> Result<()> {
    crate::config::validate_server_url(&s.server).context("DROVER_SERVER")?;
    if s.cluster_id.trim().is_empty() {
        bail!("DROVER_CLUSTER_ID is empty: it comes from the import manifests");
    }
    if s.token.trim().is_empty() {
        bail!(
            "the registration token is empty: the import manifests fill it in the credentials \
             Secret; fetch the manifests from the import URL rather than copying them"
        );
    }
    if let Some(sum) = &s.ca_checksum
        && (sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        bail!("DROVER_CA_CHECKSUM {sum:?} is not a sha256 checksum (64 hex digits)");
    }
    if s.tls_mode == Some(AgentTlsMode::Strict)
        && s.ca_checksum.is_none()
        && s.server.starts_with("https://")
    {
        bail!(
            "DROVER_TLS_MODE is strict but DROVER_CA_CHECKSUM is not set: strict mode trusts only \
             the CA with that checksum (use system-store to trust the system's CAs)"
        );
    }
    Ok(())
}

/// Build the HTTP client the agent talks to the server with, verifying the
/// server's CA against the checksum first.
async fn server_client(s: &AgentSettings) -> Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .user_agent(format!("drover-agent/{AGENT_VERSION}"))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30));
    if !s.server.starts_with("https://") {
        if s.ca_checksum.is_some() {
            tracing::warn!(
                "the server URL is plain HTTP: DROVER_CA_CHECKSUM cannot protect anything and is \
                 ignored"
            );
        }
        return Ok(builder.build()?);
    }
    let mode = s.tls_mode.unwrap_or(if s.ca_checksum.is_some() {
        AgentTlsMode::Strict
    } else {
        AgentTlsMode::SystemStore
    });
    let pinned = match &s.ca_checksum {
        Some(expected) if mode != AgentTlsMode::Insecure => {
            Some(fetch_pinned_ca(s, expected).await?)
        }
        _ => None,
    };
    Ok(match mode {
        AgentTlsMode::Strict => {
            let pem = pinned.context("strict TLS mode needs DROVER_CA_CHECKSUM")?;
            let ca = reqwest::Certificate::from_pem(pem.as_bytes())
                .context("the server's CA certificate is not valid PEM")?;
            builder
                .tls_built_in_root_certs(false)
                .add_root_certificate(ca)
                .build()?
        }
        AgentTlsMode::SystemStore => {
            let mut b = builder;
            if let Some(pem) = pinned {
                // The checksum matched: trust that CA as well as the system's.
                b = b.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes())?);
            }
            b.build()?
        }
        AgentTlsMode::Insecure => {
            tracing::warn!(
                "DROVER_TLS_MODE is insecure: the server's certificate is not verified, so \
                 anything on the path can read the registration token"
            );
            builder.danger_accept_invalid_certs(true).build()?
        }
    })
}

/// Download `/cacerts` without verification and check it against the
/// checksum; only a matching CA is ever trusted. Retries while the server
/// is unreachable.
async fn fetch_pinned_ca(s: &AgentSettings, expected: &str) -> Result<String> {
    let probe = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()?;
    let url = format!("{}/cacerts", s.server);
    let mut backoff = Backoff::new(s.max_backoff);
    loop {
        let attempt = async {
            let response = probe.get(&url).send().await?;
            let status = response.status();
            let body = response.text().await?;
            Ok::<_, reqwest::Error>((status, body))
        };
        match attempt.await {
            Ok((status, pem)) if status.is_success() => {
                let actual = hex::encode(Sha256::digest(pem.as_bytes()));
                if !actual.eq_ignore_ascii_case(expected) {
                    return Err(Refused::CaMismatch {
                        server: s.server.clone(),
                        expected: expected.to_ascii_lowercase(),
                        actual,
                    }
                    .into());
                }
                tracing::info!(checksum = %actual, "the server's CA matches DROVER_CA_CHECKSUM");
                return Ok(pem);
            }
            Ok((status, _)) if status == reqwest::StatusCode::NOT_FOUND => {
                return Err(Refused::Server {
                    status: 404,
                    message: format!(
                        "{url} publishes no CA, so DROVER_CA_CHECKSUM cannot be checked: the \
                         server's TLS setup changed; print a new import command and apply it"
                    ),
                }
                .into());
            }
            Ok((status, _)) => {
                let wait = backoff.next();
                tracing::warn!(%status, "cannot fetch the server's CA from {url}; retrying in {}", fmt(wait));
                tokio::time::sleep(wait).await;
            }
            Err(e) => {
                let wait = backoff.next();
                tracing::warn!(
                    "cannot reach {url}: {}; retrying in {}",
                    error_chain(&e),
                    fmt(wait)
                );
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Register, then heartbeat; returns only on a refusal.
async fn check_in_forever(s: &AgentSettings, ready: &AtomicBool) -> Result<()> {
    let client = server_client(s).await?;
    let kube = kube_client(s).await;
    let mut backoff = Backoff::new(s.max_backoff);
    let mut registered: Option<CheckInReply> = None;
    loop {
        let report = CheckIn {
            cluster_id: s.cluster_id.clone(),
            agent_version: Some(AGENT_VERSION.to_string()),
            ..cluster_facts(kube.as_ref()).await
        };
        let path = if registered.is_some() {
            "heartbeat"
        } else {
            "register"
        };
        let url = format!("{}/agent/v1/{path}", s.server);
        let sent = client
            .post(&url)
            .bearer_auth(s.token.as_str())
            .json(&report)
            .send()
            .await;
        let wait = match sent {
            Ok(response) if response.status().is_success() => {
                match response.json::<CheckInReply>().await {
                    Ok(reply) => {
                        if registered.is_none() {
                            tracing::info!(
                                cluster = %reply.cluster_name,
                                id = %reply.cluster_id,
                                server = %s.server,
                                every = %fmt(Duration::from_millis(reply.heartbeat_interval_ms)),
                                "registered; heartbeating"
                            );
                        } else if backoff.failures > 0 {
                            tracing::info!("the server is reachable again");
                        }
                        ready.store(true, Ordering::Release);
                        backoff.reset();
                        let every = Duration::from_millis(reply.heartbeat_interval_ms.max(100));
                        registered = Some(reply);
                        every
                    }
                    Err(e) => {
                        let wait = backoff.next();
                        tracing::warn!(
                            "the server's reply to {path} is unreadable: {e}; retrying in {}",
                            fmt(wait)
                        );
                        wait
                    }
                }
            }
            Ok(response) => {
                let status = response.status();
                let message = response
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                    .unwrap_or_else(|| status.to_string());
                match status.as_u16() {
                    401 | 403 | 404 => {
                        return Err(Refused::Server {
                            status: status.as_u16(),
                            message,
                        }
                        .into());
                    }
                    409 => {
                        tracing::warn!("the server asks the agent to register again: {message}");
                        registered = None;
                        Duration::ZERO
                    }
                    _ => {
                        let wait = backoff.next();
                        tracing::warn!(%status, "{path} failed: {message}; retrying in {}", fmt(wait));
                        wait
                    }
                }
            }
            Err(e) => {
                let wait = backoff.next();
                tracing::warn!(
                    "cannot reach the Drover server at {}: {}; retrying in {}",
                    s.server,
                    error_chain(&e),
                    fmt(wait)
                );
                wait
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// A client for the cluster the agent runs in; None (with a warning) when
/// there is none, so the agent still heartbeats without facts.
async fn kube_client(s: &AgentSettings) -> Option<kube::Client> {
    let config = match &s.kubeconfig {
        Some(path) => {
            let loaded = async {
                let kubeconfig = kube::config::Kubeconfig::read_from(path)?;
                Ok::<_, anyhow::Error>(
                    kube::Config::from_custom_kubeconfig(
                        kubeconfig,
                        &kube::config::KubeConfigOptions::default(),
                    )
                    .await?,
                )
            };
            loaded
                .await
                .with_context(|| format!("cannot use the kubeconfig {}", path.display()))
        }
        None => kube::Config::infer()
            .await
            .context("cannot find the cluster's API (no service account and no kubeconfig)"),
    };
    match config.and_then(|c| kube::Client::try_from(c).map_err(anyhow::Error::from)) {
        Ok(client) => Some(client),
        Err(e) => {
            // The context says what was tried; the root cause says why it failed.
            tracing::warn!(
                "{e} ({}); heartbeats will carry no cluster facts",
                e.root_cause()
            );
            None
        }
    }
}

/// Kubernetes version and node count, as far as they can be read.
async fn cluster_facts(client: Option<&kube::Client>) -> CheckIn {
    let Some(client) = client else {
        return CheckIn::default();
    };
    let version = match client.apiserver_version().await {
        Ok(info) => Some(info.git_version),
        Err(e) => {
            tracing::warn!("cannot read the cluster's version: {e}");
            None
        }
    };
    let nodes: Api<Node> = Api::all(client.clone());
    let mut params = ListParams::default().limit(500);
    let mut count: i64 = 0;
    let node_count = loop {
        match nodes.list(&params).await {
            Ok(page) => {
                count += page.items.len() as i64;
                match page.metadata.continue_.filter(|c| !c.is_empty()) {
                    Some(next) => params = params.continue_token(&next),
                    None => break Some(count),
                }
            }
            Err(e) => {
                tracing::warn!("cannot count the cluster's nodes: {e}");
                break None;
            }
        }
    };
    CheckIn {
        kubernetes_version: version,
        node_count,
        ..CheckIn::default()
    }
}

async fn health_server(listener: tokio::net::TcpListener, ready: Arc<AtomicBool>) {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.load(Ordering::Acquire);
                async move {
                    if ready {
                        (axum::http::StatusCode::OK, "registered")
                    } else {
                        (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            "not registered yet",
                        )
                    }
                }
            }),
        );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!("the health endpoint stopped: {e}");
    }
}

/// Exponential backoff from 1 s, doubling up to a maximum.
struct Backoff {
    max: Duration,
    failures: u32,
}

impl Backoff {
    fn new(max: Duration) -> Backoff {
        Backoff { max, failures: 0 }
    }

    fn next(&mut self) -> Duration {
        let wait = Duration::from_secs(1)
            .saturating_mul(1u32 << self.failures.min(16))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        wait
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

fn fmt(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
}

/// An error and its sources on one line ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_maximum_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(10));
        let waits: Vec<u64> = (0..6).map(|_| b.next().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
        b.reset();
        assert_eq!(b.next(), Duration::from_secs(1));
    }

    fn settings() -> AgentSettings {
        AgentSettings {
            server: "https://drover.example.com:7600".into(),
            token: Zeroizing::new("t".repeat(52)),
            cluster_id: "c-1".into(),
            ca_checksum: None,
            tls_mode: None,
            kubeconfig: None,
            health_listen: None,
            max_backoff: Duration::from_secs(60),
        }
    }

    #[test]
    fn settings_are_checked_with_reasons() {
        assert!(validate(&settings()).is_ok());
        let e = validate(&AgentSettings {
            tls_mode: Some(AgentTlsMode::Strict),
            ..settings()
        })
        .unwrap_err();
        assert!(e.to_string().contains("DROVER_CA_CHECKSUM"), "{e}");
        let e = validate(&AgentSettings {
            ca_checksum: Some("abc".into()),
            ..settings()
        })
        .unwrap_err();
        assert!(e.to_string().contains("64 hex digits"), "{e}");
        let e = validate(&AgentSettings {
            token: Zeroizing::new(String::new()),
            ..settings()
        })
        .unwrap_err();
        assert!(e.to_string().contains("registration token is empty"), "{e}");
        let e = validate(&AgentSettings {
            server: "drover:7600".into(),
            ..settings()
        })
        .unwrap_err();
        assert!(format!("{e:#}").contains("DROVER_SERVER"), "{e:#}");
    }
}
