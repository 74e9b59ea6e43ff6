//! The `azure-default` credential: the daemon host's own Azure identity,
//! tried in order — a client secret from the environment
//! (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`), workload
//! identity (`AZURE_FEDERATED_TOKEN_FILE`), managed identity (bounded by a
//! short timeout: without a metadata endpoint the library's own retries take
//! about 100 s), then the Azure CLI. The first source that yields a token is
//! used from then on; if none does, the error names each source and why.

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Build = Box<dyn Fn() -> Result<Arc<dyn TokenCredential>, String> + Send + Sync>;

pub struct DefaultChain {
    sources: Vec<(&'static str, Build, Option<Duration>)>,
    chosen: Mutex<Option<(usize, Arc<dyn TokenCredential>)>>,
}

impl std::fmt::Debug for DefaultChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultChain").finish_non_exhaustive()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl DefaultChain {
    pub fn new(
        options: impl Fn() -> azure_core::http::ClientOptions + Send + Sync + Clone + 'static,
        managed_identity_timeout: Duration,
    ) -> DefaultChain {
        let o1 = options.clone();
        let environment: Build = Box::new(move || {
            let (Some(tenant), Some(client), Some(secret)) = (
                env("AZURE_TENANT_ID"),
                env("AZURE_CLIENT_ID"),
                env("AZURE_CLIENT_SECRET"),
            ) else {
                return Err(
                    "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are not all set"
                        .into(),
                );
            };
            azure_identity::ClientSecretCredential::new(
                &tenant,
                client,
                azure_core::credentials::Secret::new(secret),
                Some(azure_identity::ClientSecretCredentialOptions {
                    client_options: o1(),
                }),
            )
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| e.to_string())
        });
        let o2 = options.clone();
        let workload: Build = Box::new(move || {
            if env("AZURE_FEDERATED_TOKEN_FILE").is_none() {
                return Err("AZURE_FEDERATED_TOKEN_FILE is not set".into());
            }
            let mut opts = azure_identity::WorkloadIdentityCredentialOptions::default();
            opts.credential_options.client_options = o2();
            azure_identity::WorkloadIdentityCredential::new(Some(opts))
                .map(|c| c as Arc<dyn TokenCredential>)
                .map_err(|e| e.to_string())
        });
        let o3 = options;
        let managed: Build = Box::new(move || {
            let opts = azure_identity::ManagedIdentityCredentialOptions {
                client_options: o3(),
                ..Default::default()
            };
            azure_identity::ManagedIdentityCredential::new(Some(opts))
                .map(|c| c as Arc<dyn TokenCredential>)
                .map_err(|e| e.to_string())
        });
        let cli: Build = Box::new(|| {
            azure_identity::AzureCliCredential::new(None)
                .map(|c| c as Arc<dyn TokenCredential>)
                .map_err(|e| e.to_string())
        });
        DefaultChain {
            sources: vec![
                ("environment", environment, None),
                ("workload identity", workload, None),
                ("managed identity", managed, Some(managed_identity_timeout)),
                ("Azure CLI", cli, Some(Duration::from_secs(30))),
            ],
            chosen: Mutex::new(None),
        }
    }
}

#[async_trait::async_trait]
impl TokenCredential for DefaultChain {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let chosen = self
            .chosen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some((_, credential)) = chosen {
            return credential.get_token(scopes, options).await;
        }
        let mut reasons = Vec::new();
        for (index, (name, build, timeout)) in self.sources.iter().enumerate() {
            let credential = match build() {
                Ok(c) => c,
                Err(e) => {
                    reasons.push(format!("{name}: {e}"));
                    continue;
                }
            };
            let attempt = credential.get_token(scopes, options.clone());
            let result = match timeout {
                Some(t) => match tokio::time::timeout(*t, attempt).await {
                    Ok(r) => r,
                    Err(_) => {
                        reasons.push(format!(
                            "{name}: no answer within {}",
                            humantime::format_duration(*t)
                        ));
                        continue;
                    }
                },
                None => attempt.await,
            };
            match result {
                Ok(token) => {
                    tracing::info!(source = name, "azure-default: using this identity");
                    *self.chosen.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((index, credential));
                    return Ok(token);
                }
                Err(e) => {
                    let text = e.to_string();
                    reasons.push(format!("{name}: {}", text.lines().next().unwrap_or(&text)));
                }
            }
        }
        Err(azure_core::Error::with_message(
            ErrorKind::Credential,
            format!(
                "no Azure identity found on the daemon's host ({}). Set AZURE_TENANT_ID, \
                 AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for the daemon, run it with a workload \
                 or managed identity, or `az login` as its user",
                reasons.join("; ")
            ),
        ))
    }
}
