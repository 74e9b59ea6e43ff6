//! `/v1/credentials`: stored credentials. Secrets go in; they never come out.

use super::AppState;
use super::error::{ApiError, ErrorBody, Json, Path};
use crate::secrets::credentials::{
    CredentialError, CredentialFields, CredentialKind, CredentialView,
};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> ApiError {
        match e {
            CredentialError::Invalid(m) => ApiError::invalid(m),
            CredentialError::Exists(_) => ApiError::conflict(e.to_string()),
            CredentialError::NotFound(_) => ApiError::not_found(e.to_string()),
            CredentialError::Conflict(m) => ApiError::conflict(m),
            CredentialError::Internal(e) => ApiError::internal(e),
        }
    }
}

/// A credential to store: its fields depend on its `kind`. (What the OpenAPI
/// document shows; requests are read as [`CredentialCreate::parse`] says.)
#[derive(Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
#[schema(as = CredentialCreate)]
#[allow(
    dead_code,
    reason = "it describes the request in the OpenAPI document; requests are read by \
              CredentialCreate::parse, which a test holds to this description"
)]
pub enum CredentialCreateDoc {
    /// An Entra application's client secret.
    AzureClientSecret {
        #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
        name: String,
        /// The Entra tenant id.
        #[schema(pattern = r"[^ \t\n\r\x0b\x0c]")]
        tenant_id: String,
        /// The application (client) id.
        #[schema(pattern = r"[^ \t\n\r\x0b\x0c]")]
        client_id: String,
        /// Subscriptions to use; empty means all the credential can see.
        #[serde(default)]
        subscriptions: Vec<String>,
        /// Cloud name, e.g. AzurePublicCloud (the default).
        #[serde(default)]
        cloud: Option<String>,
        /// The client secret. Stored encrypted; never returned.
        #[schema(pattern = r"[^ \t\n\r\x0b\x0c]")]
        secret: String,
    },
    /// The daemon host's own Azure identity (environment, workload or
    /// managed identity, Azure CLI); no secret is stored.
    AzureDefault {
        #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
        name: String,
        #[serde(default)]
        subscriptions: Vec<String>,
        #[serde(default)]
        cloud: Option<String>,
    },
    /// A kubeconfig document.
    Kubeconfig {
        #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
        name: String,
        /// The context to use; the current context when unset.
        #[serde(default)]
        context: Option<String>,
        /// The kubeconfig. Stored encrypted; never returned.
        #[schema(pattern = r"[^ \t\n\r\x0b\x0c]")]
        secret: String,
    },
    /// An SSH private key.
    SshKey {
        #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
        name: String,
        /// The remote user.
        #[schema(pattern = r"[^ \t\n\r\x0b\x0c]")]
        user: String,
        /// The private key. Stored encrypted; never returned.
        #[schema(pattern = r"[^ \t\n\r\x0b\x0c]")]
        secret: String,
        /// The key's passphrase.
        #[serde(default)]
        passphrase: Option<String>,
    },
}

/// A credential to store, read field by field once its kind is known: a
/// field its kind does not take is refused even when it is `null`, as the
/// document's closed variants say.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialCreate {
    name: String,
    kind: CredentialKind,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    subscriptions: Vec<String>,
    #[serde(default)]
    cloud: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    passphrase: Option<String>,
}

impl CredentialCreate {
    pub fn parse(body: serde_json::Value) -> Result<CredentialCreate, ApiError> {
        let serde_json::Value::Object(map) = &body else {
            return Err(ApiError::invalid("a credential is a JSON object"));
        };
        let kind: CredentialKind = crate::wire::from_value(
            map.get("kind")
                .cloned()
                .ok_or_else(|| ApiError::invalid("missing field `kind`"))?,
        )
        .map_err(|e| ApiError::invalid(format!("kind: {e}")))?;
        if let Some(field) = map
            .keys()
            .find(|k| k.as_str() != "kind" && !kind.fields().contains(&k.as_str()))
        {
            return Err(ApiError::invalid(format!(
                "`{}` does not apply to a {} credential: it takes {}",
                crate::text::one_line(field, 64),
                kind.as_str(),
                kind.fields().join(", ")
            )));
        }
        super::error::read_body(body)
    }

