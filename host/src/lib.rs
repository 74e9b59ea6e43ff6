//! Drover: a daemon that brings Kubernetes clusters under central management
//! through sandboxed WebAssembly plugins. See `ARCHITECTURE.md` for the map.
//!
//! Modules are rooms; each depends only on rooms before it in this order:
//! `task` → `text` → `wire` → `config` → `metrics` → `permissions` → `store` → `secrets` → `tls` →
//! `azure` → `runtime` → `host_api` → `plugins` → `imports` → `aks` → `workflows` → `api` →
//! `agent` → `cli`.

pub mod agent;
pub mod aks;
pub mod api;
pub mod azure;
pub mod cli;
pub mod config;
pub mod host_api;
pub mod imports;
pub mod metrics;
pub mod permissions;
pub mod plugins;
pub mod runtime;
pub mod secrets;
pub mod store;
pub mod task;
pub mod text;
pub mod tls;
pub mod wire;
pub mod workflows;
