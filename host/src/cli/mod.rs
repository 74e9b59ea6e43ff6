//! The `drover` command line. `serve` runs the daemon; every other command
//! is a client of its API, except `plugin check`, which works offline.

mod aks;
mod audit;
mod client;
mod cluster;
mod credential;
mod op;
mod plugin;
mod serve;
mod table;
mod token;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "drover",
    version,
    about = "Brings Kubernetes clusters under central management through sandboxed WebAssembly plugins",
    long_about = "Brings Kubernetes clusters under central management through sandboxed \
WebAssembly plugins.\n\n`drover serve` runs the daemon; the other commands talk to a running \
daemon through its API (found through the local data directory, or --server/--token)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: load plugins from the plugin directory, watch it, serve the API.
    Serve(ServeArgs),
    /// Inspect and check plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Store and manage credentials (Azure, kubeconfig, SSH); secrets never leave the daemon.
    #[command(subcommand)]
    Credential(credential::CredentialCommand),
    /// Follow, retry and cancel durable operations.
    #[command(subcommand)]
    Op(op::OpCommand),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Read the audit log: plugin host calls and API mutations.
    Audit(audit::AuditArgs),
    /// Show how the API is served and the CA checksum agents pin.
    Ca(ClientArgs),
    /// Discover AKS clusters, read the inventory, check credentials, look up versions and sizes.
    #[command(subcommand)]
    Aks(aks::AksCommand),
    /// Add, list, show and remove clusters imported with an agent.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Print a cluster's import command; list and revoke registration tokens.
    #[command(subcommand)]
    Import(cluster::ImportCommand),
    /// Run the agent inside an imported cluster (what the import manifests' Deployment runs).
    Agent(AgentArgs),
}

/// The agent's settings; the import manifests set the environment variables.
#[derive(Args)]
pub struct AgentArgs {
    /// The Drover server's URL.
    #[arg(long, env = "DROVER_SERVER")]
    server: String,
    /// File holding the registration token: the credentials Secret's `token`
    /// key, which the import manifests mount read-only.
    #[arg(long, env = "DROVER_TOKEN_FILE", conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// The registration token itself (prefer --token-file: an environment
    /// variable is visible to more than a mounted file).
    #[arg(long, env = "DROVER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The cluster's Drover id.
    #[arg(long, env = "DROVER_CLUSTER_ID")]
    cluster_id: String,
    /// sha256 of the server's CA certificate (PEM); the agent refuses a server whose CA differs.
    #[arg(long, env = "DROVER_CA_CHECKSUM")]
    ca_checksum: Option<String>,
    /// strict (only the checksummed CA), system-store or insecure. Default:
    /// strict with a CA checksum, system-store without.
    #[arg(long, value_enum, env = "DROVER_TLS_MODE")]
    tls_mode: Option<crate::imports::AgentTlsMode>,
    /// Read the cluster through this kubeconfig instead of the pod's service account.
    #[arg(long, env = "DROVER_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Address for /healthz and /readyz.
    #[arg(long, env = "DROVER_AGENT_LISTEN", default_value = "0.0.0.0:8443")]
    health_listen: SocketAddr,
    /// Longest wait between attempts while the server is unreachable.
    #[arg(long, env = "DROVER_MAX_BACKOFF", default_value = "60s", value_parser = humantime::parse_duration)]
    max_backoff: std::time::Duration,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, env = "DROVER_LOG_FORMAT")]
    log_format: LogFormat,
}

