//! Plugin directories on disk: reading a bundle (`plugin.toml`, `plugin.wasm`, optional
//! `plugin.sig`), verifying it, and installing, listing and removing plugins under
//! `$RAMPART_HOME/plugins/NAME/`.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use rampart_guard::{ScanKind, scan};

use crate::PluginError;
use crate::host::MAX_CODE_BYTES;
use crate::manifest::{MAX_MANIFEST_BYTES, Manifest};
use crate::sign::{self, TrustStore};

/// The manifest's file name.
pub const MANIFEST_FILE: &str = "plugin.toml";
/// The code's file name.
pub const CODE_FILE: &str = "plugin.wasm";
/// The signature's file name.
pub const SIGNATURE_FILE: &str = "plugin.sig";

/// Largest `plugin.sig` read.
///
/// # Security
/// The signature file is untrusted input.
const MAX_SIG_BYTES: usize = 4096;

/// A plugin's files, as read (nothing checked yet).
#[derive(Clone, Debug)]
pub struct Bundle {
    /// `plugin.toml` bytes.
    pub manifest: Vec<u8>,
    /// `plugin.wasm` bytes.
    pub code: Vec<u8>,
    /// `plugin.sig` text, if present.
    pub signature: Option<String>,
}

/// A bundle whose manifest parsed, whose signature checked out, and whose texts passed the
/// injection scan.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Verified {
    /// The manifest.
    pub manifest: Manifest,
    /// The trusted key that signed it, if any.
    pub publisher: Option<String>,
    /// The files.
    pub bundle: Bundle,
}

