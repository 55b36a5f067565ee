//! Agent runtime: manifests, the agent loop, providers, the tool registry.

#![forbid(unsafe_code)]
