//! `[[users]]`: the people who run Rampart, their roles and their API keys (SPEC A5).
//!
//! A user's key is never in the file: only its hash (`api_key_hash`), argon2id in the PHC string
//! format (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`, what `rampart keygen --hash` prints) or
//! bcrypt (`$2b$COST$…`). The hash is parsed here, so a malformed one is a configuration error
//! at load time, never a login that silently cannot succeed.

use std::collections::BTreeMap;

use rampart_core::Role;

/// The most `[[users]]` entries a config may have.
///
/// # Security
/// A presented key that is not in the gateway's cache of verified keys is checked against every
/// enabled user's hash, with no early exit (so the time taken does not say which user matched).
/// That costs one argon2 verification per user (tens of milliseconds each at the default cost,
/// see `benches/key_check.rs` in the gateway), so with 64 users an unknown key takes seconds; a
/// known key is cached after its first use. Users are the people who run the gateway, not the
/// people who chat with it (those are channel users, see `[channels.*] allowed_users`).
pub const MAX_USERS: usize = 64;
/// The most `channel_bindings` one user may have.
pub const MAX_CHANNEL_BINDINGS: usize = 32;
/// The longest user name, channel name or channel user id accepted.
pub const MAX_USER_FIELD_LEN: usize = 64;
/// The lowest bcrypt cost accepted.
///
/// # Security
/// Below 10 a leaked bcrypt hash is cheap to brute-force; bcrypt is accepted for keys made by
/// other tools, and argon2id (the default of `rampart keygen --hash`) is preferred.
pub const MIN_BCRYPT_COST: u32 = 10;

/// One `[[users]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserConfig {
    /// `name`: unique, `[a-z0-9_.-]`, at most [`MAX_USER_FIELD_LEN`] characters. How the audit
    /// trail names the user (`user:NAME`).
    pub name: String,
    /// `role` (default `viewer`, the least): `owner` > `admin` > `user` > `viewer`.
    pub role: Role,
    /// `channel_bindings`: channel name → that channel's user id for this person (e.g.
    /// `{ telegram = "123456789" }`). Default none.
    pub channel_bindings: BTreeMap<String, String>,
    /// `api_key_hash`: the hash of the user's API key. Default none: the user cannot use the API.
    pub api_key_hash: Option<KeyHash>,
    /// `enabled` (default `true`). A disabled user's key is refused, and on reload their open
    /// WebSockets are closed.
    pub enabled: bool,
}

/// A parsed `api_key_hash`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyHash {
    /// An argon2id PHC string.
    Argon2id(String),
    /// A bcrypt hash (`$2b$`, `$2a$` or `$2y$`).
    Bcrypt(String),
}

impl KeyHash {
    /// The hash string as written in the config.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Argon2id(s) | Self::Bcrypt(s) => s,
        }
    }
}

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A hash is not the key, but there is no reason to print it either.
        match self {
            Self::Argon2id(_) => f.write_str("KeyHash::Argon2id(..)"),
            Self::Bcrypt(_) => f.write_str("KeyHash::Bcrypt(..)"),
        }
    }
}

impl std::str::FromStr for KeyHash {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.starts_with("$argon2") {
            let parsed = argon2::PasswordHash::new(s)
                .map_err(|e| format!("not a valid argon2 PHC string ({e})"))?;
            if parsed.algorithm != argon2::ARGON2ID_IDENT {
                return Err(format!(
                    "{} is not accepted; use argon2id (`rampart keygen --hash`)",
                    parsed.algorithm
                ));
            }
            argon2::Params::try_from(&parsed)
                .map_err(|e| format!("argon2id parameters are not valid ({e})"))?;
            if parsed.hash.is_none() {
                return Err("the argon2id string has no hash part".to_owned());
            }
            return Ok(Self::Argon2id(s.to_owned()));
        }
        for prefix in ["$2b$", "$2a$", "$2y$"] {
            if let Some(rest) = s.strip_prefix(prefix) {
                return parse_bcrypt(rest).map(|()| Self::Bcrypt(s.to_owned()));
            }
        }
        Err("must be an argon2id hash (\"$argon2id$…\", see `rampart keygen --hash`) or a bcrypt hash (\"$2b$…\")".to_owned())
    }
}

