//! The generator behind `cargo xtask gen` and `cargo xtask check`. From the route
//! table and the function table of `chatbot-core` it renders the `cargo lambda
//! watch` router (between markers in the root Cargo.toml), the function resources
//! of `template.yaml` (between markers there), and the crate of any function that
//! has none. Rendering is plain text from the tables, in table order, so the same
//! tables always give the same bytes.

pub mod crates;
pub mod markers;
pub mod template;
pub mod watch;

use std::io;
use std::path::{Path, PathBuf};

use chatbot_core::routes::{Function, Route, FUNCTIONS, ROUTES};

/// The tables to render: the core's, or a test's own.
#[derive(Clone, Copy)]
pub struct Tables<'a> {
    pub routes: &'a [Route],
    pub functions: &'a [Function],
}

impl Tables<'static> {
    /// The tables the API is built from.
    pub fn core() -> Self {
        Tables {
            routes: ROUTES,
            functions: FUNCTIONS,
        }
    }
}

impl Tables<'_> {
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name)
    }
}

/// The route patterns in the order they first appear.
pub(crate) fn paths_in_order<'r>(routes: impl Iterator<Item = &'r Route>) -> Vec<&'static str> {
    let mut paths = Vec::new();
    for route in routes {
        if !paths.contains(&route.path) {
            paths.push(route.path);
        }
    }
    paths
}

/// A file the generator writes, whole or between its markers.
#[derive(Debug)]
pub struct Artifact {
    /// Relative to the repository root.
    pub path: PathBuf,
    /// What the file must contain.
    pub wanted: String,
    /// What it contains now; `None` when it does not exist.
    pub current: Option<String>,
}

impl Artifact {
    pub fn is_stale(&self) -> bool {
        self.current.as_deref() != Some(self.wanted.as_str())
    }
}

/// The repository this crate is in.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is a directory of the repository")
        .to_path_buf()
}

/// Every file the tables determine, with its wanted and current contents.
pub fn artifacts(repo: &Path, tables: &Tables) -> io::Result<Vec<Artifact>> {
    let mut artifacts = vec![
        marked(repo, "Cargo.toml", &watch::render(tables))?,
        marked(repo, "template.yaml", &template::render(tables))?,
    ];
    for function in tables.functions {
        let dir = Path::new("functions").join(function.name);
        if repo.join(&dir).exists() {
            continue;
        }
        for (file, wanted) in crates::render(function) {
            artifacts.push(Artifact {
                path: dir.join(file),
                wanted,
                current: None,
            });
        }
    }
    Ok(artifacts)
}

/// A file whose generated block is `block`.
fn marked(repo: &Path, path: &str, block: &str) -> io::Result<Artifact> {
    let current = std::fs::read_to_string(repo.join(path))?;
    let wanted = markers::splice(&current, block).map_err(|e| io::Error::other(format!("{path}: {e}")))?;
    Ok(Artifact {
        path: PathBuf::from(path),
        wanted,
        current: Some(current),
    })
}

/// The artifacts that differ from what the tables give.
pub fn stale(repo: &Path, tables: &Tables) -> io::Result<Vec<Artifact>> {
    Ok(artifacts(repo, tables)?
        .into_iter()
        .filter(Artifact::is_stale)
        .collect())
}

/// Writes every stale artifact; returns what it wrote.
pub fn generate(repo: &Path, tables: &Tables) -> io::Result<Vec<Artifact>> {
    let stale = stale(repo, tables)?;
    for artifact in &stale {
        let path = repo.join(&artifact.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &artifact.wanted)?;
    }
    Ok(stale)
}

#[cfg(test)]
mod tests;
