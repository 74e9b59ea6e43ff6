//! Azure Resource Manager for the host: clouds, tokens for stored
//! credentials, and an ARM client that retries what ARM asks to be retried.
//!
//! Plugins reach this only through the `azure` host interface
//! (`host_api::azure`), which checks grants and audits first. Tokens come from
//! azure_identity (a client-secret credential, or the `azure-default` chain in
//! [`chain`]); azure_identity caches them until shortly before they expire.
//! Secrets are revealed from the vault only to build a credential and never
//! leave this module.

pub mod chain;
pub mod cloud;

use crate::secrets::credentials::{CredentialError, CredentialKind, Credentials};
use azure_core::credentials::TokenCredential;
use cloud::Cloud;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How the host talks to Azure (`[azure]` in the config file).
#[derive(Debug, Clone)]
pub struct AzureSettings {
    /// Clouds beyond the three built in, by name.
    pub clouds: HashMap<String, Cloud>,
    /// PEM of an extra CA to trust for Entra and ARM (a TLS-inspecting proxy,
    /// a private cloud, a test stand-in).
    pub extra_ca_pem: Option<String>,
    /// Concurrent ARM requests per credential.
    pub max_concurrency: usize,
    /// Attempts per ARM request (429, 5xx and connection errors are retried).
    pub max_attempts: u32,
    /// Longest wait honoured from a `Retry-After`.
    pub max_retry_after: Duration,
    /// How long the `azure-default` chain waits for a managed identity.
    pub managed_identity_timeout: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
}

impl AzureSettings {
    /// From `[azure]` in the config file (reads `ca_file`).
    pub fn from_config(c: &crate::config::AzureConfig) -> anyhow::Result<AzureSettings> {
        use anyhow::Context;
        let mut s = AzureSettings::default();
        if let Some(path) = &c.ca_file {
            s.extra_ca_pem = Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read [azure] ca_file {}", path.display()))?,
            );
        }
        if let Some(n) = c.max_concurrency {
            s.max_concurrency = n;
        }
        if let Some(t) = &c.managed_identity_timeout {
            s.managed_identity_timeout = humantime::parse_duration(t)?;
        }
        if let Some(t) = &c.request_timeout {
            s.request_timeout = humantime::parse_duration(t)?;
        }
        for (name, cloud) in &c.clouds {
            let arm = cloud.resource_manager.trim_end_matches('/').to_string();
            s.clouds.insert(
                name.clone(),
                Cloud {
                    name: name.clone(),
                    authority_host: cloud.authority_host.trim_end_matches('/').to_string(),
                    audience: cloud.audience.clone().unwrap_or_else(|| arm.clone()),
                    resource_manager: arm,
                },
            );
        }
        Ok(s)
    }
}

