//! The built-in `clock` tool: the current UTC time. Harmless, so it proves the loop end to end.

use std::sync::Arc;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Tool, ToolContext, ToolError, ToolOutput, ToolRisk};

/// A source of the current time (injectable so tests need not depend on the wall clock).
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// `clock`: returns the current UTC time in RFC 3339. Takes no arguments.
#[derive(Clone)]
pub struct ClockTool {
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ClockTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClockTool")
    }
}

impl Default for ClockTool {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl ClockTool {
    /// The tool reading `clock`.
    #[must_use]
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock }
    }
}

#[async_trait::async_trait]
impl Tool for ClockTool {
    fn name(&self) -> &str {
        "clock"
    }

    fn description(&self) -> &str {
        "Returns the current date and time in UTC (RFC 3339)."
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({"type": "object", "properties": {}, "additionalProperties": false})
    }

    fn risk(&self) -> ToolRisk {
        ToolRisk::Read
    }

    async fn call(
        &self,
        _ctx: &ToolContext,
        _args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        self.clock
            .now()
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .map(ToolOutput::text)
            .map_err(|_| ToolError::Failed("cannot format the time".to_owned()))
    }
}
