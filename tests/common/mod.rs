//! Helpers shared by the integration tests: a plugin directory in a temp
//! dir, a registry over it, and render requests for the test guests.
#![allow(dead_code)]

pub mod azure;
pub mod daemon;
pub mod kube;
pub mod pss;

use drover::config::{Config, Overrides};
use drover::plugins::Registry;
use drover::runtime::bindings::import_manifests::exports::drover::plugin::manifests::{
    AgentSettings, Credentials, Manifest, Proxy, PullPolicy, Rbac, RenderRequest, TlsMode,
};
use drover::runtime::{Runtime, RuntimeOptions};
use drover::store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const ADVERSARY_LIMITS: &str = "[limits]\ncpu_ms = 500\nmemory_mib = 32\ntimeout_ms = 2000\n";

/// What the adversary says of itself; its manifest must say the same.
pub const ADVERSARY_DESCRIPTION: &str = "Misbehaves on request, for Drover's test suite";

pub fn adversary_manifest(version: &str) -> String {
    format!(
        "name = \"adversary\"\nversion = \"{version}\"\ndescription = \"{ADVERSARY_DESCRIPTION}\"\n{ADVERSARY_LIMITS}"
    )
}

/// The adversary's manifest (version 1.0.0) asking for `limits` (TOML lines
/// under `[limits]`) instead of the usual ones.
pub fn adversary_with_limits(limits: &str) -> String {
    format!(
        "name = \"adversary\"\nversion = \"1.0.0\"\ndescription = \"{ADVERSARY_DESCRIPTION}\"\n\
         [limits]\n{limits}"
    )
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: Arc<Config>,
}

impl Env {
    pub fn new() -> Env {
        Self::with_config("")
    }

    /// An environment whose operator config file has `config_text`.
    pub fn with_config(config_text: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config_text).unwrap();
        let data = dir.path().join("data");
        let config = Config::load(
            Some(&config_path),
            &Overrides {
                data_dir: Some(data.clone()),
                plugin_dir: Some(dir.path().join("plugins")),
                ..Default::default()
            },
        )
        .unwrap();
        std::fs::create_dir_all(&config.plugin_dir).unwrap();
        std::fs::create_dir_all(&config.data_dir).unwrap();
        Env {
            dir,
            config: Arc::new(config),
        }
    }

    pub fn plugin_dir(&self) -> &Path {
        &self.config.plugin_dir
    }

    pub fn store(&self) -> Store {
        Store::open(&self.config.data_dir.join("drover.db")).unwrap()
    }

    /// A registry (and runtime) over this environment's directories.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry_pooling(true)
    }

    /// Like [`registry`](Self::registry), with the pooling allocator or the
    /// on-demand one.
    pub fn registry_pooling(&self, pooling: bool) -> Arc<Registry> {
        let store = self.store();
        let runtime = Runtime::new(
            RuntimeOptions {
                pooling,
                ..RuntimeOptions::from_config(&self.config, drover::metrics::Metrics::new())
            },
            store.clone(),
            drover::host_api::link,
        )
        .unwrap();
        Arc::new(Registry::new(Arc::new(runtime), store, self.config.clone()))
    }

    /// [`install_plugin`] into this environment's plugin directory.
    pub fn install(&self, name: &str, wasm: &str, manifest: &str) {
        install_plugin(self.plugin_dir(), name, wasm, manifest);
    }

    pub fn write_wasm(&self, name: &str, bytes: &[u8]) {
        atomic_write(&self.plugin_dir().join(format!("{name}.wasm")), bytes);
    }

    pub fn write_manifest(&self, name: &str, text: &str) {
        atomic_write(
            &self.plugin_dir().join(format!("{name}.toml")),
            text.as_bytes(),
        );
    }
}

/// Write `<dir>/<name>.toml` and `<name>.wasm` (copied from `wasm`)
/// atomically (temp file, then rename), as a deployment tool would.
pub fn install_plugin(dir: &Path, name: &str, wasm: &str, manifest: &str) {
    atomic_write(&dir.join(format!("{name}.toml")), manifest.as_bytes());
    atomic_write(
        &dir.join(format!("{name}.wasm")),
        &std::fs::read(wasm).unwrap(),
    );
}

pub fn atomic_write(path: &Path, bytes: &[u8]) {
    let tmp: PathBuf = path.with_extension("partial");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Poll `f` every 10 ms until it returns `Some`, or panic after `limit`.
pub async fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A render request; the adversary guest reads its behaviour from
/// `cluster_name` and a parameter from `namespace`.
pub fn request(cluster_name: &str, namespace: &str) -> RenderRequest {
    RenderRequest {
        cluster_id: "c-0001".into(),
        cluster_name: cluster_name.into(),
        namespace: namespace.into(),
        rbac: Rbac::ClusterAdmin,
        credentials: Credentials {
            server_url: "https://drover.example.com:7600".into(),
            secret_name: "drover-credentials-0a1b2c3d".into(),
        },
        agent: AgentSettings {
            image: "registry.example.com/drover/agent:0.1.0".into(),
            pull_policy: PullPolicy::IfNotPresent,
            ca_checksum: None,
            tls_mode: TlsMode::Strict,
            proxy: Proxy {
                http_proxy: None,
                https_proxy: None,
                no_proxy: None,
            },
            image_pull_secrets: vec![],
            resources: None,
            tolerations: vec![],
            priority_class: None,
        },
    }
}

/// The adversary's report: (plugin version, body).
pub fn report(manifests: &[Manifest]) -> (String, String) {
    assert_eq!(manifests.len(), 1, "one report object");
    assert_eq!(manifests[0].kind, "Report");
    (manifests[0].name.clone(), manifests[0].body.clone())
}
