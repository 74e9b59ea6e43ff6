//! Stored credentials: what each kind holds, validation, and sealing. The
//! secret part is sealed by the [`Vault`] before it is stored and is never
//! returned by the API, logged, audited or passed to a plugin; plugins name a
//! credential and the host attaches its secret.

use super::Vault;
use crate::store::{CredentialRow, Store};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// The kinds of credential Drover stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    /// An Entra ID service principal: tenant, client id, client secret.
    AzureClientSecret,
    /// The daemon host's own Azure credential chain (no secret stored).
    AzureDefault,
    /// A kubeconfig document (the secret).
    Kubeconfig,
    /// An SSH user and private key, with an optional passphrase.
    SshKey,
}

impl CredentialKind {
    /// The request fields a credential of this kind takes (besides `kind`).
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            CredentialKind::AzureClientSecret => &[
                "name",
                "tenant_id",
                "client_id",
                "subscriptions",
                "cloud",
                "secret",
            ],
            CredentialKind::AzureDefault => &["name", "subscriptions", "cloud"],
            CredentialKind::Kubeconfig => &["name", "context", "secret"],
            CredentialKind::SshKey => &["name", "user", "secret", "passphrase"],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::AzureClientSecret => "azure-client-secret",
            CredentialKind::AzureDefault => "azure-default",
            CredentialKind::Kubeconfig => "kubeconfig",
            CredentialKind::SshKey => "ssh-key",
        }
    }

    fn parse(s: &str) -> Option<CredentialKind> {
        [
            CredentialKind::AzureClientSecret,
            CredentialKind::AzureDefault,
            CredentialKind::Kubeconfig,
            CredentialKind::SshKey,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    fn has_secret(self) -> bool {
        self != CredentialKind::AzureDefault
    }
}

/// Non-secret fields; which apply depends on the kind. (Requests that set
/// them reject unknown fields; see the API's `CredentialCreate`.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CredentialFields {
    /// azure-client-secret: the Entra tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// azure-client-secret: the application (client) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// azure-*: subscriptions to use; empty means all the credential can see.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<String>,
    /// azure-*: cloud name, e.g. AzurePublicCloud (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
    /// ssh-key: the remote user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// kubeconfig: the context to use; the current context when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// The secret part, sealed as one JSON document.
#[derive(Serialize, Deserialize)]
struct SecretPart {
    secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    passphrase: Option<String>,
}

/// A credential as the API and CLI show it: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CredentialView {
    pub name: String,
    pub kind: CredentialKind,
    #[serde(flatten)]
    pub fields: CredentialFields,
    /// Whether a secret is stored (always, except for azure-default).
    pub has_secret: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last rotation.
    pub rotated_at: Option<i64>,
}

/// Why a credential request was refused.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{0}")]
    Invalid(String),
    #[error("credential {0:?} already exists: rotate its secret, or remove it first")]
    Exists(String),
    #[error("no credential named {0:?}")]
    NotFound(String),
    /// What was asked does not fit the stored credential (its kind).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn owner(name: &str) -> String {
    format!("credential:{name}")
}

fn validate_name(name: &str) -> Result<(), CredentialError> {
    if crate::config::is_valid_object_name(name) {
        Ok(())
    } else {
        Err(CredentialError::Invalid(format!(
            "{name:?} is not a valid credential name: use 1-64 letters, digits, '-', '_' or '.'"
        )))
    }
}

fn validate(
    kind: CredentialKind,
    f: &CredentialFields,
    secret: Option<&str>,
) -> Result<(), CredentialError> {
    let invalid = |m: String| Err(CredentialError::Invalid(m));
    let need = |field: &str, v: &Option<String>| -> Result<(), CredentialError> {
        match v.as_deref() {
            Some(s) if crate::text::has_text(s) => Ok(()),
            _ => Err(CredentialError::Invalid(format!(
                "a {} credential needs `{field}`",
                kind.as_str()
            ))),
        }
    };
    let forbid = |field: &str, present: bool| -> Result<(), CredentialError> {
        if present {
            Err(CredentialError::Invalid(format!(
                "`{field}` does not apply to a {} credential",
                kind.as_str()
            )))
        } else {
            Ok(())
        }
    };
    match kind {
        CredentialKind::AzureClientSecret => {
            need("tenant_id", &f.tenant_id)?;
            need("client_id", &f.client_id)?;
            forbid("user", f.user.is_some())?;
            forbid("context", f.context.is_some())?;
        }
        CredentialKind::AzureDefault => {
            forbid("tenant_id", f.tenant_id.is_some())?;
            forbid("client_id", f.client_id.is_some())?;
            forbid("user", f.user.is_some())?;
            forbid("context", f.context.is_some())?;
        }
        CredentialKind::Kubeconfig => {
            forbid("tenant_id", f.tenant_id.is_some())?;
            forbid("client_id", f.client_id.is_some())?;
            forbid("subscriptions", !f.subscriptions.is_empty())?;
            forbid("cloud", f.cloud.is_some())?;
            forbid("user", f.user.is_some())?;
        }
        CredentialKind::SshKey => {
            need("user", &f.user)?;
            forbid("tenant_id", f.tenant_id.is_some())?;
            forbid("client_id", f.client_id.is_some())?;
            forbid("subscriptions", !f.subscriptions.is_empty())?;
            forbid("cloud", f.cloud.is_some())?;
            forbid("context", f.context.is_some())?;
        }
    }
    match (kind.has_secret(), secret) {
        (true, None) => invalid(format!(
            "a {} credential needs a secret (the CLI reads it from --secret-stdin, \
             --secret-file or --secret-env, never from the command line)",
            kind.as_str()
        )),
        (true, Some(s)) if !crate::text::has_text(s) => invalid("the secret is empty".into()),
        (false, Some(_)) => invalid(format!("a {} credential stores no secret", kind.as_str())),
        _ => Ok(()),
    }
}

