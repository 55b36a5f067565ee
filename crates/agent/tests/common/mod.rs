//! Helpers shared by the agent's integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)] // Test helpers: a failure here is a test failure.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rampart_agent::{
    AgentManifest, Observed, ProviderKind, ProviderSpec, Runtime, RuntimeOptions, TurnEvent,
    TurnObserver, TurnRequest,
};
use rampart_store::Store;
use secrecy::SecretString;
use tokio::sync::mpsc;

/// The fake API key every test uses; tests assert it never leaks into bodies or errors.
pub const KEY: &str = "sk-test-CANARY-KEY-0123456789";

pub fn spec(kind: ProviderKind, base_url: Option<String>) -> ProviderSpec {
    ProviderSpec {
        kind,
        base_url,
        api_key: Some(SecretString::from(KEY.to_owned())),
    }
}

pub fn options(home: &Path, store: Store, spec: ProviderSpec) -> RuntimeOptions {
    let mut opts = RuntimeOptions::new(home, store);
    opts.providers.insert("default".to_owned(), spec);
    opts
}

pub async fn runtime(home: &Path, spec: ProviderSpec) -> Runtime {
    Runtime::new(options(home, Store::open_in_memory().unwrap(), spec)).unwrap()
}

pub fn manifest(name: &str, tools: &[&str]) -> AgentManifest {
    let tools: Vec<String> = tools.iter().map(|t| format!("{t:?}")).collect();
    AgentManifest::parse(&format!(
        "name = {name:?}\nmodel = \"default/test-model\"\nsystem_prompt = \"You are {name}.\"\n\
         [capabilities]\ntools = [{}]\n",
        tools.join(", ")
    ))
    .unwrap()
}

pub fn req(agent: &str, session: Option<&str>, message: &str) -> TurnRequest {
    TurnRequest {
        agent: agent.parse().unwrap(),
        session_id: session.map(str::to_owned),
        message: message.to_owned(),
    }
}

/// Runs a turn with an event channel and returns the events seen.
pub async fn run_streaming(
    rt: &Runtime,
    request: TurnRequest,
) -> (
    Result<rampart_agent::TurnOutcome, rampart_agent::AgentError>,
    Vec<TurnEvent>,
) {
    let (tx, mut rx) = mpsc::channel(8);
    let collector = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(e) = rx.recv().await {
            seen.push(e);
        }
        seen
    });
    let out = rt.run_turn(request, Some(tx)).await;
    (out, collector.await.unwrap())
}

/// An observer that keeps a one-line description of everything it sees.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<String>>);

impl TurnObserver for Recorder {
    fn observe(&self, event: &Observed<'_>) {
        let line = match event {
            Observed::ModelCall {
                provider, error, ..
            } => format!("model_call {provider} err={}", error.is_some()),
            Observed::ToolCall { call, record, .. } => {
                format!("tool_call {} {:?}", call.name, record.status)
            }
            Observed::SessionRepaired { report, .. } => {
                format!("session_repaired quarantined={}", report.quarantined.len())
            }
            _ => "other".to_owned(),
        };
        self.0.lock().unwrap().push(line);
    }
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}
