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
}

impl Client {
    pub fn from_args(args: &ClientArgs) -> Result<Client> {
        let data_dir = match &args.data_dir {
            Some(d) => d.clone(),
            None => default_data_dir()?,
        };
        let base = match &args.server {
            Some(s) => s.trim_end_matches('/').to_string(),
            None => {
                let path = data_dir.join(DAEMON_FILE);
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!(
                        "cannot find a running daemon: {} is missing. Start one with `drover \
                         serve`, or pass --server URL",
                        path.display()
                    )
                })?;
                let v: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not valid JSON", path.display()))?;
                v["url"]
                    .as_str()
                    .with_context(|| format!("{} has no url", path.display()))?
                    .to_string()
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
        let mut http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
        let local_ca = data_dir.join("tls").join("ca.pem");
        let ca_file = args
            .ca_file
            .clone()
            .or_else(|| local_ca.exists().then_some(local_ca));
        if let Some(path) = ca_file {
            let pem = std::fs::read(&path)
                .with_context(|| format!("cannot read the CA certificate {}", path.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", path.display()))?;
            http = http.add_root_certificate(cert);
        }
        let http = http.build()?;
        Ok(Client { http, base, token })
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
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the daemon at {}: is it running?", self.base))?;
        let status = response.status();
        let body = response.bytes().await?;
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
}