fn read_capped(path: &Path, cap: usize) -> Result<Vec<u8>, PluginError> {
    let f = std::fs::File::open(path).map_err(|e| PluginError::io(path, e))?;
    let mut bytes = Vec::new();
    f.take(u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| PluginError::io(path, e))?;
    if bytes.len() > cap {
        return Err(PluginError::Manifest(format!(
            "{} is larger than {cap} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

impl Bundle {
    /// Reads a plugin directory.
    ///
    /// # Errors
    /// [`PluginError::Io`] for a missing file, [`PluginError::Manifest`] for an oversized one.
    pub fn read(dir: &Path) -> Result<Self, PluginError> {
        let manifest = read_capped(&dir.join(MANIFEST_FILE), MAX_MANIFEST_BYTES)?;
        let code = read_capped(&dir.join(CODE_FILE), MAX_CODE_BYTES)?;
        let sig_path = dir.join(SIGNATURE_FILE);
        let signature = if sig_path.exists() {
            let bytes = read_capped(&sig_path, MAX_SIG_BYTES)?;
            Some(
                String::from_utf8(bytes).map_err(|_| PluginError::SignatureFormat {
                    plugin: dir.display().to_string(),
                    detail: "not UTF-8".to_owned(),
                })?,
            )
        } else {
            None
        };
        Ok(Self {
            manifest,
            code,
            signature,
        })
    }

    /// Parses the manifest, checks the signature against `trust`, and scans every description
    /// for injections (SPEC I3). Run at install and again at every load: the files on disk
    /// may have changed in between.
    ///
    /// # Errors
    /// [`PluginError::Manifest`], the signature errors of [`sign::verify`],
    /// [`PluginError::Injection`].
    pub fn verify(self, trust: &TrustStore, require_signed: bool) -> Result<Verified, PluginError> {
        let text = std::str::from_utf8(&self.manifest)
            .map_err(|_| PluginError::Manifest("plugin.toml is not UTF-8".to_owned()))?;
        let manifest = Manifest::parse(text)?;
        let publisher = sign::verify(
            &manifest.name,
            &self.manifest,
            &self.code,
            self.signature.as_deref(),
            trust,
            require_signed,
        )?;
        for (field, text) in manifest.texts_for_scan() {
            let report = scan(&text, ScanKind::Skill);
            if report.is_injection() {
                let mut categories: Vec<&str> = report
                    .findings
                    .iter()
                    .map(|f| f.category.as_str())
                    .collect();
                categories.dedup();
                return Err(PluginError::Injection {
                    plugin: manifest.name.clone(),
                    field,
                    categories: categories.join(", "),
                });
            }
        }
        Ok(Verified {
            manifest,
            publisher,
            bundle: self,
        })
    }
}

/// One installed plugin, as `list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Installed {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Tool names as agents see them.
    pub tools: Vec<String>,
    /// Whether a `plugin.sig` is present (not whether it is trusted: `start` checks that).
    pub signed: bool,
    /// SHA-256 of the code.
    pub code_sha256: String,
}

/// `$RAMPART_HOME/plugins`.
#[must_use]
pub fn plugins_dir(home: &Path) -> PathBuf {
    home.join("plugins")
}

/// Writes a verified bundle to `root/NAME/` (replacing an older version), each file written
/// durably. The caller should have also compiled it ([`crate::PluginHost::load`]) so a module
/// that cannot load is refused at install, not at start.
///
/// # Errors
/// [`PluginError::Io`].
pub fn install(root: &Path, verified: &Verified) -> Result<PathBuf, PluginError> {
    rampart_durable::ensure_private_dir(root).map_err(|e| PluginError::io(root, e))?;
    let dir = root.join(&verified.manifest.name);
    rampart_durable::ensure_private_dir(&dir).map_err(|e| PluginError::io(&dir, e))?;
    let b = &verified.bundle;
    let sig_path = dir.join(SIGNATURE_FILE);
    match &b.signature {
        Some(sig) => rampart_durable::write_atomic(&sig_path, sig.as_bytes(), 0o600)
            .map_err(|e| PluginError::io(&sig_path, e))?,
        None => match std::fs::remove_file(&sig_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(PluginError::io(&sig_path, e)),
        },
    }
    for (file, bytes) in [(CODE_FILE, &b.code), (MANIFEST_FILE, &b.manifest)] {
        let path = dir.join(file);
        rampart_durable::write_atomic(&path, bytes, 0o600)
            .map_err(|e| PluginError::io(&path, e))?;
    }
    Ok(dir)
}

/// The installed plugins, by name. A directory whose files cannot be read or whose manifest does
/// not parse is listed with version `"?"`, so that loading it is refused and audited.
///
/// # Errors
/// [`PluginError::Io`] when `root` exists but cannot be read.
pub fn list(root: &Path) -> Result<Vec<Installed>, PluginError> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(PluginError::io(root, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| PluginError::io(root, e))?;
        if !entry
            .file_type()
            .map_err(|e| PluginError::io(root, e))?
            .is_dir()
        {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let dir = entry.path();
        let Ok(bundle) = Bundle::read(&dir) else {
            // Listed anyway, so that loading it fails (and is audited) rather than vanishing.
            out.push(Installed {
                name,
                version: "?".to_owned(),
                tools: Vec::new(),
                signed: false,
                code_sha256: String::new(),
            });
            continue;
        };
        let parsed = std::str::from_utf8(&bundle.manifest)
            .ok()
            .and_then(|t| Manifest::parse(t).ok());
        out.push(Installed {
            version: parsed
                .as_ref()
                .map_or("?".to_owned(), |m| m.version.clone()),
            tools: parsed.as_ref().map_or_else(Vec::new, |m| {
                m.tools
                    .iter()
                    .map(|t| crate::tool::tool_name(&m.name, &t.name))
                    .collect()
            }),
            name,
            signed: bundle.signature.is_some(),
            code_sha256: sign::sha256_hex(&bundle.code),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Removes `root/NAME/`. Returns false when no such plugin is installed.
///
/// # Errors
/// [`PluginError::Manifest`] for an invalid name, [`PluginError::Io`].
pub fn remove(root: &Path, name: &str) -> Result<bool, PluginError> {
    if !crate::manifest::valid_name(name) {
        return Err(PluginError::Manifest(format!(
            "{name:?} is not a plugin name"
        )));
    }
    let dir = root.join(name);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {
            rampart_durable::sync_dir(root).map_err(|e| PluginError::io(root, e))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(PluginError::io(&dir, e)),
    }
}