async fn agent(args: AgentArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    serve::init_tracing(args.log_format);
    let token = match (&args.token_file, args.token) {
        (Some(path), _) => {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the token file {}", path.display()))?,
            );
            zeroize::Zeroizing::new(text.trim().to_string())
        }
        (None, Some(token)) => zeroize::Zeroizing::new(token),
        (None, None) => anyhow::bail!(
            "no registration token: set DROVER_TOKEN_FILE to the file the import manifests \
             mount from the credentials Secret (or DROVER_TOKEN)"
        ),
    };
    crate::agent::run(crate::agent::AgentSettings {
        server: args.server.trim_end_matches('/').to_string(),
        token,
        cluster_id: args.cluster_id,
        ca_checksum: args.ca_checksum.filter(|s| !s.is_empty()),
        tls_mode: args.tls_mode,
        kubeconfig: args.kubeconfig,
        health_listen: Some(args.health_listen),
        max_backoff: args.max_backoff.max(std::time::Duration::from_secs(1)),
    })
    .await
}

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// Daemon state: database, admin token, compile cache. Default:
    /// $XDG_DATA_HOME/drover or ~/.local/share/drover.
    #[arg(long, env = "DROVER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Directory of plugins (<name>.wasm + <name>.toml), watched for changes.
    /// Default: <data-dir>/plugins.
    #[arg(long, env = "DROVER_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,
    /// Address to listen on. Default: 127.0.0.1:7600.
    #[arg(long, env = "DROVER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain for the API (with --tls-key). Without one, a
    /// daemon listening beyond loopback creates its own CA and certificate.
    #[arg(long, env = "DROVER_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "DROVER_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// The URL agents in imported clusters dial, when it differs from the
    /// listen address (a load balancer, a DNS name). Default: [import]
    /// server_url, else the daemon's own URL.
    #[arg(long, env = "DROVER_SERVER_URL")]
    pub server_url: Option<String>,
    /// Operator config (TOML): limits and per-plugin grants.
    #[arg(long, env = "DROVER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, env = "DROVER_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum Output {
    #[default]
    Table,
    Json,
}

impl Output {
    /// Print `value` as pretty JSON for `-o json`, else run `table`, which prints it for people.
    pub fn print<T: serde::Serialize + ?Sized>(
        self,
        value: &T,
        table: impl FnOnce(),
    ) -> anyhow::Result<()> {
        match self {
            Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
            Output::Table => table(),
        }
        Ok(())
    }
}

/// How a client command finds the daemon.
#[derive(Args, Clone)]
pub struct ClientArgs {
    /// The daemon's URL. Default: the one the local daemon recorded in its data directory.
    #[arg(long, env = "DROVER_SERVER", global = true)]
    pub server: Option<String>,
    /// API token. Default: the admin token in the local data directory.
    #[arg(long, env = "DROVER_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// The local daemon's data directory (to find its URL and admin token).
    #[arg(long, env = "DROVER_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// CA certificate (PEM) to trust for the daemon's HTTPS. Default: the local
    /// daemon's CA (its own, or the operator's `[tls] ca`), and the system's roots.
    #[arg(long, env = "DROVER_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// How long to wait for the daemon's answer to one request.
    #[arg(long, env = "DROVER_TIMEOUT", global = true, default_value = "2m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// Output format.
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value_t,
        global = true
    )]
    pub output: Output,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// List plugins with version, capability, status, sha256 and load time.
    Ls(ClientArgs),
    /// Check a plugin offline: print what it is and whether this daemon would load it.
    Check(plugin::CheckArgs),
}

async fn ca(args: ClientArgs) -> anyhow::Result<()> {
    let api = client::Client::from_args(&args)?;
    let ca: serde_json::Value = api.get("/v1/ca").await?;
    args.output.print(&ca, || {
        println!("mode         {}", ca["mode"].as_str().unwrap_or("-"));
        println!(
            "ca checksum  {}",
            ca["ca_checksum"].as_str().unwrap_or("- (no CA published)")
        );
        if let Some(pem) = ca["ca_pem"].as_str() {
            print!("{pem}");
        }
    })
}

/// Run the CLI; the process exits with the returned code.
pub fn main() -> ExitCode {
    crate::tls::install_crypto_provider();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Plugin(PluginCommand::Ls(args)) => plugin::ls(args).await,
            Command::Plugin(PluginCommand::Check(args)) => plugin::check(args).await,
            Command::Credential(cmd) => credential::run(cmd).await.map(|()| ExitCode::SUCCESS),
            Command::Op(cmd) => op::run(cmd).await,
            Command::Token(cmd) => token::run(cmd).await.map(|()| ExitCode::SUCCESS),
            Command::Audit(args) => audit::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::Ca(args) => ca(args).await.map(|()| ExitCode::SUCCESS),
            Command::Aks(cmd) => aks::run(cmd).await.map(|()| ExitCode::SUCCESS),
            Command::Cluster(cmd) => cluster::run_cluster(cmd).await.map(|()| ExitCode::SUCCESS),
            Command::Import(cmd) => cluster::run_import(cmd).await.map(|()| ExitCode::SUCCESS),
            Command::Agent(args) => agent(args).await.map(|()| ExitCode::SUCCESS),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // The chain often carries what the daemon, a plugin or Azure said.
            eprintln!("error: {}", crate::text::escape_control(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
