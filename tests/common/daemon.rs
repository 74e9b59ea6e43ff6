//! The real `drover` binary as a child process, for end-to-end tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const DROVER: &str = env!("CARGO_BIN_EXE_drover");

pub struct Daemon {
    pub child: Child,
    pub home: PathBuf,
    pub url: String,
}

impl Daemon {
    /// `drover serve` with no flags but a free port, in a private HOME.
    pub fn start(home: &Path) -> Daemon {
        Self::start_logging(home, None)
    }

    /// Like [`start`](Self::start), appending the daemon's log to `log`.
    pub fn start_logging(home: &Path, log: Option<&Path>) -> Daemon {
        Self::start_with(home, &["--listen", "127.0.0.1:0"], log)
    }

    /// `drover serve ARGS…` in a private HOME.
    pub fn start_with(home: &Path, args: &[&str], log: Option<&Path>) -> Daemon {
        Self::start_with_env(home, args, log, &[])
    }

    /// `drover serve --listen LISTEN --config <home>/drover.toml`, that file
    /// holding `config`.
    pub fn start_configured(home: &Path, listen: &str, config: &str, log: Option<&Path>) -> Daemon {
        let path = home.join("drover.toml");
        std::fs::write(&path, config).unwrap();
        Self::start_with(
            home,
            &["--listen", listen, "--config", path.to_str().unwrap()],
            log,
        )
    }

    /// Like [`start_with`](Self::start_with), with extra environment variables.
    pub fn start_with_env(
        home: &Path,
        args: &[&str],
        log: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Daemon {
        // This test process talks HTTPS too, with the daemon's crypto provider.
        drover::tls::install_crypto_provider();
        let stderr = match log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap(),
            ),
            None => Stdio::null(),
        };
        let mut child = Command::new(DROVER)
            .arg("serve")
            .args(args)
            .env_clear()
            .env("HOME", home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DROVER_LOG", "debug,wasmtime=warn,cranelift=warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines
            .next()
            .expect("serve prints where it listens")
            .unwrap();
        let url = first
            .strip_prefix("drover listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        // Keep draining stdout so the daemon never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Daemon {
            child,
            home: home.to_path_buf(),
            url,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.home.join(".local/share/drover")
    }

    pub fn plugin_dir(&self) -> PathBuf {
        self.data_dir().join("plugins")
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("admin-token"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// Run a client command against this daemon, as its user would.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(DROVER)
            .args(args)
            .env_clear()
            .env("HOME", &self.home)
            .output()
            .unwrap()
    }

    /// A client command with `-o json` that must succeed; its output parsed.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.cli(&all);
        assert!(
            out.status.success(),
            "drover {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn plugins(&self) -> Vec<serde_json::Value> {
        let out = self.cli(&["plugin", "ls", "-o", "json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn plugin(&self, name: &str) -> Option<serde_json::Value> {
        self.plugins().into_iter().find(|p| p["name"] == name)
    }

    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as i32;
        // SIGTERM, as a service manager would.
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send one request, as a client that does not verify the server's
/// certificate (`curl --insecure`): (status, body).
pub fn send(build: impl FnOnce(&reqwest::Client) -> reqwest::RequestBuilder) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let resp = build(&client).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    })
}

/// `request` with `token` as its bearer token, if any.
pub fn bearer(request: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
    match token {
        Some(t) => request.bearer_auth(t),
        None => request,
    }
}

pub fn http_get(url: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let (status, body) = send(|c| bearer(c.get(url), token));
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// A closed loopback port: bound, then let go.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Daemon {
    /// SIGKILL: no drain, no checkpoint.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::mem::forget(self);
    }

    /// A client command with a token other than the local admin one.
    pub fn cli_with_token(&self, token: &str, args: &[&str]) -> Output {
        Command::new(DROVER)
            .args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("DROVER_TOKEN", token)
            .output()
            .unwrap()
    }

    /// `GET`/`POST`… with a JSON or raw body; returns (status, body as JSON or Null).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let (status, reply) = send(|c| {
            let mut req = bearer(c.request(method, format!("{}{path}", self.url)), token);
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            if let Some(b) = body {
                req = req.body(b);
            }
            req
        });
        (
            status,
            serde_json::from_str(&reply).unwrap_or(serde_json::Value::Null),
        )
    }

    /// The raw text of a GET.
    pub fn get_text(&self, path: &str, token: Option<&str>) -> String {
        send(|c| bearer(c.get(format!("{}{path}", self.url)), token)).1
    }
}
