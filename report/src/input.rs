//! Reading dump files, with errors that name the file.

use leaktrace_format::Dump;
use std::path::Path;

/// A dump and where it came from.
pub struct Input {
    pub path: String,
    pub dump: Dump,
}

/// Reads and parses one dump; the error is one line naming the file.
pub fn read(path: &Path) -> Result<Input, String> {
    let shown = path.display().to_string();
    let data = std::fs::read(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let dump = leaktrace_format::parse(&data).map_err(|e| format!("{shown}: {e}"))?;
    Ok(Input { path: shown, dump })
}
