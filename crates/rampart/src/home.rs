//! Where Rampart's files live (CONTRACT "Files").

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The resolved home directory and config path.
#[derive(Debug, Clone)]
pub(crate) struct Home {
    pub(crate) dir: PathBuf,
    pub(crate) config: PathBuf,
}

impl Home {
    /// `--home`/`RAMPART_HOME`, else `~/.rampart`; `--config`, else `HOME/config.toml`.
    pub(crate) fn resolve(home: Option<PathBuf>, config: Option<PathBuf>) -> anyhow::Result<Self> {
        let dir = match home {
            Some(d) => d,
            None => std::env::var_os("HOME")
                .map(|h| Path::new(&h).join(".rampart"))
                .context("no home directory: set RAMPART_HOME or pass --home DIR")?,
        };
        let config = config.unwrap_or_else(|| dir.join("config.toml"));
        Ok(Self { dir, config })
    }

    /// `data/rampart.db`.
    pub(crate) fn db(&self) -> PathBuf {
        self.dir.join("data").join("rampart.db")
    }
}