impl Default for AzureSettings {
    fn default() -> Self {
        AzureSettings {
            clouds: HashMap::new(),
            extra_ca_pem: None,
            max_concurrency: 8,
            max_attempts: 5,
            max_retry_after: Duration::from_secs(30),
            managed_identity_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Why an Azure call failed; maps onto the WIT `error` variant.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AzureError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    /// ARM or Entra answered with an error (or nothing usable).
    #[error("{status} {code}: {message}")]
    Upstream {
        status: u16,
        code: String,
        message: String,
    },
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Internal(String),
}

impl From<CredentialError> for AzureError {
    fn from(e: CredentialError) -> AzureError {
        match e {
            CredentialError::NotFound(name) => AzureError::NotFound(format!(
                "no credential named {name:?}: `drover credential ls` lists them"
            )),
            CredentialError::Invalid(m) => AzureError::Invalid(m),
            other => AzureError::Internal(other.to_string()),
        }
    }
}

/// A stored Azure credential, described (no secret).
#[derive(Debug, Clone)]
pub struct CredentialInfo {
    pub name: String,
    pub kind: CredentialKind,
    pub cloud: Cloud,
    pub subscriptions: Vec<String>,
    /// created/rotated time: a rotation makes a new token source.
    version: (i64, Option<i64>),
    tenant_id: Option<String>,
    client_id: Option<String>,
}

/// A token source for one credential, rebuilt when the credential changes.
struct Source {
    /// created/rotated time: a rotation makes a new source.
    version: (i64, Option<i64>),
    credential: Arc<dyn TokenCredential>,
    limit: Arc<Semaphore>,
}

pub struct Azure {
    credentials: Credentials,
    settings: AzureSettings,
    http: reqwest::Client,
    /// The HTTP client azure_identity uses (it is built on reqwest 0.13).
    identity_http: Arc<reqwest013::Client>,
    sources: Mutex<HashMap<String, Arc<Source>>>,
    /// ARM requests sent (attempts included).
    requests: AtomicU64,
}

/// The ARM error body: `{"error":{"code","message"}}`.
#[derive(serde::Deserialize)]
struct ArmErrorBody {
    error: ArmError,
}

#[derive(serde::Deserialize)]
struct ArmError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// One ARM page: `value` and maybe `nextLink`.
#[derive(serde::Deserialize)]
struct Page {
    #[serde(default)]
    value: Vec<Box<serde_json::value::RawValue>>,
    #[serde(default, rename = "nextLink")]
    next_link: Option<String>,
}

impl Azure {
    pub fn new(credentials: Credentials, settings: AzureSettings) -> anyhow::Result<Azure> {
        let mut http = reqwest::Client::builder()
            .user_agent(concat!("drover/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(settings.request_timeout);
        let mut identity_http = reqwest013::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(settings.request_timeout);
        // `[azure] ca_file` may hold several certificates (a bundle).
        if let Some(pem) = &settings.extra_ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem.as_bytes())? {
                http = http.add_root_certificate(cert);
            }
            for cert in reqwest013::Certificate::from_pem_bundle(pem.as_bytes())? {
                identity_http = identity_http.add_root_certificate(cert);
            }
        }
        Ok(Azure {
            credentials,
            http: http.build()?,
            identity_http: Arc::new(identity_http.build()?),
            settings,
            sources: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
        })
    }

    /// ARM requests sent so far (retries included).
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Describe a stored Azure credential.
    pub fn describe(&self, name: &str) -> Result<CredentialInfo, AzureError> {
        let view = self.credentials.get(name)?;
        if !matches!(
            view.kind,
            CredentialKind::AzureClientSecret | CredentialKind::AzureDefault
        ) {
            return Err(AzureError::Invalid(format!(
                "credential {name:?} is a {} credential, not an Azure one",
                view.kind.as_str()
            )));
        }
        let cloud = cloud::resolve(view.fields.cloud.as_deref(), &self.settings.clouds)
            .map_err(AzureError::Invalid)?;
        Ok(CredentialInfo {
            name: view.name,
            kind: view.kind,
            cloud,
            subscriptions: view.fields.subscriptions,
            version: (view.created_at, view.rotated_at),
            tenant_id: view.fields.tenant_id,
            client_id: view.fields.client_id,
        })
    }

    fn source(&self, info: &CredentialInfo) -> Result<Arc<Source>, AzureError> {
        let version = info.version;
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = sources.get(&info.name)
            && s.version == version
        {
            return Ok(s.clone());
        }
        let http = self.identity_http.clone();
        let cloud = Arc::new(info.cloud.configuration());
        // No retries inside the identity library: an authority that cannot
        // be reached (refused, TLS rejected) is reported at once, naming it,
        // instead of after a series of silent attempts.
        let options = move || azure_core::http::ClientOptions {
            transport: Some(azure_core::http::Transport::new(http.clone())),
            cloud: Some(cloud.clone()),
            retry: azure_core::http::RetryOptions::none(),
            ..Default::default()
        };
        let credential: Arc<dyn TokenCredential> = match info.kind {
            CredentialKind::AzureClientSecret => {
                let (secret, _) = self.credentials.reveal(&info.name)?;
                let tenant = info.tenant_id.clone().unwrap_or_default();
                let client = info.client_id.clone().unwrap_or_default();
                azure_identity::ClientSecretCredential::new(
                    &tenant,
                    client,
                    azure_core::credentials::Secret::new(secret.to_string()),
                    Some(azure_identity::ClientSecretCredentialOptions {
                        client_options: options(),
                    }),
                )
                .map_err(|e| {
                    AzureError::Invalid(format!("credential {:?} cannot be used: {e}", info.name))
                })?
            }
            _ => Arc::new(chain::DefaultChain::new(
                options,
                self.settings.managed_identity_timeout,
            )),
        };
        let source = Arc::new(Source {
            version,
            credential,
            limit: Arc::new(Semaphore::new(self.settings.max_concurrency.max(1))),
        });
        sources.insert(info.name.clone(), source.clone());
        Ok(source)
    }

    /// A bearer token for `info`'s cloud.
    async fn token(&self, info: &CredentialInfo, source: &Source) -> Result<String, AzureError> {
        let scope = info.cloud.scope();
        match source.credential.get_token(&[scope.as_str()], None).await {
            Ok(token) => Ok(token.token.secret().to_string()),
            Err(e) => {
                let chain = crate::text::cause_chain(&e);
                // Only when Entra never answered: its own error texts may
                // mention certificates too.
                if let Some(problem) = never_answered(&e)
                    .then(|| connection_problem(&chain))
                    .flatten()
                {
                    return Err(problem.error(
                        &format!("cannot get a token for credential {:?}: ", info.name),
                        "the Entra authority",
                        host_of(&info.cloud.authority_host),
                        &chain,
                        "the credential's cloud (authority_host)",
                    ));
                }
                Err(token_error(&info.name, &e.to_string()))
            }
        }
    }

    /// Send one request; non-2xx answers become [`AzureError::Upstream`].
    pub async fn request(
        &self,
        credential: &str,
        method: &str,
        path: &str,
        api_version: &str,
        body: Option<&str>,
    ) -> Result<(u16, String), AzureError> {
        let info = self.describe(credential)?;
        let method = parse_method(method)?;
        check_path(path)?;
        check_api_version(api_version)?;
        let source = self.source(&info)?;
        let url = format!(
            "{}{path}?api-version={api_version}",
            info.cloud.resource_manager
        );
        self.send(&info, &source, method, &url, body).await
    }

    /// GET each path and follow `nextLink` to the end, concurrently (bounded
    /// per credential). Items are returned as raw JSON.
    pub async fn list_all(
        &self,
        credential: &str,
        api_version: &str,
        paths: &[String],
    ) -> Result<Vec<Result<Vec<String>, AzureError>>, AzureError> {
        let info = self.describe(credential)?;
        check_api_version(api_version)?;
        let source = self.source(&info)?;
        let jobs = paths.iter().map(|path| {
            let info = &info;
            let source = &source;
            async move {
                check_path(path)?;
                let mut url = format!(
                    "{}{path}?api-version={api_version}",
                    info.cloud.resource_manager
                );
                let mut items = Vec::new();
                for _page in 0..10_000 {
                    let (status, body) = self
                        .send(info, source, reqwest::Method::GET, &url, None)
                        .await?;
                    let page: Page =
                        serde_json::from_str(&body).map_err(|e| AzureError::Upstream {
                            status,
                            code: "MalformedResponse".into(),
                            message: format!(
                                "ARM answered {path} with a page that is not JSON: {e}"
                            ),
                        })?;
                    items.extend(page.value.into_iter().map(|v| v.get().to_string()));
                    match page.next_link.filter(|l| !l.is_empty()) {
                        Some(next) => {
                            if !same_origin(&next, &info.cloud.resource_manager) {
                                return Err(AzureError::Upstream {
                                    status,
                                    code: "UnexpectedNextLink".into(),
                                    message: format!(
                                        "ARM's nextLink for {path} points outside {}; refusing to \
                                         follow it with the credential's token",
                                        info.cloud.resource_manager
                                    ),
                                });
                            }
                            url = next;
                        }
                        None => return Ok(items),
                    }
                }
                Err(AzureError::Upstream {
                    status: 200,
                    code: "TooManyPages".into(),
                    message: format!("ARM kept paging {path} past 10,000 pages"),
                })
            }
        });
        Ok(futures::future::join_all(jobs).await)
    }

    /// One request with retries, under the credential's concurrency bound.
    async fn send(
        &self,
        info: &CredentialInfo,
        source: &Source,
        method: reqwest::Method,
        url: &str,
        body: Option<&str>,
    ) -> Result<(u16, String), AzureError> {
        let _permit = source
            .limit
            .acquire()
            .await
            .map_err(|_| AzureError::Internal("the ARM client is shutting down".into()))?;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let token = self.token(info, source).await?;
            let mut request = self
                .http
                .request(method.clone(), url)
                .bearer_auth(&token)
                .header("accept", "application/json");
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let outcome = request.send().await;
            let retry_in = match outcome {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = response.text().await.unwrap_or_default();
                    if (200..300).contains(&status) {
                        return Ok((status, text));
                    }
                    let retryable = status == 429 || (500..600).contains(&status);
                    if !retryable || attempt >= self.settings.max_attempts {
                        return Err(arm_error(status, &text, url));
                    }
                    let wait = retry_after
                        .unwrap_or_else(|| backoff(attempt))
                        .min(self.settings.max_retry_after);
                    tracing::debug!(status, ?wait, attempt, "ARM asked to retry");
                    wait
                }
                // A host that refuses the connection or its TLS is reported at
                // once: retrying cannot help, and the operator must act.
                Err(e) if e.is_connect() && !e.is_timeout() => {
                    // Classified without the URL: its path may say anything
                    // ("…/certificates/…").
                    let chain = crate::text::cause_chain(&e.without_url());
                    let problem = connection_problem(&chain).unwrap_or(Connection::Refused);
                    return Err(problem.error(
                        "",
                        "ARM at",
                        host_of(url),
                        &chain,
                        "the credential's cloud (resource_manager)",
                    ));
                }
                Err(e) if e.is_timeout() && attempt >= self.settings.max_attempts => {
                    return Err(AzureError::Timeout(format!(
                        "ARM did not answer {} within {}",
                        strip_query(url),
                        humantime::format_duration(self.settings.request_timeout)
                    )));
                }
                Err(e) if attempt >= self.settings.max_attempts => {
                    return Err(AzureError::Upstream {
                        status: 0,
                        code: "Unreachable".into(),
                        message: format!("cannot reach {}: {e}", strip_query(url)),
                    });
                }
                Err(_) => backoff(attempt),
            };
            tokio::time::sleep(retry_in).await;
        }
    }
}