/// Checks the part of a bcrypt hash after `$2b$`: `NN$` and 53 characters of bcrypt's base64.
fn parse_bcrypt(rest: &str) -> Result<(), String> {
    let (cost, tail) = rest
        .split_once('$')
        .ok_or_else(|| "a bcrypt hash looks like $2b$12$ followed by 53 characters".to_owned())?;
    let cost: u32 = cost
        .parse()
        .map_err(|_| "the bcrypt cost is not a number".to_owned())?;
    if !(MIN_BCRYPT_COST..=31).contains(&cost) {
        return Err(format!(
            "the bcrypt cost must be between {MIN_BCRYPT_COST} and 31"
        ));
    }
    let alphabet_ok = tail
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/');
    if tail.len() != 53 || !alphabet_ok {
        return Err("a bcrypt hash has 53 characters after the cost".to_owned());
    }
    Ok(())
}

/// The raw `[[users]]` entry.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUser {
    name: String,
    role: Option<Role>,
    #[serde(default)]
    channel_bindings: BTreeMap<String, String>,
    api_key_hash: Option<String>,
    enabled: Option<bool>,
}

fn valid_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_USER_FIELD_LEN
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        })
}

/// Names the gateway uses for principals that are not `[[users]]`.
const RESERVED_NAMES: [&str; 3] = ["api_key", "local", "system"];

