//! One agent turn whose text streams out while it runs: shared by the WebSocket and the
//! OpenAI-compatible `stream: true` fronts, so the event plumbing exists once.

use std::sync::Arc;

use rampart_agent::{AgentError, Runtime, TurnEvent, TurnOutcome, TurnRequest};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::ApiError;

/// A turn running on its own task. Dropping it cancels the turn, so a client that went away
/// stops the model calls it started.
pub(crate) struct StreamingTurn {
    events: mpsc::Receiver<TurnEvent>,
    task: JoinHandle<Result<TurnOutcome, AgentError>>,
}

impl StreamingTurn {
    /// Starts `req` on `runtime`.
    pub(crate) fn start(runtime: Arc<Runtime>, req: TurnRequest) -> Self {
        let (tx, events) = mpsc::channel(64);
        let task = tokio::spawn(async move { runtime.run_turn(req, Some(tx)).await });
        Self { events, task }
    }

    /// The next piece of streamed text, in order; `None` once the turn has ended (every delta it
    /// produced has then been returned).
    pub(crate) async fn next_delta(&mut self) -> Option<String> {
        while let Some(event) = self.events.recv().await {
            if let TurnEvent::Delta { text } = event {
                return Some(text);
            }
        }
        None
    }

    /// The turn's outcome; call after [`next_delta`](Self::next_delta) returned `None`.
    pub(crate) async fn finish(mut self) -> Result<TurnOutcome, ApiError> {
        match (&mut self.task).await {
            Ok(result) => result.map_err(ApiError::from),
            Err(e) => {
                tracing::error!(error = %e, "an agent turn task failed");
                Err(ApiError::internal())
            }
        }
    }
}

impl Drop for StreamingTurn {
    fn drop(&mut self) {
        // A no-op when the task has finished.
        self.task.abort();
    }
}
