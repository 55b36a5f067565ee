//! The host functions a plugin may import (each only when its manifest asks and the owner
//! grants it), and the bounds-checked reads and writes of guest memory they share.

use super::*;
/// Adds the granted host functions — and only those — to the linker.
pub(super) fn link(
    linker: &mut Linker<State>,
    granted: &BTreeSet<HostFunction>,
) -> wasmtime::Result<()> {
    if granted.contains(&HostFunction::Log) {
        linker.func_wrap(
            HOST_MODULE,
            "log",
            |mut caller: Caller<'_, State>, ptr: i32, len: i32| -> wasmtime::Result<()> {
                check_deadline(&caller)?;
                if caller.data().logs >= MAX_LOG_LINES_PER_CALL {
                    return Ok(());
                }
                caller.data_mut().logs += 1;
                let len = len.clamp(0, i32::try_from(MAX_LOG_BYTES).unwrap_or(i32::MAX));
                let bytes = read_guest(&mut caller, ptr, len, MAX_LOG_BYTES)?;
                let line: String = String::from_utf8_lossy(&bytes)
                    .chars()
                    .filter(|c| !c.is_control())
                    .collect();
                tracing::info!(plugin = %caller.data().shared.name, "{line}");
                Ok(())
            },
        )?;
    }
    if granted.contains(&HostFunction::Kv) {
        linker.func_wrap(
            HOST_MODULE,
            "kv_get",
            |mut caller: Caller<'_, State>, kp: i32, kl: i32| -> wasmtime::Result<i64> {
                check_deadline(&caller)?;
                let key = read_guest(&mut caller, kp, kl, MAX_KV_KEY_BYTES)?;
                let value = {
                    let kv = lock(&caller.data().shared.kv);
                    kv.get(&key).cloned()
                };
                match value {
                    None => Ok(-1),
                    Some(v) => write_via_alloc(&mut caller, &v),
                }
            },
        )?;
        linker.func_wrap(
            HOST_MODULE,
            "kv_set",
            |mut caller: Caller<'_, State>,
             kp: i32,
             kl: i32,
             vp: i32,
             vl: i32|
             -> wasmtime::Result<i32> {
                check_deadline(&caller)?;
                let key = read_guest(&mut caller, kp, kl, MAX_KV_KEY_BYTES)?;
                let value = read_guest(&mut caller, vp, vl, MAX_KV_VALUE_BYTES)?;
                let mut kv = lock(&caller.data().shared.kv);
                if !kv.contains_key(&key) && kv.len() >= MAX_KV_ENTRIES {
                    return Ok(-1);
                }
                kv.insert(key, value);
                Ok(0)
            },
        )?;
    }
    if granted.contains(&HostFunction::HttpFetch) {
        linker.func_wrap(
            HOST_MODULE,
            "http_fetch",
            |mut caller: Caller<'_, State>, rp: i32, rl: i32| -> wasmtime::Result<i64> {
                check_deadline(&caller)?;
                let req = read_guest(&mut caller, rp, rl, MAX_FETCH_REQUEST_BYTES)?;
                let answer = http_fetch(caller.data_mut(), &req)?;
                let bytes = serde_json::to_vec(&answer).map_err(|e| abi(e.to_string()))?;
                write_via_alloc(&mut caller, &bytes)
            },
        )?;
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn check_deadline(caller: &Caller<'_, State>) -> wasmtime::Result<()> {
    if Instant::now() >= caller.data().deadline {
        return Err(wasmtime::Error::new(HostTrap::Deadline));
    }
    Ok(())
}

