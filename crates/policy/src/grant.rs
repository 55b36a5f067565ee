//! Capabilities as a value that can only shrink: [`Grant`] and [`derive_child`], the one function
//! every `agent_spawn` path goes through (SPEC A6).

use std::collections::BTreeSet;

/// How deep a chain of spawned agents may go (a child of a child of … of a root agent).
///
/// # Security
/// Each spawn is a model-driven fan-out; a bound on depth keeps a prompt-injected agent from
/// recursing without end, even though every child's rights can only shrink.
pub const MAX_SPAWN_DEPTH: u32 = 3;

/// Tools that reach the network and so need a network grant.
pub const NETWORK_TOOLS: &[&str] = &["web_fetch", "peer_send"];

/// What separates a plugin's name from its tool's in a registered tool name (`PLUGIN__TOOL`,
/// as `rampart-plugins` names them; built-in tool names never contain it).
pub const PLUGIN_TOOL_SEPARATOR: &str = "__";

/// Whether `tool` may reach the network: the built-in [`NETWORK_TOOLS`], and every plugin tool.
///
/// # Security
/// A plugin tool can fetch through its granted `http_fetch`, with a host-injected secret; the
/// policy cannot tell from the name which plugin tools do, so an agent left without any network
/// loses them all (fail closed) rather than keeping a way out.
#[must_use]
pub fn reaches_network(tool: &str) -> bool {
    NETWORK_TOOLS.contains(&tool) || tool.contains(PLUGIN_TOOL_SEPARATOR)
}

/// Which hosts an agent may reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkGrant {
    /// Any public host (the manifest's `network = []`); the SSRF rules still apply.
    AnyPublic,
    /// Only these hosts (lowercase). An empty set means no network at all.
    Hosts(BTreeSet<String>),
}

impl NetworkGrant {
    /// The grant a manifest's `network` list means: empty = any public host.
    #[must_use]
    pub fn from_manifest(hosts: &[String]) -> Self {
        if hosts.is_empty() {
            Self::AnyPublic
        } else {
            Self::Hosts(hosts.iter().map(|h| h.to_ascii_lowercase()).collect())
        }
    }

    /// True when nothing at all may be reached.
    #[must_use]
    pub fn is_none(&self) -> bool {
        matches!(self, Self::Hosts(h) if h.is_empty())
    }

    /// True when `host` may be reached.
    #[must_use]
    pub fn allows(&self, host: &str) -> bool {
        match self {
            Self::AnyPublic => true,
            Self::Hosts(h) => h.contains(&host.to_ascii_lowercase()),
        }
    }

    /// The hosts both grants allow.
    #[must_use]
    pub fn intersect(&self, other: &Self) -> Self {
        match (self, other) {
            (Self::AnyPublic, x) | (x, Self::AnyPublic) => x.clone(),
            (Self::Hosts(a), Self::Hosts(b)) => Self::Hosts(a.intersection(b).cloned().collect()),
        }
    }
}

/// Everything an agent may do, as a value. A child's grant is always the intersection of what it
/// asks for with its parent's ([`derive_child`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Tool names the agent may call.
    pub tools: BTreeSet<String>,
    /// Shell commands per session.
    pub max_shell_commands: u32,
    /// File writes per session.
    pub max_file_writes: u32,
    /// Hosts it may reach.
    pub network: NetworkGrant,
    /// Whether `shell_exec` commands may open sockets (the seccomp filter lets `socket()`
    /// through; a container gets `[security.docker] network`). A socket from a shell is not
    /// limited to `network`'s hosts, so this is its own, explicit grant.
    pub shell_network: bool,
    /// How many spawns separate it from a root agent (0 for agents defined by a manifest).
    pub depth: u32,
}

impl Grant {
    /// A grant with nothing in it.
    #[must_use]
    pub fn none() -> Self {
        Self {
            tools: BTreeSet::new(),
            max_shell_commands: 0,
            max_file_writes: 0,
            network: NetworkGrant::Hosts(BTreeSet::new()),
            shell_network: false,
            depth: 0,
        }
    }

    /// True when `tool` is granted.
    #[must_use]
    pub fn allows_tool(&self, tool: &str) -> bool {
        self.tools.contains(tool)
    }
}

/// Why a spawn was refused outright (rather than narrowed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnRefusal {
    /// The parent is already [`MAX_SPAWN_DEPTH`] spawns deep.
    #[error("spawn depth limit ({MAX_SPAWN_DEPTH}) reached")]
    TooDeep,
    /// The parent may not spawn at all (`agent_spawn` is not in its tools).
    #[error("the parent may not spawn agents")]
    NotPermitted,
}

