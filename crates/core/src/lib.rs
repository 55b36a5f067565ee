//! # rampart-core
//!
//! The small vocabulary every other Rampart crate shares. Nothing here does I/O; every type is
//! *parsed* once at a trust boundary and is valid from then on ("parse, don't validate").
//!
//! - [`AgentName`]: an agent's name, safe to use as a path component and in URLs.
//! - [`Role`]: the ordered roles of the gateway's users (`owner > admin > user > viewer`).
//! - [`SecretRef`]: where a secret comes from — `vault:NAME`, `env:VAR` or a literal.
//!
//! ```
//! use rampart_core::{AgentName, Role, SecretRef};
//!
//! let name: AgentName = "assistant".parse().unwrap();
//! assert_eq!(name.as_str(), "assistant");
//! assert!("../etc".parse::<AgentName>().is_err());
//! assert!(Role::Owner > Role::Viewer);
//! assert!(matches!("env:OPENAI_API_KEY".parse::<SecretRef>(), Ok(SecretRef::Env(_))));
//! ```

#![forbid(unsafe_code)]

mod error;
mod name;
mod role;
mod secret_ref;

pub use error::CoreError;
pub use name::{AgentName, MAX_AGENT_NAME_LEN};
pub use role::Role;
pub use secret_ref::SecretRef;
