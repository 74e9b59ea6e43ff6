//! How client commands find and call the daemon's API.

use super::ClientArgs;
use super::serve::{ADMIN_TOKEN_FILE, DAEMON_FILE};
use crate::config::default_data_dir;
use anyhow::{Context, Result, bail};
use serde::de::DeserializeOwned;

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    timeout: std::time::Duration,
}

impl Client {
    pub fn from_args(args: &ClientArgs) -> Result<Client> {
        let data_dir = match &args.data_dir {
            Some(d) => d.clone(),
            None => default_data_dir()?,
        };
        // What the local daemon recorded: its URL and the CA it is served
        // with. Needed to reach the local daemon only: with --server, an
        // unreadable file does not matter, and its CA is trusted only if
        // --server is that daemon.
        let daemon_file = data_dir.join(DAEMON_FILE);
        let local = || -> Result<Option<serde_json::Value>> {
            match std::fs::read_to_string(&daemon_file) {
                Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
                    format!("{} is not valid JSON", daemon_file.display())
                })?)),
                Err(_) => Ok(None),
            }
        };
        let ca_of = |v: &serde_json::Value| v["ca_pem"].as_str().map(|p| p.as_bytes().to_vec());
        let (base, local_ca) = match &args.server {
            Some(s) => {
                let base = s.trim_end_matches('/').to_string();
                let local_ca = local().ok().flatten().and_then(|v| {
                    (v["url"].as_str().map(|u| u.trim_end_matches('/')) == Some(base.as_str()))
                        .then(|| ca_of(&v))
                        .flatten()
                });
                (base, local_ca)
            }
            None => {
                let Some(v) = local()? else {
                    bail!(
                        "cannot find a running daemon: {} is missing. Start one with `drover \
                         serve`, or pass --server URL",
                        daemon_file.display()
                    );
                };
                let base = v["url"]
                    .as_str()
                    .with_context(|| format!("{} has no url", daemon_file.display()))?
                    .to_string();
                (base, ca_of(&v))
            }
        };
        let token = match &args.token {
            Some(t) => t.clone(),
            None => {
                let path = data_dir.join(ADMIN_TOKEN_FILE);
                std::fs::read_to_string(&path)
                    .with_context(|| {
                        format!(
                            "cannot read the admin token {}: pass --token or set DROVER_TOKEN",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_string()
            }
        };
        let timeout = args.timeout;
        let mut http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(timeout);
        let ca_pem =
            match &args.ca_file {
                Some(path) => Some(std::fs::read(path).with_context(|| {
                    format!("cannot read the CA certificate {}", path.display())
                })?),
                None => local_ca,
            };
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .context("the daemon's CA certificate is not a PEM certificate")?;
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http.build()?;
        Ok(Client {
            http,
            base,
            token,
            timeout,
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            bail!(
                "{} {}: {message}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            );
        }
        let body: &[u8] = if body.is_empty() { b"null" } else { &body };
        serde_json::from_slice(body).with_context(|| format!("unexpected response from {url}"))
    }

    /// Say which it is: no daemon there, or a daemon that did not answer in time.
    fn unreachable(&self, e: &reqwest::Error) -> anyhow::Error {
        if e.is_timeout() {
            anyhow::anyhow!(
                "the daemon at {} did not answer within {}: it is running but busy or stuck. \
                 Try again, allow longer with --timeout, or look at the daemon's log",
                self.base,
                humantime::format_duration(self.timeout)
            )
        } else if e.is_connect() {
            anyhow::anyhow!(
                "cannot reach the daemon at {}: is it running? (`drover serve` starts it) — {}",
                self.base,
                crate::text::cause_chain(e)
            )
        } else {
            anyhow::anyhow!(
                "the connection to the daemon at {} failed: {}",
                self.base,
                crate::text::cause_chain(e)
            )
        }
    }
}