/// The one place a child's capabilities are computed, for every spawn path (agents spawned by
/// spawned agents too): each capability is the intersection of what the child `requested` with
/// what the `parent` holds, and the child sits one level deeper.
///
/// - tools: set intersection; network tools are dropped when the network intersection is empty;
/// - budgets: the minimum;
/// - network: [`NetworkGrant::intersect`];
/// - shell network: only when both hold it and the network intersection is not empty.
///
/// # Errors
/// [`SpawnRefusal`] when the parent lacks `agent_spawn` or is too deep.
pub fn derive_child(parent: &Grant, requested: &Grant) -> Result<Grant, SpawnRefusal> {
    if !parent.allows_tool("agent_spawn") {
        return Err(SpawnRefusal::NotPermitted);
    }
    if parent.depth >= MAX_SPAWN_DEPTH {
        return Err(SpawnRefusal::TooDeep);
    }
    let network = parent.network.intersect(&requested.network);
    let mut tools: BTreeSet<String> = parent
        .tools
        .intersection(&requested.tools)
        .cloned()
        .collect();
    if network.is_none() {
        tools.retain(|t| !reaches_network(t));
    }
    Ok(Grant {
        tools,
        max_shell_commands: parent.max_shell_commands.min(requested.max_shell_commands),
        max_file_writes: parent.max_file_writes.min(requested.max_file_writes),
        shell_network: parent.shell_network && requested.shell_network && !network.is_none(),
        network,
        depth: parent.depth + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn grant(tools: &[&str], shell: u32, writes: u32, net: NetworkGrant) -> Grant {
        Grant {
            tools: set(tools),
            max_shell_commands: shell,
            max_file_writes: writes,
            network: net,
            shell_network: false,
            depth: 0,
        }
    }

    #[test]
    fn child_asking_for_more_gets_no_more() {
        let parent = grant(
            &["agent_spawn", "file_read", "web_fetch"],
            0,
            2,
            NetworkGrant::Hosts(set(&["example.com"])),
        );
        let greedy = grant(
            &[
                "agent_spawn",
                "file_read",
                "shell_exec",
                "file_write",
                "web_fetch",
            ],
            100,
            100,
            NetworkGrant::AnyPublic,
        );
        let child = derive_child(&parent, &greedy).unwrap();
        assert_eq!(child.tools, set(&["agent_spawn", "file_read", "web_fetch"]));
        assert_eq!(child.max_shell_commands, 0);
        assert_eq!(child.max_file_writes, 2);
        assert_eq!(child.network, NetworkGrant::Hosts(set(&["example.com"])));
        assert_eq!(child.depth, 1);
        // And the grandchild, spawned by the child, is bounded by the child.
        let grandchild = derive_child(&child, &greedy).unwrap();
        assert!(!grandchild.allows_tool("shell_exec"));
        assert_eq!(grandchild.depth, 2);
    }

    #[test]
    fn shell_network_needs_the_parents_grant_and_some_network() {
        let mut parent = grant(
            &["agent_spawn", "shell_exec"],
            1,
            0,
            NetworkGrant::AnyPublic,
        );
        let mut asks = grant(&["shell_exec"], 1, 0, NetworkGrant::AnyPublic);
        asks.shell_network = true;
        assert!(!derive_child(&parent, &asks).unwrap().shell_network);
        parent.shell_network = true;
        assert!(derive_child(&parent, &asks).unwrap().shell_network);
        asks.network = NetworkGrant::Hosts(BTreeSet::new());
        assert!(!derive_child(&parent, &asks).unwrap().shell_network);
    }

    #[test]
    fn disjoint_host_lists_mean_no_network_not_any_network() {
        let parent = grant(
            &["agent_spawn", "web_fetch"],
            0,
            0,
            NetworkGrant::Hosts(set(&["a.example"])),
        );
        let asks = grant(
            &["web_fetch"],
            0,
            0,
            NetworkGrant::Hosts(set(&["b.example"])),
        );
        let child = derive_child(&parent, &asks).unwrap();
        assert!(child.network.is_none());
        assert!(!child.network.allows("b.example"));
        assert!(!child.allows_tool("web_fetch"));
    }

    #[test]
    fn spawning_needs_the_right_and_stops_at_the_depth_limit() {
        let no_spawn = grant(&["file_read"], 0, 0, NetworkGrant::AnyPublic);
        assert_eq!(
            derive_child(&no_spawn, &no_spawn),
            Err(SpawnRefusal::NotPermitted)
        );
        let mut g = grant(&["agent_spawn"], 1, 1, NetworkGrant::AnyPublic);
        for _ in 0..MAX_SPAWN_DEPTH {
            g = derive_child(&g, &g).unwrap();
        }
        assert_eq!(derive_child(&g, &g), Err(SpawnRefusal::TooDeep));
    }

    fn any_net() -> impl Strategy<Value = NetworkGrant> {
        prop_oneof![
            Just(NetworkGrant::AnyPublic),
            proptest::collection::btree_set("[a-c]\\.example", 0..3).prop_map(NetworkGrant::Hosts),
        ]
    }

    fn any_grant() -> impl Strategy<Value = Grant> {
        (
            proptest::collection::btree_set(
                prop_oneof![
                    Just("agent_spawn".to_owned()),
                    Just("web_fetch".to_owned()),
                    Just("shell_exec".to_owned()),
                    Just("file_write".to_owned()),
                ],
                0..4,
            ),
            0u32..5,
            0u32..5,
            any_net(),
            0u32..MAX_SPAWN_DEPTH,
            any::<bool>(),
        )
            .prop_map(|(tools, s, w, network, depth, shell_network)| Grant {
                tools,
                max_shell_commands: s,
                max_file_writes: w,
                network,
                shell_network,
                depth,
            })
    }

    proptest! {
        #[test]
        fn a_child_never_exceeds_its_parent(parent in any_grant(), asks in any_grant(), host in "[a-d]\\.example") {
            if let Ok(child) = derive_child(&parent, &asks) {
                prop_assert!(child.tools.is_subset(&parent.tools));
                prop_assert!(child.tools.is_subset(&asks.tools));
                prop_assert!(child.max_shell_commands <= parent.max_shell_commands);
                prop_assert!(child.max_file_writes <= parent.max_file_writes);
                prop_assert!(!child.network.allows(&host) || parent.network.allows(&host));
                prop_assert!(!child.shell_network || (parent.shell_network && asks.shell_network));
                prop_assert!(child.depth > parent.depth);
            }
        }
    }
}