fn view(row: &CredentialRow) -> Result<CredentialView> {
    let kind = CredentialKind::parse(&row.kind)
        .with_context(|| format!("credential {:?} has unknown kind {:?}", row.name, row.kind))?;
    let fields: CredentialFields = serde_json::from_str(&row.metadata)
        .with_context(|| format!("credential {:?} has unreadable metadata", row.name))?;
    Ok(CredentialView {
        name: row.name.clone(),
        kind,
        fields,
        has_secret: row.sealed.is_some(),
        created_at: row.created_at,
        rotated_at: row.rotated_at,
    })
}

/// Credential storage over the database and the vault.
#[derive(Clone)]
pub struct Credentials {
    store: Store,
    vault: std::sync::Arc<Vault>,
}

impl Credentials {
    pub fn new(store: Store, vault: std::sync::Arc<Vault>) -> Credentials {
        Credentials { store, vault }
    }

    pub fn add(
        &self,
        name: &str,
        kind: CredentialKind,
        fields: CredentialFields,
        secret: Option<&str>,
        passphrase: Option<&str>,
    ) -> Result<CredentialView, CredentialError> {
        validate_name(name)?;
        validate(kind, &fields, secret)?;
        if passphrase.is_some() && kind != CredentialKind::SshKey {
            return Err(CredentialError::Invalid(
                "only ssh-key credentials take a passphrase".into(),
            ));
        }
        let sealed = match secret {
            Some(secret) => Some(self.seal(name, secret, passphrase)?),
            None => None,
        };
        let metadata = serde_json::to_string(&fields).map_err(anyhow::Error::from)?;
        if !self
            .store
            .credential_insert(name, kind.as_str(), &metadata, sealed.as_deref())?
        {
            return Err(CredentialError::Exists(name.into()));
        }
        self.get(name)
    }

    fn seal(&self, name: &str, secret: &str, passphrase: Option<&str>) -> Result<Vec<u8>> {
        let doc = Zeroizing::new(serde_json::to_vec(&SecretPart {
            secret: secret.to_string(),
            passphrase: passphrase.map(str::to_string),
        })?);
        self.vault.seal(&doc, &owner(name))
    }

    pub fn get(&self, name: &str) -> Result<CredentialView, CredentialError> {
        let row = self
            .store
            .credential(name)?
            .ok_or_else(|| CredentialError::NotFound(name.into()))?;
        Ok(view(&row)?)
    }

    pub fn list(&self) -> Result<Vec<CredentialView>, CredentialError> {
        Ok(self
            .store
            .credentials()?
            .iter()
            .map(view)
            .collect::<Result<Vec<_>>>()?)
    }

    pub fn rotate(
        &self,
        name: &str,
        secret: &str,
        passphrase: Option<&str>,
    ) -> Result<CredentialView, CredentialError> {
        let current = self.get(name)?;
        // What the stored credential's kind allows is a matter of its
        // state, not of the request's shape: a conflict.
        if !current.kind.has_secret() {
            return Err(CredentialError::Conflict(format!(
                "credential {name:?} is of kind {}, which stores no secret to rotate",
                current.kind.as_str()
            )));
        }
        if passphrase.is_some() && current.kind != CredentialKind::SshKey {
            return Err(CredentialError::Conflict(format!(
                "credential {name:?} is of kind {}: only ssh-key credentials take a passphrase",
                current.kind.as_str()
            )));
        }
        validate(current.kind, &current.fields, Some(secret))?;
        let sealed = self.seal(name, secret, passphrase)?;
        if !self.store.credential_rotate(name, &sealed)? {
            return Err(CredentialError::NotFound(name.into()));
        }
        self.get(name)
    }

