//! `adversary`: an `import-manifests` plugin that misbehaves on request, for
//! Drover's test suite. Never install it anywhere else.
//!
//! `render(request)` picks a behaviour by `request.cluster_name`; some take a
//! parameter in `request.namespace`. A behaviour that completes reports with
//! one manifest `{ api_version: "v1", kind: "Report", name: <plugin version>,
//! namespace: None, body: <text> }`:
//!
//! | cluster-name      | does                                                       | reports / returns |
//! |-------------------|------------------------------------------------------------|-------------------|
//! | `ok`              | nothing                                                    | `ok` |
//! | `loop`            | spins forever                                              | (never returns) |
//! | `memory-bomb`     | allocates and touches 1 MiB blocks forever                 | (never returns) |
//! | `read-passwd`     | reads `/etc/passwd`                                        | the contents, or `denied("read /etc/passwd: …")` |
//! | `open-socket`     | TCP-connects to the address in `namespace`                 | `connected`, or `denied("connect <addr>: …")` |
//! | `read-env`        | reads environment, arguments and current directory         | see [`read_env`] |
//! | `panic`           | panics                                                     | (traps) |
//! | `log-flood`       | 100,000 log records of 1 KiB, 100,000 stdout and 100,000 stderr lines | `flooded` |
//! | `state-roundtrip` | stores `"hello"` under `greeting` and reads it back        | the value read |
//! | `state-big-value` | stores a 1 MiB value                                       | the host's error, or `stored` |
//! | `state-flood`     | stores 60 KiB values under `k0000`, `k0001`, … until refused | the host's error, or `no quota` |
//! | `sleep`           | sleeps `namespace` milliseconds (1000 if not a number)     | `slept` |
//! | anything else     |                                                            | `invalid-input("unknown behaviour …")` |
//!
//! The plugin is `adversary` version `1.0.0`, or `2.0.0` when built with the
//! cargo feature `v2`.

use std::hint::black_box;
use std::time::Duration;

use drover_sdk::import_manifests::exports::drover::plugin::manifests::{
    self, Manifest, RenderRequest,
};
use drover_sdk::import_manifests::exports::drover::plugin::plugin_info;
use drover_sdk::{Error, PluginInfo, log, state};

const NAME: &str = "adversary";
const VERSION: &str = if cfg!(feature = "v2") {
    "2.0.0"
} else {
    "1.0.0"
};
const DESCRIPTION: &str = "Misbehaves on request, for Drover's test suite";

/// `pub` so that native builds, which leave out the exports, see it used.
pub struct Adversary;

impl plugin_info::Guest for Adversary {
    fn info() -> PluginInfo {
        PluginInfo {
            name: NAME.into(),
            version: VERSION.into(),
            description: DESCRIPTION.into(),
        }
    }
}

impl manifests::Guest for Adversary {
    fn render(request: RenderRequest) -> Result<Vec<Manifest>, Error> {
        let param = request.namespace.as_str();
        let body = match request.cluster_name.as_str() {
            "ok" => "ok".to_string(),
            "loop" => spin(),
            "memory-bomb" => memory_bomb(),
            "read-passwd" => std::fs::read_to_string("/etc/passwd")
                .map_err(|e| Error::Denied(format!("read /etc/passwd: {e}")))?,
            "open-socket" => match std::net::TcpStream::connect(param) {
                Ok(_) => "connected".to_string(),
                Err(e) => return Err(Error::Denied(format!("connect {param}: {e}"))),
            },
            "read-env" => read_env(),
            "panic" => panic!("adversary panicked on purpose"),
            "log-flood" => log_flood(),
            "state-roundtrip" => {
                state::set("greeting", &"hello")?;
                state::get::<String>("greeting")?.unwrap_or_else(|| "<missing>".to_string())
            }
            "state-big-value" => {
                state::set_bytes("big", &vec![0u8; 1 << 20])?;
                "stored".to_string()
            }
            "state-flood" => state_flood()?,
            "sleep" => {
                std::thread::sleep(Duration::from_millis(param.parse().unwrap_or(1000)));
                "slept".to_string()
            }
            name => {
                return Err(Error::InvalidInput(format!("unknown behaviour {name:?}")));
            }
        };
        Ok(vec![report(body)])
    }
}

// Component exports only on wasm: native linkers reject their names.
#[cfg(target_arch = "wasm32")]
drover_sdk::import_manifests::export!(Adversary);

fn report(body: String) -> Manifest {
    Manifest {
        api_version: "v1".into(),
        kind: "Report".into(),
        name: VERSION.into(),
        namespace: None,
        body,
    }
}

/// Spin forever; `black_box` keeps the optimiser from removing the loop.
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Allocate, touch and keep 1 MiB blocks until the sandbox stops us.
fn memory_bomb() -> ! {
    const MIB: usize = 1 << 20;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; MIB];
        // Write every page so the memory is really committed.
        for i in (0..MIB).step_by(4096) {
            block[i] = black_box(i as u8 | 1);
        }
        kept.push(black_box(block));
    }
}

/// What the sandbox shows of the process environment, in this format:
///
/// ```text
/// <one K=V line per environment variable>
/// args=<arguments joined by spaces>
/// current_dir=<path>           (or: current_dir_error=<error>)
/// ```
///
/// In Drover's sandbox the environment and arguments are empty, so the body
/// starts with `args=`. `current_dir` still works and says `/`: wasi-libc
/// emulates the working directory, starting at `/`, even with no preopens.
fn read_env() -> String {
    let mut body: String = std::env::vars()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    body.push_str("args=");
    body.push_str(&std::env::args().collect::<Vec<_>>().join(" "));
    body.push('\n');
    match std::env::current_dir() {
        Ok(dir) => body.push_str(&format!("current_dir={}\n", dir.display())),
        Err(e) => body.push_str(&format!("current_dir_error={e}\n")),
    }
    body
}

fn log_flood() -> String {
    const N: usize = 100_000;
    let message = "x".repeat(1024);
    for _ in 0..N {
        log::info(&message, &[]);
    }
    for i in 0..N {
        println!("adversary stdout line {i}");
    }
    for i in 0..N {
        eprintln!("adversary stderr line {i}");
    }
    "flooded".to_string()
}

/// Write 60 KiB values under `k0000`, `k0001`, … until the host refuses one.
fn state_flood() -> Result<String, Error> {
    let value = vec![b'x'; 60 * 1024];
    for i in 0..100_000 {
        state::set_bytes(&format!("k{i:04}"), &value)?;
    }
    Ok("no quota".to_string())
}