    /// Name, kind, fields, secret and passphrase, as the store takes them.
    fn into_parts(
        self,
    ) -> (
        String,
        CredentialKind,
        CredentialFields,
        Option<String>,
        Option<String>,
    ) {
        let fields = CredentialFields {
            tenant_id: self.tenant_id,
            client_id: self.client_id,
            subscriptions: self.subscriptions,
            cloud: self.cloud,
            user: self.user,
            context: self.context,
        };
        (self.name, self.kind, fields, self.secret, self.passphrase)
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialRotate {
    #[schema(pattern = r"[^ \t\n\r\x0b\x0c]")]
    pub secret: String,
    #[serde(default)]
    pub passphrase: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CredentialList {
    pub credentials: Vec<CredentialView>,
}

/// Store a credential. Admin only.
#[utoipa::path(post, path = "/v1/credentials", tag = "credentials", security(("bearer" = [])),
    request_body = CredentialCreateDoc,
    responses(
        (status = 201, body = CredentialView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<serde_json::Value>,
) -> Result<(StatusCode, Json<CredentialView>), ApiError> {
    let (name, kind, fields, secret, passphrase) = CredentialCreate::parse(body)?.into_parts();
    let view = state.credentials.add(
        &name,
        kind,
        fields,
        secret.as_deref(),
        passphrase.as_deref(),
    )?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// List credentials (metadata only).
#[utoipa::path(get, path = "/v1/credentials", tag = "credentials", security(("bearer" = [])), responses(
    (status = 200, body = CredentialList), (status = 401, body = ErrorBody),
))]
pub async fn list(State(state): State<AppState>) -> Result<Json<CredentialList>, ApiError> {
    Ok(Json(CredentialList {
        credentials: state.credentials.list()?,
    }))
}

/// One credential (metadata only).
#[utoipa::path(get, path = "/v1/credentials/{name}", tag = "credentials", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses(
        (status = 200, body = CredentialView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<CredentialView>, ApiError> {
    Ok(Json(state.credentials.get(&name)?))
}

/// Replace a credential's secret. Admin only.
#[utoipa::path(post, path = "/v1/credentials/{name}/rotate", tag = "credentials", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = CredentialRotate,
    responses(
        (status = 200, body = CredentialView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn rotate(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(req): Json<CredentialRotate>,
) -> Result<Json<CredentialView>, ApiError> {
    Ok(Json(state.credentials.rotate(
        &name,
        &req.secret,
        req.passphrase.as_deref(),
    )?))
}

/// Remove a credential. Admin only.
#[utoipa::path(delete, path = "/v1/credentials/{name}", tag = "credentials", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "removed"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.credentials.remove(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document's variants take exactly the fields the server lets
    /// each kind take.
    #[test]
    fn the_document_and_the_parser_agree_on_each_kinds_fields() {
        let doc = serde_json::to_value(crate::api::openapi()).unwrap();
        let variants = doc["components"]["schemas"]["CredentialCreate"]["oneOf"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(variants.len(), 4);
        for v in variants {
            assert_eq!(v["additionalProperties"], false, "{v}");
            let kind: CredentialKind =
                serde_json::from_value(v["properties"]["kind"]["enum"][0].clone()).unwrap();
            let mut documented: Vec<&str> = v["properties"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "kind")
                .collect();
            documented.sort_unstable();
            let mut taken = kind.fields().to_vec();
            taken.sort_unstable();
            assert_eq!(documented, taken, "{}", kind.as_str());
        }
    }

    #[test]
    fn a_field_of_another_kind_is_refused_even_when_null() {
        let body = serde_json::json!({
            "kind": "azure-default", "name": "host", "secret": null,
        });
        let e = CredentialCreate::parse(body).err().unwrap();
        assert!(
            e.message.contains("`secret` does not apply"),
            "{}",
            e.message
        );
        let e = CredentialCreate::parse(serde_json::json!({ "kind": 0, "name": "x" }))
            .err()
            .unwrap();
        assert!(e.message.contains("kind"), "{}", e.message);
    }
}
