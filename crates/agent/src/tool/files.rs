//! The file tools `file_read`, `file_write`, `file_delete`, `file_list` (SPEC R4, T1): thin
//! wrappers over [`rampart_sandbox::Workspace`], which holds the agent's workspace as a directory
//! handle and refuses every way out (`..`, absolute paths, symlinks, hard links).
//!
//! What a file holds is data, not instructions: `file_read` returns it inside the guard's
//! untrusted-content envelope, so the model is told where it came from.

use std::path::PathBuf;

use rampart_sandbox::{EntryKind, Workspace, WorkspaceOptions};

use super::{Tool, ToolContext, ToolError, ToolOutput, ToolRisk};

/// Which file operation a [`FileTool`] performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileOp {
    /// `file_read {"path"}`.
    Read,
    /// `file_write {"path", "content"}`.
    Write,
    /// `file_delete {"path"}`.
    Delete,
    /// `file_list {"path"?}`.
    List,
}

impl FileOp {
    /// Every operation, for registering all four tools.
    pub const ALL: [Self; 4] = [Self::Read, Self::Write, Self::Delete, Self::List];

    /// The tool name.
    #[must_use]
    pub fn tool_name(self) -> &'static str {
        match self {
            Self::Read => "file_read",
            Self::Write => "file_write",
            Self::Delete => "file_delete",
            Self::List => "file_list",
        }
    }
}

/// One file tool, confined to `HOME/workspace/AGENT/`.
#[derive(Clone, Debug)]
pub struct FileTool {
    op: FileOp,
    home: PathBuf,
    options: WorkspaceOptions,
}

impl FileTool {
    /// The tool for `op`, with workspaces under `home/workspace/`.
    #[must_use]
    pub fn new(op: FileOp, home: PathBuf, options: WorkspaceOptions) -> Self {
        Self { op, home, options }
    }
}

fn str_arg<'a>(args: &'a serde_json::Value, key: &str) -> Result<&'a str, ToolError> {
    args.get(key)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| ToolError::InvalidInput(format!("`{key}` (a string) is required")))
}

#[async_trait::async_trait]
impl Tool for FileTool {
    fn name(&self) -> &str {
        self.op.tool_name()
    }

    fn description(&self) -> &str {
        match self.op {
            FileOp::Read => {
                "Reads a text file from your workspace. `path` is relative to the workspace."
            }
            FileOp::Write => {
                "Writes `content` to a file in your workspace (replacing it). `path` is relative."
            }
            FileOp::Delete => "Deletes a file or an empty directory in your workspace.",
            FileOp::List => "Lists a directory of your workspace (default: its top level).",
        }
    }

    fn parameters(&self) -> serde_json::Value {
        let path =
            serde_json::json!({"type": "string", "description": "relative to the workspace"});
        match self.op {
            FileOp::Write => serde_json::json!({
                "type": "object",
                "properties": {"path": path, "content": {"type": "string"}},
                "required": ["path", "content"],
                "additionalProperties": false
            }),
            FileOp::List => serde_json::json!({
                "type": "object", "properties": {"path": path}, "additionalProperties": false
            }),
            FileOp::Read | FileOp::Delete => serde_json::json!({
                "type": "object", "properties": {"path": path}, "required": ["path"], "additionalProperties": false
            }),
        }
    }

    fn risk(&self) -> ToolRisk {
        match self.op {
            FileOp::Read | FileOp::List => ToolRisk::Read,
            FileOp::Write | FileOp::Delete => ToolRisk::Write,
        }
    }

    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let op = self.op;
        let path = match op {
            FileOp::List => args
                .get("path")
                .and_then(serde_json::Value::as_str)
                .unwrap_or(".")
                .to_owned(),
            _ => str_arg(&args, "path")?.to_owned(),
        };
        let content = match op {
            FileOp::Write => Some(str_arg(&args, "content")?.to_owned()),
            _ => None,
        };
        let (home, agent, options) = (self.home.clone(), ctx.agent.clone(), self.options.clone());
        let dir = ctx.workspace.clone();
        // The workspace does blocking filesystem calls: keep them off the async workers.
        let result = tokio::task::spawn_blocking(move || {
            // An agent's own `workspace/NAME/` (created if missing); a spawned child's throwaway
            // directory, which the runtime created for its turn.
            let ws = if dir == home.join("workspace").join(agent.as_str()) {
                Workspace::open_for_agent(&home, &agent, options)?
            } else {
                Workspace::open(&dir, options)?
            };
            match op {
                FileOp::Read => {
                    let bytes = ws.read(&path)?;
                    let text = String::from_utf8_lossy(&bytes);
                    Ok(rampart_guard::wrap_untrusted(&format!("file:{path}"), &text).wrapped)
                }
                FileOp::Write => {
                    let content = content.unwrap_or_default();
                    ws.write(&path, content.as_bytes())?;
                    Ok(format!("wrote {} bytes to {path}", content.len()))
                }
                FileOp::Delete => {
                    ws.delete(&path)?;
                    Ok(format!("deleted {path}"))
                }
                FileOp::List => {
                    let listing = ws.list(&path)?;
                    let entries: Vec<serde_json::Value> = listing
                        .entries
                        .iter()
                        .map(|e| {
                            let kind = match e.kind {
                                EntryKind::File => "file",
                                EntryKind::Directory => "dir",
                                EntryKind::Symlink => "symlink",
                                _ => "other",
                            };
                            serde_json::json!({"name": e.name, "kind": kind, "size": e.size})
                        })
                        .collect();
                    Ok(
                        serde_json::json!({"entries": entries, "truncated": listing.truncated})
                            .to_string(),
                    )
                }
            }
        })
        .await
        .map_err(|_| ToolError::Failed("the file operation was interrupted".to_owned()))?;
        result
            .map(ToolOutput::text)
            .map_err(|e: rampart_sandbox::SandboxError| sandbox_error(&e))
    }
}

/// Refusals are the model's fault (`InvalidInput`); I/O trouble is a failure. Messages name only
/// workspace-relative paths.
fn sandbox_error(e: &rampart_sandbox::SandboxError) -> ToolError {
    use rampart_sandbox::SandboxError as E;
    match e {
        E::Io { .. } | E::Workspace(_) => ToolError::Failed(e.to_string()),
        _ => ToolError::InvalidInput(e.to_string()),
    }
}