    pub fn remove(&self, name: &str) -> Result<(), CredentialError> {
        if self.store.credential_delete(name)? {
            Ok(())
        } else {
            Err(CredentialError::NotFound(name.into()))
        }
    }

    /// The secret and passphrase, for host interfaces that attach them to an
    /// upstream request. Never hand these to a plugin.
    pub fn reveal(
        &self,
        name: &str,
    ) -> Result<(Zeroizing<String>, Option<Zeroizing<String>>), CredentialError> {
        let row = self
            .store
            .credential(name)?
            .ok_or_else(|| CredentialError::NotFound(name.into()))?;
        let sealed = row.sealed.ok_or_else(|| {
            CredentialError::Invalid(format!("credential {name:?} stores no secret"))
        })?;
        let plain = self.vault.open_sealed(&sealed, &owner(name))?;
        let part: SecretPart = serde_json::from_slice(&plain).map_err(|_| {
            CredentialError::Internal(anyhow::anyhow!(
                "credential {name:?}: sealed secret is malformed"
            ))
        })?;
        Ok((
            Zeroizing::new(part.secret),
            part.passphrase.map(Zeroizing::new),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        let store = Store::open(std::path::Path::new(":memory:")).unwrap();
        Credentials::new(store, std::sync::Arc::new(Vault::from_key(&[3; 32])))
    }

    fn azure() -> CredentialFields {
        CredentialFields {
            tenant_id: Some("t".into()),
            client_id: Some("c".into()),
            subscriptions: vec!["s1".into()],
            ..Default::default()
        }
    }

    #[test]
    fn add_show_rotate_reveal_remove() {
        let c = creds();
        let v = c
            .add(
                "prod",
                CredentialKind::AzureClientSecret,
                azure(),
                Some("s3cret-A"),
                None,
            )
            .unwrap();
        assert!(v.has_secret);
        assert_eq!(v.fields.subscriptions, vec!["s1"]);
        let json = serde_json::to_string(&c.list().unwrap()).unwrap();
        assert!(!json.contains("s3cret"), "{json}");
        assert_eq!(&*c.reveal("prod").unwrap().0, "s3cret-A");
        let v = c.rotate("prod", "s3cret-B", None).unwrap();
        assert!(v.rotated_at.is_some());
        assert_eq!(&*c.reveal("prod").unwrap().0, "s3cret-B");
        assert!(matches!(
            c.add(
                "prod",
                CredentialKind::AzureClientSecret,
                azure(),
                Some("x"),
                None
            ),
            Err(CredentialError::Exists(_))
        ));
        c.remove("prod").unwrap();
        assert!(matches!(c.get("prod"), Err(CredentialError::NotFound(_))));
    }

    #[test]
    fn each_kind_validates_its_fields() {
        let c = creds();
        let err = |r: Result<CredentialView, CredentialError>| r.unwrap_err().to_string();
        assert!(
            err(c.add(
                "a",
                CredentialKind::AzureClientSecret,
                CredentialFields::default(),
                Some("x"),
                None
            ))
            .contains("tenant_id")
        );
        assert!(
            err(c.add("a", CredentialKind::AzureClientSecret, azure(), None, None))
                .contains("needs a secret")
        );
        assert!(
            err(c.add(
                "a",
                CredentialKind::AzureDefault,
                CredentialFields::default(),
                Some("x"),
                None
            ))
            .contains("stores no secret")
        );
        assert!(
            err(c.add(
                "a",
                CredentialKind::SshKey,
                CredentialFields::default(),
                Some("k"),
                None
            ))
            .contains("`user`")
        );
        assert!(
            err(c.add("a", CredentialKind::Kubeconfig, azure(), Some("k"), None))
                .contains("does not apply")
        );
        assert!(
            err(c.add(
                "bad name",
                CredentialKind::Kubeconfig,
                CredentialFields::default(),
                Some("k"),
                None
            ))
            .contains("not a valid credential name")
        );
        assert!(
            err(c.add(
                "a",
                CredentialKind::Kubeconfig,
                CredentialFields::default(),
                Some("k"),
                Some("p")
            ))
            .contains("passphrase")
        );
        let ssh = CredentialFields {
            user: Some("ops".into()),
            ..Default::default()
        };
        c.add(
            "n1",
            CredentialKind::SshKey,
            ssh,
            Some("-----BEGIN KEY-----"),
            Some("pw"),
        )
        .unwrap();
        let (key, pass) = c.reveal("n1").unwrap();
        assert_eq!(
            (key.as_str(), pass.as_deref().map(|p| p.as_str())),
            ("-----BEGIN KEY-----", Some("pw"))
        );
        c.add(
            "host",
            CredentialKind::AzureDefault,
            CredentialFields::default(),
            None,
            None,
        )
        .unwrap();
        assert!(!c.get("host").unwrap().has_secret);
    }
}