/// Why a connection to Entra or ARM failed, when it is the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connection {
    Refused,
    Tls,
    Name,
}

impl Connection {
    fn code(self) -> &'static str {
        match self {
            Connection::Refused | Connection::Name => "Unreachable",
            Connection::Tls => "TlsRejected",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Connection::Refused => "cannot connect to",
            Connection::Name => "cannot resolve",
            Connection::Tls => "the TLS handshake failed with",
        }
    }

    /// The error for failing to reach `host` (what: "the Entra authority",
    /// "ARM at"…), `chain` being the client's own account of it and
    /// `endpoint` the setting to check.
    fn error(
        self,
        prefix: &str,
        what: &str,
        host: &str,
        chain: &str,
        endpoint: &str,
    ) -> AzureError {
        AzureError::Upstream {
            status: 0,
            code: self.code().into(),
            message: format!(
                "{prefix}{} {what} {host} ({chain}){}",
                self.verb(),
                self.hint(endpoint)
            ),
        }
    }

    fn hint(self, endpoint: &str) -> String {
        match self {
            Connection::Tls => format!(
                " — its certificate is not one this daemon trusts: check {endpoint}, and \
                 [azure] ca_file if a proxy or private cloud signs with its own CA"
            ),
            _ => format!(
                " — check {endpoint}, and that the daemon's host can reach it (firewall, proxy, \
                 DNS)"
            ),
        }
    }
}

