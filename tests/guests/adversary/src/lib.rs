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
//! | `secret-array`, `secret-number`, `secret-string-data`, `secret-as-configmap` | renders an import whose credentials Secret is fine on the first render for a cluster id and, from the second on, has a body of `[1,2,3]`, `42`, `"stringData": "oops"`, or is a ConfigMap under the Secret's kind and name | the objects |
//! | `log-inject`      | logs, prints and errors with `\n`, `\r` and ESC sequences meant to forge lines | `invalid-input` with the same text |
//! | `log-bytes`       | 1,000 log records of 4 KiB, each with 32 fields of 1 KiB   | `logged` |
//! | `big-error`       | fails with a 10 MB `invalid-input` message                 | (that error) |
//! | `big-output`      | returns a report of `namespace` MiB (20 if not a number)   | the report |
//! | `stack-overflow`  | recurses until its stack runs out                          | (traps) |
//! | `state-reads`     | `namespace` reads (30,000 if not a number) of one key, and a list of keys | `read N` |
//! | `state-writes`    | `namespace` writes (10 if not a number) then deletes of `w<i>` | `wrote N` |
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
            "secret-array" | "secret-number" | "secret-string-data" | "secret-as-configmap" => {
                return Ok(import_objects(&request));
            }
            "log-inject" => {
                let forged = "rendered\n2026-01-01T00:00:00Z  INFO drover: admin token rotated\r\x1b[2K\x1b[31mred";
                log::info(forged, &[("field\nkey", "value\n2026 INFO forged")]);
                println!("stdout\r\x1b[2Kforged");
                return Err(Error::InvalidInput(forged.to_string()));
            }
            "log-bytes" => {
                let message = "m".repeat(4096);
                let value = "v".repeat(1024);
                let keys: Vec<String> = (0..32).map(|i| format!("f{i}")).collect();
                let fields: Vec<(&str, &str)> =
                    keys.iter().map(|k| (k.as_str(), value.as_str())).collect();
                for _ in 0..1000 {
                    log::info(&message, &fields);
                }
                "logged".to_string()
            }
            "big-error" => return Err(Error::InvalidInput("e".repeat(10_000_000))),
            "big-output" => "o".repeat(param.parse::<usize>().unwrap_or(20) << 20),
            "stack-overflow" => format!("{}", recurse(black_box(1))),
            "state-reads" => {
                let n: u32 = param.parse().unwrap_or(30_000);
                state::set("r", &1u32)?;
                for _ in 0..n {
                    black_box(state::get::<u32>("r")?);
                }
                black_box(state::keys("")?);
                format!("read {n}")
            }
            "state-writes" => {
                let n: u32 = param.parse().unwrap_or(10);
                for i in 0..n {
                    state::set(&format!("w{i}"), &i)?;
                }
                for i in 0..n {
                    state::delete(&format!("w{i}"))?;
                }
                format!("wrote {n}")
            }
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

/// Recurse without end: every frame keeps a buffer on the stack.
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let frame = black_box([depth; 64]);
    recurse(black_box(depth + 1)).wrapping_add(frame[depth as usize % 64])
}

/// The objects of an import whose credentials Secret turns bad from the
/// second render of a cluster on (see the table above).
fn import_objects(request: &RenderRequest) -> Vec<Manifest> {
    let key = format!("renders/{}", request.cluster_id);
    let renders: u64 = state::get(&key).ok().flatten().unwrap_or(0);
    let _ = state::set(&key, &(renders + 1));
    let secret = &request.credentials.secret_name;
    let namespace = if request.namespace.is_empty() {
        "drover-system"
    } else {
        &request.namespace
    };
    let good = format!(
        r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"{secret}","namespace":"{namespace}"}},"stringData":{{"token":""}}}}"#
    );
    let body = if renders == 0 {
        good
    } else {
        match request.cluster_name.as_str() {
            "secret-array" => "[1,2,3]".to_string(),
            "secret-number" => "42".to_string(),
            "secret-string-data" => format!(
                r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"{secret}"}},"stringData":"oops"}}"#
            ),
            _ => format!(
                r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"leak","namespace":"{namespace}"}},"data":{{}}}}"#
            ),
        }
    };
    vec![
        Manifest {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            name: namespace.into(),
            namespace: None,
            body: format!(
                r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{namespace}"}}}}"#
            ),
        },
        Manifest {
            api_version: "v1".into(),
            kind: "Secret".into(),
            name: secret.clone(),
            namespace: Some(namespace.into()),
            body,
        },
    ]
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