/// One `http_fetch`: through the SSRF-guarded fetcher, within the call's deadline.
fn http_fetch(state: &mut State, req: &[u8]) -> wasmtime::Result<serde_json::Value> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Req {
        url: String,
        secret: Option<String>,
    }
    let fail = |m: String| Ok(serde_json::json!({ "error": m }));
    let Ok(req) = serde_json::from_slice::<Req>(req) else {
        return fail("the request must be {\"url\": \"…\", \"secret\": \"NAME\"}".to_owned());
    };
    if state.fetches >= MAX_FETCHES_PER_CALL {
        return fail(format!("at most {MAX_FETCHES_PER_CALL} fetches per call"));
    }
    state.fetches += 1;
    let Some(setup) = state.shared.fetch.as_ref() else {
        return fail("http_fetch is not granted".to_owned());
    };
    if !state.agent_network.is_empty() {
        let agent = FetchPolicy::new(&setup.config, &state.agent_network, setup.limits)
            .map_err(|e| abi(e.to_string()))?;
        if let Err(e) = agent.preflight(&req.url) {
            return fail(e.to_string());
        }
    }
    let mut headers = HeaderMap::new();
    let mut secret_value = None;
    if let Some(name) = &req.secret {
        let Some((h, v, raw)) = setup.secrets.get(name) else {
            return fail(format!("secret {name:?} is not declared or not granted"));
        };
        headers.insert(h.clone(), v.clone());
        secret_value = Some(raw.clone());
    }
    let Some(runtime) = state.runtime.clone() else {
        return fail("http_fetch needs the async runtime".to_owned());
    };
    let remaining = state.deadline.saturating_duration_since(Instant::now());
    let fetcher = setup.fetcher.clone();
    let result = runtime.block_on(tokio::time::timeout(
        remaining,
        fetcher.fetch_with_headers(&req.url, &headers),
    ));
    match result {
        // The call's deadline passed while waiting: stop the guest, like the epoch does.
        Err(_) => Err(wasmtime::Error::new(HostTrap::Deadline)),
        Ok(Err(e)) => fail(e.to_string()),
        Ok(Ok(page)) => {
            let mut body = page.text;
            // A server that echoes the request (headers and all) must not hand the guest the
            // secret it was never shown.
            if let Some(secret) = &secret_value {
                let s = secret.expose_secret();
                if !s.is_empty() {
                    body = body.replace(s, "[REDACTED]");
                }
            }
            Ok(serde_json::json!({
                "status": page.status,
                "body": body,
                "truncated": page.truncated,
            }))
        }
    }
}

/// Copies `len` bytes at `ptr` out of the guest's memory, refusing more than `cap`.
fn read_guest(
    caller: &mut Caller<'_, State>,
    ptr: i32,
    len: i32,
    cap: usize,
) -> wasmtime::Result<Vec<u8>> {
    let memory = caller
        .get_export(EXPORT_MEMORY)
        .and_then(Extern::into_memory)
        .ok_or_else(|| abi("no memory export"))?;
    read_memory(&*caller, memory, ptr, len, cap)
}

pub(super) fn read_memory(
    ctx: impl wasmtime::AsContext,
    memory: Memory,
    ptr: i32,
    len: i32,
    cap: usize,
) -> wasmtime::Result<Vec<u8>> {
    let (Ok(start), Ok(len)) = (usize::try_from(ptr), usize::try_from(len)) else {
        return Err(abi("negative pointer or length"));
    };
    if len > cap {
        return Err(abi(format!(
            "a {len}-byte buffer is over the {cap}-byte cap"
        )));
    }
    let data = memory.data(&ctx);
    let end = start
        .checked_add(len)
        .filter(|end| *end <= data.len())
        .ok_or_else(|| abi("a pointer outside the guest's memory"))?;
    Ok(data[start..end].to_vec())
}

/// Asks the guest's `alloc` for room, copies `bytes` in, returns the packed pointer/length.
fn write_via_alloc(caller: &mut Caller<'_, State>, bytes: &[u8]) -> wasmtime::Result<i64> {
    let memory = caller
        .get_export(EXPORT_MEMORY)
        .and_then(Extern::into_memory)
        .ok_or_else(|| abi("no memory export"))?;
    let alloc = caller
        .get_export(EXPORT_ALLOC)
        .and_then(Extern::into_func)
        .ok_or_else(|| abi("no alloc export"))?
        .typed::<i32, i32>(&*caller)?;
    let (ptr, len) = write_guest(&mut *caller, memory, &alloc, bytes)?;
    Ok(pack(ptr, len))
}

pub(super) fn write_guest(
    mut ctx: impl AsContextMut<Data = State>,
    memory: Memory,
    alloc: &TypedFunc<i32, i32>,
    bytes: &[u8],
) -> wasmtime::Result<(u32, u32)> {
    let len = i32::try_from(bytes.len()).map_err(|_| abi("buffer too large"))?;
    let ptr = alloc.call(&mut ctx, len)?;
    let start = usize::try_from(ptr).map_err(|_| abi("alloc returned a negative pointer"))?;
    memory
        .write(&mut ctx, start, bytes)
        .map_err(|_| abi("alloc returned a pointer outside the guest's memory"))?;
    Ok((
        u32::try_from(ptr).unwrap_or(0),
        u32::try_from(len).unwrap_or(0),
    ))
}