/// Classify a failed request's error chain: None when it is not about
/// reaching the host (an HTTP answer, a timeout).
fn connection_problem(chain: &str) -> Option<Connection> {
    let lower = chain.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        Some(Connection::Tls)
    } else if lower.contains("dns error") || lower.contains("failed to lookup") {
        Some(Connection::Name)
    } else if lower.contains("connection refused")
        || lower.contains("tcp connect error")
        || lower.contains("network is unreachable")
        || lower.contains("no route to host")
    {
        Some(Connection::Refused)
    } else {
        None
    }
}

/// Whether an azure_core error (or one it wraps) is a transport failure:
/// the other side never answered with HTTP.
fn never_answered(e: &azure_core::Error) -> bool {
    use azure_core::error::ErrorKind;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(core) = err.downcast_ref::<azure_core::Error>()
            && matches!(core.kind(), ErrorKind::Io | ErrorKind::Connection)
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// `host:port` of a URL, for messages.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(200).saturating_mul(1 << attempt.min(6));
    base + Duration::from_millis(rand::random::<u64>() % 100)
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn same_origin(url: &str, base: &str) -> bool {
    let origin = |u: &str| -> String {
        let scheme = u.split_once("://").map_or("", |(s, _)| s);
        format!("{scheme}://{}", host_of(u)).to_ascii_lowercase()
    };
    origin(url) == origin(base)
}

fn parse_method(method: &str) -> Result<reqwest::Method, AzureError> {
    match method.to_ascii_uppercase().as_str() {
        "GET" => Ok(reqwest::Method::GET),
        "PUT" => Ok(reqwest::Method::PUT),
        "POST" => Ok(reqwest::Method::POST),
        "PATCH" => Ok(reqwest::Method::PATCH),
        "DELETE" => Ok(reqwest::Method::DELETE),
        "HEAD" => Ok(reqwest::Method::HEAD),
        other => Err(AzureError::Invalid(format!(
            "{other:?} is not an ARM method: use GET, PUT, POST, PATCH, DELETE or HEAD"
        ))),
    }
}

/// An ARM path: absolute, no query, no traversal.
pub fn check_path(path: &str) -> Result<(), AzureError> {
    let ok = path.starts_with('/')
        && !path.contains(['?', '#', '\\', ' '])
        && !path.split('/').any(|s| s == ".." || s == ".")
        && !path.contains("//");
    if ok {
        Ok(())
    } else {
        Err(AzureError::Invalid(format!(
            "{path:?} is not an ARM path such as \"/subscriptions/<id>/providers/…\" (absolute, \
             no query, no `..`)"
        )))
    }
}

fn check_api_version(v: &str) -> Result<(), AzureError> {
    if !v.is_empty()
        && v.len() <= 32
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        Ok(())
    } else {
        Err(AzureError::Invalid(format!(
            "{v:?} is not an api-version such as \"2025-10-01\""
        )))
    }
}

