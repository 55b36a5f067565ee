//! # rampart-plugins
//!
//! WASM plugins (SPEC W1–W3): tools written by people the owner does not have to trust, run
//! in wasmtime, metered, limited to the host functions they were granted, and verified against
//! publisher keys the owner chose.
//!
//! - [`PluginHost`] — the one [`wasmtime::Engine`] (fuel and epoch interruption on) and its
//!   epoch ticker thread. [`PluginHost::load`] compiles a plugin and links **only** the host
//!   functions its manifest requests *and* its grant allows; any other import refuses the
//!   plugin ([`PluginError::UngrantedImport`]).
//! - [`LoadedPlugin::call`] — every call gets a fresh [`wasmtime::Store`] with its own fuel
//!   (`fuel_limit`), its own epoch deadline (`epoch_timeout_ms`, also enforced inside host
//!   calls) and a resource limiter (`max_memory_pages`, table elements). One plugin running out
//!   of anything never touches another's store. A trap is a [`PluginError`], never a panic.
//! - [`abi`] — the guest ABI, in one file.
//! - [`Manifest`] — `plugin.toml`. [`sign`] — Ed25519 signatures over the manifest and the
//!   code's SHA-256, verified against a [`TrustStore`] from `[plugins] trusted_keys` only.
//! - [`bundle`] — plugin directories: read, verify (signature + injection scan, SPEC I3),
//!   install, list, remove. [`loader`] — start-up loading with audit events.
//! - [`PluginTool`] — each plugin tool as a `rampart_agent::Tool` named `PLUGIN__TOOL`, so the
//!   tool registry's capability, approval, audit and leak-guard path applies unchanged.
//!
//! ## Trust assumptions
//! The plugin's code and manifest are hostile until verified, and its code stays hostile after:
//! a valid signature says who published it, not that it is harmless. The owner's config and
//! trust store are trusted. wasmtime's isolation of linear memory is trusted (it is the
//! sandbox). There is no WASI: a plugin has no files, clock, randomness or sockets except
//! through the host functions in [`abi`]. See `docs/plugins.md`.
//!
//! ```
//! use rampart_plugins::{CallContext, Grant, Manifest, PluginHost};
//!
//! let host = PluginHost::new(rampart_config::WasmConfig::default()).unwrap();
//! let manifest = Manifest::parse(r#"
//! name = "hello"
//! version = "1.0.0"
//! [[tools]]
//! name = "greet"
//! description = "Says hello."
//! "#).unwrap();
//! let wasm = wat::parse_str(r#"(module
//!   (memory (export "memory") 1)
//!   (global $next (mut i32) (i32.const 1024))
//!   (data (i32.const 0) "{\"ok\":\"hello\"}")
//!   (func (export "alloc") (param $n i32) (result i32)
//!     (local $p i32) (local.set $p (global.get $next))
//!     (global.set $next (i32.add (global.get $next) (local.get $n))) (local.get $p))
//!   (func (export "call") (param i32 i32 i32 i32) (result i64) (i64.const 14)))"#).unwrap();
//! let plugin = host.load(manifest, &wasm, None, &Grant::default()).unwrap();
//! let out = plugin.call("greet", &serde_json::json!({}), &CallContext::default(), None).unwrap();
//! assert_eq!(out, Ok("hello".to_owned()));
//! ```

#![forbid(unsafe_code)]

pub mod abi;
pub mod bundle;
mod error;
mod host;
pub mod loader;
mod manifest;
pub mod sign;
mod tool;

pub use error::PluginError;
pub use host::{
    CallContext, CallLimits, EPOCH_TICK, Grant, GuestResult, LoadedPlugin, MAX_CODE_BYTES,
    PluginHost,
};
pub use manifest::{
    HostFunction, MAX_DESCRIPTION_BYTES, MAX_MANIFEST_BYTES, MAX_MANIFEST_LIST, MAX_TOOLS,
    Manifest, ManifestLimits, SecretDef, ToolDef, valid_name,
};
pub use sign::{PublisherKey, TrustStore};
pub use tool::{PluginTool, register, tool_name};
