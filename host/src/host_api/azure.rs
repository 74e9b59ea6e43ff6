//! `drover:plugin/azure`: ARM requests on behalf of a plugin. Each request is
//! checked against the plugin's grants (credential, subscription, method,
//! path), audited, and sent by [`crate::azure::Azure`], which attaches the
//! credential's token. The plugin sees bodies and errors, never a secret.

use super::{Reach, audited, record_audit};
use crate::azure::{AzureError, subscription_of};
use crate::permissions::{Access, AzureAccess};
use crate::runtime::HostState;
use crate::runtime::bindings::WitError;
use crate::runtime::bindings::aks_discovery::drover::plugin::azure::{
    ArmRequest, ArmResponse, CredentialInfo, Host, Listing,
};
use crate::runtime::bindings::import_manifests::drover::plugin::types::UpstreamError;
use std::time::Instant;

impl From<AzureError> for WitError {
    fn from(e: AzureError) -> WitError {
        match e {
            AzureError::NotFound(m) => WitError::NotFound(m),
            AzureError::Invalid(m) => WitError::InvalidInput(m),
            AzureError::Upstream {
                status,
                code,
                message,
            } => WitError::Upstream(UpstreamError {
                status,
                code,
                message,
            }),
            AzureError::Timeout(m) => WitError::Timeout(m),
            AzureError::Internal(m) => WitError::Internal(m),
        }
    }
}

fn unavailable() -> WitError {
    WitError::Unsupported("this daemon has no Azure access configured".into())
}

impl HostState {
    fn azure_check(&self, credential: &str, method: &str, path: &str) -> Result<(), WitError> {
        self.policy
            .check(&Access::Azure(AzureAccess {
                credential,
                subscription: subscription_of(path),
                method: &method.to_ascii_uppercase(),
                path,
            }))
            .map_err(|d| WitError::Denied(d.message))
    }
}

impl Host for HostState {
    async fn request(
        &mut self,
        request: ArmRequest,
    ) -> wasmtime::Result<Result<ArmResponse, WitError>> {
        let started = Instant::now();
        let subject = format!("{}:{}", request.credential, request.path);
        // Decide before anything is sent; the await below holds no borrow
        // of the (not `Sync`) call state.
        let ready = self
            .azure_check(&request.credential, &request.method, &request.path)
            .and_then(|()| self.azure.clone().ok_or_else(unavailable));
        let result = match ready {
            Err(e) => Err(e),
            Ok(azure) => azure
                .request(
                    &request.credential,
                    &request.method,
                    &request.path,
                    &request.api_version,
                    request.body.as_deref(),
                )
                .await
                .map(|(status, body)| ArmResponse { status, body })
                .map_err(WitError::from),
        };
        record_audit(
            self,
            "azure",
            &request.method,
            &subject,
            Reach::Act,
            &result,
            started,
        );
        Ok(result)
    }

    async fn list_all(
        &mut self,
        credential: String,
        api_version: String,
        paths: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<Listing>, WitError>> {
        let Some(azure) = self.azure.clone() else {
            return Ok(Err(unavailable()));
        };
        if paths.len() > 10_000 {
            return Ok(Err(WitError::InvalidInput(format!(
                "{} paths in one list-all call: at most 10,000",
                paths.len()
            ))));
        }
        let started = Instant::now();
        // Decide every path first; only granted ones reach ARM.
        let checks: Vec<Result<(), WitError>> = paths
            .iter()
            .map(|p| self.azure_check(&credential, "GET", p))
            .collect();
        let allowed: Vec<String> = paths
            .iter()
            .zip(&checks)
            .filter(|(_, c)| c.is_ok())
            .map(|(p, _)| p.clone())
            .collect();
        let fetched = if allowed.is_empty() {
            Vec::new()
        } else {
            match azure.list_all(&credential, &api_version, &allowed).await {
                Ok(results) => results,
                Err(e) => {
                    let result = Err(WitError::from(e));
                    let subject = format!("{credential}:{} paths", paths.len());
                    record_audit(
                        self,
                        "azure",
                        "LIST",
                        &subject,
                        Reach::Act,
                        &result,
                        started,
                    );
                    return Ok(result);
                }
            }
        };
        let mut fetched = fetched.into_iter();
        let mut listings = Vec::with_capacity(paths.len());
        for (path, check) in paths.into_iter().zip(checks) {
            let items = match check {
                Err(denied) => Err(denied),
                Ok(()) => fetched
                    .next()
                    .unwrap_or_else(|| Err(AzureError::Internal("missing listing".into())))
                    .map_err(WitError::from),
            };
            let subject = format!("{credential}:{path}");
            record_audit(self, "azure", "LIST", &subject, Reach::Act, &items, started);
            listings.push(Listing { path, items });
        }
        Ok(Ok(listings))
    }

    async fn describe_credential(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<CredentialInfo, WitError>> {
        Ok(audited(
            self,
            "azure",
            "DESCRIBE",
            &name,
            Reach::Read,
            |s| {
                s.policy
                    .check(&Access::AzureCredential(&name))
                    .map_err(|d| WitError::Denied(d.message))?;
                let azure = s.azure.clone().ok_or_else(unavailable)?;
                let info = azure.describe(&name)?;
                Ok(CredentialInfo {
                    name: info.name,
                    kind: info.kind.as_str().to_string(),
                    cloud: info.cloud.name,
                    subscriptions: info.subscriptions,
                })
            },
        ))
    }
}
