//! `web_fetch` (SPEC R4, T2, T6): a thin wrapper over [`rampart_net::Fetcher`], which resolves the
//! host once, refuses every non-public or metadata address however it is spelt, pins the
//! connection to the checked address and re-checks every redirect.
//!
//! The agent's `[capabilities] network` list narrows the reachable hosts further. The page comes
//! back as text inside the guard's untrusted-content envelope.

use std::sync::Arc;

use rampart_net::{FetchConfig, FetchLimits, FetchPolicy, Fetcher, Resolver, SystemResolver};

use super::{Tool, ToolContext, ToolError, ToolOutput, ToolRisk};

/// `web_fetch {"url"}`.
#[derive(Clone)]
pub struct WebFetchTool {
    config: FetchConfig,
    limits: FetchLimits,
    resolver: Arc<dyn Resolver>,
}

impl std::fmt::Debug for WebFetchTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebFetchTool")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WebFetchTool {
    /// The tool with `[web.fetch]` settings and the system resolver.
    #[must_use]
    pub fn new(config: FetchConfig, limits: FetchLimits) -> Self {
        Self::with_resolver(config, limits, Arc::new(SystemResolver))
    }

    /// The tool with an explicit resolver (tests).
    #[must_use]
    pub fn with_resolver(
        config: FetchConfig,
        limits: FetchLimits,
        resolver: Arc<dyn Resolver>,
    ) -> Self {
        Self {
            config,
            limits,
            resolver,
        }
    }
}

#[async_trait::async_trait]
impl Tool for WebFetchTool {
    fn name(&self) -> &str {
        "web_fetch"
    }

    fn description(&self) -> &str {
        "Fetches a public http(s) URL and returns its text (HTML reduced to text)."
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "properties": {"url": {"type": "string", "description": "an http:// or https:// URL"}},
            "required": ["url"],
            "additionalProperties": false
        })
    }

    fn risk(&self) -> ToolRisk {
        ToolRisk::Network
    }

    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let url = args
            .get("url")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| ToolError::InvalidInput("`url` (a string) is required".to_owned()))?;
        let policy = FetchPolicy::new(&self.config, &ctx.capabilities.network, self.limits)
            .map_err(|e| ToolError::Failed(e.to_string()))?;
        let page = Fetcher::with_resolver(policy, self.resolver.clone())
            .fetch(url)
            .await
            .map_err(|e| ToolError::InvalidInput(e.to_string()))?;
        let header = format!(
            "HTTP {} from {}{}\n",
            page.status,
            page.url,
            if page.truncated { " (truncated)" } else { "" }
        );
        let wrapped =
            rampart_guard::wrap_untrusted(&format!("web:{}", page.url), &page.text).wrapped;
        Ok(ToolOutput::text(format!("{header}{wrapped}")))
    }
}
