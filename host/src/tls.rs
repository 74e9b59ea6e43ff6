//! TLS for the API. Plain HTTP is allowed only on loopback. Beyond it the
//! daemon serves HTTPS with the operator's certificate (`[tls] cert`/`key`),
//! or, when none is given, with a server certificate signed by a CA it
//! generates on first start under `<data-dir>/tls/`. The CA's sha256
//! checksum (of its PEM file, as Rancher's `CATTLE_CA_CHECKSUM`) is what
//! agents pin; `drover ca` and `GET /v1/ca` show it.

use crate::config::{Config, create_private_dir, write_private_file};
use anyhow::{Context, Result, bail};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

/// How the API is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain HTTP on a loopback address.
    Plain,
    /// The operator's certificate.
    Operator,
    /// A certificate signed by the daemon's own CA.
    SelfSigned,
}

/// The API's TLS setup.
pub struct Tls {
    pub mode: TlsMode,
    pub server: Option<Arc<rustls::ServerConfig>>,
    /// PEM of the CA that signed the server certificate, when known.
    pub ca_pem: Option<String>,
}

impl Tls {
    /// sha256 (hex) of the CA's PEM.
    pub fn ca_checksum(&self) -> Option<String> {
        self.ca_pem
            .as_ref()
            .map(|pem| hex::encode(Sha256::digest(pem.as_bytes())))
    }
}

/// The one rustls crypto provider of the whole process.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

pub fn prepare(config: &Config) -> Result<Tls> {
    install_crypto_provider();
    if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
        let ca_pem = match &config.tls.ca {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read [tls] ca {}", path.display()))?,
            ),
            None => None,
        };
        let server = server_config(cert, key)?;
        return Ok(Tls {
            mode: TlsMode::Operator,
            server: Some(server),
            ca_pem,
        });
    }
    if config.tls.cert.is_some() != config.tls.key.is_some() {
        bail!("[tls] needs both `cert` and `key`, or neither");
    }
    if config.listen.ip().is_loopback() {
        return Ok(Tls {
            mode: TlsMode::Plain,
            server: None,
            ca_pem: None,
        });
    }
    let dir = config.data_dir.join("tls");
    let ca_pem = ensure_self_signed(&dir, config)?;
    let server = server_config(&dir.join("server.pem"), &dir.join("server.key"))?;
    Ok(Tls {
        mode: TlsMode::SelfSigned,
        server: Some(server),
        ca_pem: Some(ca_pem),
    })
}

fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a PEM private key from {}", key.display()))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the certificate and key do not form a usable pair")?;
    Ok(Arc::new(config))
}

fn ca_params() -> Result<CertificateParams> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, "Drover CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "Drover");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = rcgen::date_time_ymd(2024, 1, 1);
    ca.not_after = rcgen::date_time_ymd(2036, 1, 1);
    Ok(ca)
}

/// Create the CA (first start) and the server certificate (first start, or
/// after the operator deleted `server.pem`/`server.key` to change names);
/// returns the CA PEM. An existing CA is kept, so its checksum stays valid.
fn ensure_self_signed(dir: &Path, config: &Config) -> Result<String> {
    let ca_path = dir.join("ca.pem");
    let ca_key_path = dir.join("ca.key");
    if ca_path.exists() && dir.join("server.pem").exists() && dir.join("server.key").exists() {
        return std::fs::read_to_string(&ca_path)
            .with_context(|| format!("cannot read {}", ca_path.display()));
    }
    create_private_dir(dir)?;
    let (ca_pem, issuer) = if ca_path.exists() && ca_key_path.exists() {
        let pem = std::fs::read_to_string(&ca_path)
            .with_context(|| format!("cannot read {}", ca_path.display()))?;
        let key_pem = std::fs::read_to_string(&ca_key_path)
            .with_context(|| format!("cannot read {}", ca_key_path.display()))?;
        let key = KeyPair::from_pem(&key_pem)
            .with_context(|| format!("{} is not a usable key", ca_key_path.display()))?;
        // The same subject and key as the stored CA: what a server
        // certificate's issuer name and authority key id are made of.
        (pem, Issuer::new(ca_params()?, key))
    } else {
        let ca_key = KeyPair::generate().context("cannot generate the CA key")?;
        let ca = ca_params()?;
        let pem = ca.self_signed(&ca_key)?.pem();
        write_private_file(&ca_key_path, ca_key.serialize_pem().as_bytes())?;
        write_private_file(&ca_path, pem.as_bytes())?;
        (pem, Issuer::new(ca, ca_key))
    };

    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into()];
    names.extend(config.tls.names.iter().cloned());
    let ip = config.listen.ip();
    if !ip.is_unspecified() {
        names.push(ip.to_string());
    }
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_string());
        }
    }
    names.dedup();
    let server_key = KeyPair::generate()?;
    let mut server = CertificateParams::new(names.clone())?;
    server.distinguished_name.push(DnType::CommonName, "drover");
    server.not_before = rcgen::date_time_ymd(2024, 1, 1);
    server.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let server_cert = server.signed_by(&server_key, &issuer)?;
    write_private_file(
        &dir.join("server.key"),
        server_key.serialize_pem().as_bytes(),
    )?;
    write_private_file(&dir.join("server.pem"), server_cert.pem().as_bytes())?;
    tracing::info!(
        dir = %dir.display(),
        names = ?names,
        "created the API's server certificate; agents pin its CA by the CA's checksum"
    );
    Ok(ca_pem)
}
