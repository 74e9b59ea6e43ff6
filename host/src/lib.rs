//! Drover: a daemon that brings Kubernetes clusters under central management
//! through sandboxed WebAssembly plugins. See `ARCHITECTURE.md` for the map.
//!
//! Modules are rooms; each depends only on rooms before it in this order:
//! `config` → `metrics` → `permissions` → `store` → `secrets` → `tls` →
//! `runtime` → `host_api` → `plugins` → `workflows` → `api` → `cli`.

pub mod api;
pub mod cli;
pub mod config;
pub mod host_api;
pub mod metrics;
pub mod permissions;
pub mod plugins;
pub mod runtime;
pub mod secrets;
pub mod store;
pub mod tls;
pub mod workflows;