/// Checks the raw entries; an error is `(dotted key, message)`.
pub(crate) fn into_users(raw: Vec<RawUser>) -> Result<Vec<UserConfig>, (String, String)> {
    if raw.len() > MAX_USERS {
        return Err((
            "users".to_owned(),
            format!("at most {MAX_USERS} users (see MAX_USERS)"),
        ));
    }
    let mut out: Vec<UserConfig> = Vec::with_capacity(raw.len());
    for (i, u) in raw.into_iter().enumerate() {
        let at = |field: &str| format!("users[{i}].{field}");
        if !valid_ident(&u.name) {
            return Err((
                at("name"),
                format!("must be 1 to {MAX_USER_FIELD_LEN} characters of a-z, 0-9, _ - ."),
            ));
        }
        if RESERVED_NAMES.contains(&u.name.as_str()) {
            return Err((at("name"), format!("{:?} is reserved", u.name)));
        }
        if out.iter().any(|o| o.name == u.name) {
            return Err((at("name"), format!("{:?} is listed twice", u.name)));
        }
        if u.channel_bindings.len() > MAX_CHANNEL_BINDINGS {
            return Err((
                at("channel_bindings"),
                format!("at most {MAX_CHANNEL_BINDINGS} bindings"),
            ));
        }
        for (channel, id) in &u.channel_bindings {
            if !valid_ident(channel) {
                return Err((
                    at("channel_bindings"),
                    format!("{:?} is not a channel name", channel.escape_debug()),
                ));
            }
            if id.is_empty() || id.len() > MAX_USER_FIELD_LEN || id.chars().any(char::is_control) {
                return Err((
                    at(&format!("channel_bindings.{channel}")),
                    format!("must be 1 to {MAX_USER_FIELD_LEN} printable characters"),
                ));
            }
        }
        let api_key_hash = u
            .api_key_hash
            .as_deref()
            .map(str::parse::<KeyHash>)
            .transpose()
            .map_err(|m| (at("api_key_hash"), m))?;
        out.push(UserConfig {
            name: u.name,
            role: u.role.unwrap_or(Role::Viewer),
            channel_bindings: u.channel_bindings,
            api_key_hash,
            enabled: u.enabled.unwrap_or(true),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    /// argon2id of "k" with m=8, t=1, p=1 (a test cost).
    const ARGON: &str =
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$2lVPoyj+1TrX0uJU/4C4iEqr9XZs5x/qh1E6lZ8zlA8";
    const BCRYPT: &str = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";

    fn parse(s: &str) -> Result<Config, crate::ConfigError> {
        Config::from_toml_str(s, "config.toml")
    }

    #[test]
    fn users_parse_with_secure_defaults() {
        let c = parse(&format!(
            "[[users]]\nname = \"alice\"\nrole = \"owner\"\nchannel_bindings = {{ telegram = \"123\" }}\n\
             api_key_hash = \"{ARGON}\"\n[[users]]\nname = \"bob\"\napi_key_hash = \"{BCRYPT}\"\n"
        ))
        .unwrap();
        assert_eq!(c.users.len(), 2);
        assert_eq!(c.users[0].role, Role::Owner);
        assert_eq!(c.users[0].channel_bindings["telegram"], "123");
        assert!(matches!(
            c.users[0].api_key_hash,
            Some(KeyHash::Argon2id(_))
        ));
        assert_eq!(c.users[1].role, Role::Viewer, "the least role by default");
        assert!(c.users[1].enabled);
        assert!(matches!(c.users[1].api_key_hash, Some(KeyHash::Bcrypt(_))));
        assert!(parse("").unwrap().users.is_empty());
    }

    #[test]
    fn unknown_user_key_names_the_line() {
        let err = parse("[[users]]\nname = \"a\"\nrol = \"owner\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config.toml:3:"), "{err}");
        assert!(err.contains("rol"), "{err}");
        let err = parse("[[users]]\nname = \"a\"\nrole = \"root\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config.toml:3:"), "{err}");
    }

    #[test]
    fn bad_users_are_refused() {
        for (bad, key) in [
            ("[[users]]\nname = \"Alice!\"\n", "users[0].name"),
            ("[[users]]\nname = \"api_key\"\n", "users[0].name"),
            (
                "[[users]]\nname = \"a\"\n[[users]]\nname = \"a\"\n",
                "users[1].name",
            ),
            (
                "[[users]]\nname = \"a\"\napi_key_hash = \"plaintext-key\"\n",
                "users[0].api_key_hash",
            ),
            (
                "[[users]]\nname = \"a\"\napi_key_hash = \"$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$2lVPoyj+1TrX0uJU/4C4iEqr9XZs5x/qh1E6lZ8zlA8\"\n",
                "users[0].api_key_hash",
            ),
            (
                "[[users]]\nname = \"a\"\napi_key_hash = \"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ\"\n",
                "users[0].api_key_hash",
            ),
            (
                "[[users]]\nname = \"a\"\napi_key_hash = \"$2b$04$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy\"\n",
                "users[0].api_key_hash",
            ),
            (
                "[[users]]\nname = \"a\"\napi_key_hash = \"$2b$10$short\"\n",
                "users[0].api_key_hash",
            ),
            (
                "[[users]]\nname = \"a\"\nchannel_bindings = { \"Tele gram\" = \"1\" }\n",
                "users[0].channel_bindings",
            ),
            (
                "[[users]]\nname = \"a\"\nchannel_bindings = { telegram = \"\" }\n",
                "users[0].channel_bindings.telegram",
            ),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(key), "{bad}: {err}");
        }
        let many: String = (0..=MAX_USERS)
            .map(|i| format!("[[users]]\nname = \"u{i}\"\n"))
            .collect();
        assert!(parse(&many).unwrap_err().to_string().contains("users"));
    }

    #[test]
    fn a_hash_is_not_printed_by_debug() {
        let h: KeyHash = ARGON.parse().unwrap();
        assert!(!format!("{h:?}").contains("c2FsdHNhbHQ"));
    }
}
