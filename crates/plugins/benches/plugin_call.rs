//! Benchmarks of the plugin host with a trivial plugin: cold (compile + link + fresh store +
//! instantiate + call, what the first call after start-up costs) and warm (a fresh store and
//! instance from the pre-linked module + call, what every later call costs — each call gets its
//! own store on purpose, so this is the per-call price of the isolation).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Bench setup: a failure aborts the bench.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn.

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_config::WasmConfig;
use rampart_plugins::{CallContext, Grant, Manifest, PluginHost};

const WAT: &str = r#"(module
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  (data (i32.const 0) "{\"ok\":\"hello\"}")
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $n))) (local.get $p))
  (func (export "call") (param i32 i32 i32 i32) (result i64) (i64.const 14)))"#;

const MANIFEST: &str = "name = \"hello\"\nversion = \"1\"\n[[tools]]\nname = \"greet\"\ndescription = \"Says hello.\"\n";

fn plugin_call(c: &mut Criterion) {
    let host = PluginHost::new(WasmConfig::default()).unwrap();
    let wasm = wat::parse_str(WAT).unwrap();
    let manifest = Manifest::parse(MANIFEST).unwrap();
    let args = serde_json::json!({"name": "world"});
    let ctx = CallContext::default();
    c.bench_function("plugin_cold_load_instantiate_call", |b| {
        b.iter(|| {
            let p = host
                .load(manifest.clone(), &wasm, None, &Grant::default())
                .unwrap();
            p.call("greet", &args, &ctx, None).unwrap().unwrap()
        });
    });
    let p = host
        .load(manifest.clone(), &wasm, None, &Grant::default())
        .unwrap();
    c.bench_function("plugin_warm_instantiate_call", |b| {
        b.iter(|| p.call("greet", &args, &ctx, None).unwrap().unwrap());
    });
}

criterion_group!(benches, plugin_call);
criterion_main!(benches);
