//! Fuzzes what a provider (or anything between Rampart and it) and an API client control: SSE
//! streams split at arbitrary points, and agent manifests. Neither may panic, and the SSE parser
//! must give the same events however the bytes are split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_agent::AgentManifest;
use rampart_agent::provider::sse::SseParser;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let body = &data[split.min(data.len())..];

    let mut whole = SseParser::new();
    let mut a = whole.push(body).unwrap_or_default();
    a.extend(whole.finish());

    let mut parts = SseParser::new();
    let cut = split.min(body.len());
    let mut b = parts.push(&body[..cut]).unwrap_or_default();
    b.extend(parts.push(&body[cut..]).unwrap_or_default());
    b.extend(parts.finish());
    assert_eq!(a, b, "events depend on how the stream was split");

    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(m) = AgentManifest::parse(text) {
            // A manifest that parsed is valid and round-trips.
            m.validate().unwrap();
            assert_eq!(AgentManifest::from_toml(&m.to_toml().unwrap()).unwrap(), m);
        }
    }
});
