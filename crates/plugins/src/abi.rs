//! The guest ABI: what a plugin module exports, what it may import, and how bytes cross the
//! boundary. This file is the ABI's one definition; `docs/plugins.md` explains it with examples.
//!
//! ## Why a core-module ABI and not the component model
//! A plugin here is one function from JSON to text with at most three host calls. A small
//! core-module ABI needs no WIT toolchain, keeps wasmtime's `component-model` feature (and its
//! build time) out of the binary, and can be written by hand in WAT, which is how the tests
//! exercise every limit. Anything that compiles to `wasm32-unknown-unknown` can target it.
//!
//! ## Exports (all required)
//! - `memory` — the linear memory (at most `[security.wasm] max_memory_pages` pages).
//! - `alloc(len: i32) -> i32` — returns a pointer to `len` writable bytes. The host calls it to
//!   pass the tool name, the arguments and host-call results in. It may never free: every call
//!   runs in a fresh instance that is thrown away afterwards.
//! - `call(tool_ptr: i32, tool_len: i32, args_ptr: i32, args_len: i32) -> i64` — runs the tool
//!   named by the UTF-8 bytes at `tool_ptr` with the JSON object at `args_ptr`, and returns a
//!   [`packed`] pointer/length of its result: a UTF-8 JSON object, either
//!   `{"ok": "text for the model"}` (a non-string `ok` value is passed on as JSON text) or
//!   `{"error": "message"}`.
//!
//! ## Imports (module [`HOST_MODULE`] = `"rampart"`, each only if granted)
//! | function | signature | grant |
//! |---|---|---|
//! | `log(ptr, len)` | `(i32, i32) -> ()` | `log` |
//! | `kv_get(key_ptr, key_len) -> i64` | packed value, or `-1` when absent | `kv` |
//! | `kv_set(key_ptr, key_len, val_ptr, val_len) -> i32` | `0`, or `-1` when over a limit | `kv` |
//! | `http_fetch(req_ptr, req_len) -> i64` | packed JSON result | `http_fetch` |
//!
//! `http_fetch` takes `{"url": "https://…", "secret": "NAME"}` (`secret` optional) and returns
//! `{"status": 200, "body": "…", "truncated": false}` or `{"error": "…"}`. With `secret`, the
//! host adds the header the manifest declares for that secret, with the value the owner's
//! config grants, to requests to the URL's origin; the guest never sees the value.
//!
//! Nothing else is importable: no WASI, no other module. A module importing anything else —
//! or a host function its manifest does not request, or its owner does not grant — fails to
//! load with [`crate::PluginError::UngrantedImport`].
//!
//! ## Packed pointers
//! An `i64` result carries a pointer in its high 32 bits and a length in its low 32 bits
//! (see [`pack`]). Every pointer and length the guest hands the host is bounds-checked against
//! the memory and against the caps below; a bad one is a trap, i.e. a tool error.

/// The import module every host function lives in.
pub const HOST_MODULE: &str = "rampart";

/// The exports the ABI requires.
pub const EXPORT_MEMORY: &str = "memory";
/// See the module docs.
pub const EXPORT_ALLOC: &str = "alloc";
/// See the module docs.
pub const EXPORT_CALL: &str = "call";

/// Largest argument JSON passed to a plugin.
///
/// # Security
/// Arguments come from the model; a huge argument would be copied into guest memory.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// Largest result a plugin may return (the registry then caps what the model sees).
///
/// # Security
/// The host copies the result out of guest memory; this bounds the copy.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// Largest `log` line kept (longer ones are cut), and most lines per call.
///
/// # Security
/// A plugin must not be able to flood the gateway's log.
pub const MAX_LOG_BYTES: usize = 1024;
/// See [`MAX_LOG_BYTES`].
pub const MAX_LOG_LINES_PER_CALL: usize = 64;

/// Limits of the key-value scratch space, per plugin.
///
/// # Security
/// The scratch space lives in the gateway's memory; a plugin must not grow it without bound.
pub const MAX_KV_KEY_BYTES: usize = 256;
/// See [`MAX_KV_KEY_BYTES`].
pub const MAX_KV_VALUE_BYTES: usize = 64 * 1024;
/// See [`MAX_KV_KEY_BYTES`].
pub const MAX_KV_ENTRIES: usize = 256;

/// Largest `http_fetch` request JSON, and most fetches per call.
///
/// # Security
/// Each fetch is a network request on behalf of untrusted code: a call gets a few, not a flood.
pub const MAX_FETCH_REQUEST_BYTES: usize = 8 * 1024;
/// See [`MAX_FETCH_REQUEST_BYTES`].
pub const MAX_FETCHES_PER_CALL: usize = 8;

/// Most table elements an instance may have.
///
/// # Security
/// Tables are host memory too; the resource limiter bounds them like linear memory.
pub const MAX_TABLE_ELEMENTS: usize = 10_000;

/// Packs a pointer and a length into the ABI's `i64`.
#[must_use]
pub fn pack(ptr: u32, len: u32) -> i64 {
    i64::from_ne_bytes(((u64::from(ptr) << 32) | u64::from(len)).to_ne_bytes())
}

/// Unpacks the ABI's `i64` into a pointer and a length.
#[must_use]
pub fn packed(value: i64) -> (u32, u32) {
    let v = u64::from_ne_bytes(value.to_ne_bytes());
    let ptr = u32::try_from(v >> 32).unwrap_or(u32::MAX);
    let len = u32::try_from(v & 0xFFFF_FFFF).unwrap_or(u32::MAX);
    (ptr, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        for (p, l) in [(0, 0), (1, 2), (u32::MAX, u32::MAX), (0x8000_0000, 7)] {
            assert_eq!(packed(pack(p, l)), (p, l));
        }
    }
}