/// The subscription a path is under (`""` for tenant-level paths).
pub fn subscription_of(path: &str) -> &str {
    let mut parts = path.split('/').filter(|p| !p.is_empty());
    match (parts.next(), parts.next()) {
        (Some(first), Some(id)) if first.eq_ignore_ascii_case("subscriptions") => id,
        _ => "",
    }
}

/// An ARM error answer as an [`AzureError::Upstream`], with a hint where one helps.
fn arm_error(status: u16, body: &str, url: &str) -> AzureError {
    let (code, mut message) = match serde_json::from_str::<ArmErrorBody>(body) {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => (
            format!("Http{status}"),
            format!(
                "ARM answered {} with status {status} and no ARM error body",
                strip_query(url)
            ),
        ),
    };
    if code == "AuthorizationFailed" || status == 403 {
        message.push_str(
            " — assign the credential's principal a role that allows this action (Reader is \
             enough for discovery) on that scope",
        );
    }
    if code.is_empty() {
        return AzureError::Upstream {
            status,
            code: format!("Http{status}"),
            message,
        };
    }
    AzureError::Upstream {
        status,
        code,
        message,
    }
}

/// A failure to get a token, with the identity provider's text and a hint.
fn token_error(name: &str, text: &str) -> AzureError {
    let hint = if text.contains("AADSTS7000215") {
        format!(
            " — the client secret is wrong: use the secret's value (not its id) and store it \
             with `drover credential rotate {name} --secret-stdin`"
        )
    } else if text.contains("AADSTS700016") {
        " — no application with this client id exists in the tenant: check client_id and \
         tenant_id"
            .to_string()
    } else if text.contains("AADSTS90002") {
        " — the tenant does not exist: check tenant_id and the credential's cloud".to_string()
    } else {
        String::new()
    };
    let line = text.lines().next().unwrap_or(text).trim();
    AzureError::Upstream {
        status: 401,
        code: "CredentialUnavailable".into(),
        message: format!("cannot get a token for credential {name:?}: {line}{hint}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked() {
        for good in [
            "/subscriptions",
            "/subscriptions/x/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters",
        ] {
            assert!(check_path(good).is_ok(), "{good}");
        }
        for bad in [
            "subscriptions",
            "/subscriptions/../x",
            "/subscriptions?x=1",
            "https://evil/x",
            "//evil/x",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        assert_eq!(subscription_of("/subscriptions/abc/x"), "abc");
        assert_eq!(subscription_of("/SUBSCRIPTIONS/abc"), "abc");
        assert_eq!(subscription_of("/subscriptions"), "");
        assert_eq!(subscription_of("/providers/x"), "");
    }

    #[test]
    fn next_links_must_stay_on_the_arm_host() {
        assert!(same_origin(
            "https://management.azure.com/subscriptions/x?$skiptoken=1",
            "https://management.azure.com"
        ));
        assert!(!same_origin(
            "https://evil.example/subscriptions/x",
            "https://management.azure.com"
        ));
        assert!(!same_origin(
            "http://management.azure.com/x",
            "https://management.azure.com"
        ));
    }

    #[test]
    fn arm_errors_keep_status_and_code_and_hint_at_roles() {
        let e = arm_error(
            403,
            r#"{"error":{"code":"AuthorizationFailed","message":"The client 'x' does not have authorization"}}"#,
            "https://m/subscriptions/s?api-version=1",
        );
        match e {
            AzureError::Upstream {
                status,
                code,
                message,
            } => {
                assert_eq!(status, 403);
                assert_eq!(code, "AuthorizationFailed");
                assert!(message.contains("Reader"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let e = arm_error(502, "<html>bad gateway</html>", "https://m/x?api-version=1");
        assert!(matches!(e, AzureError::Upstream { status: 502, .. }));
        let t = token_error(
            "prod",
            "ClientSecretCredential authentication failed. AADSTS7000215: Invalid client secret provided.",
        );
        assert!(
            t.to_string().contains("drover credential rotate prod"),
            "{t}"
        );
    }
}
