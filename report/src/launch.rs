//! Running a program under the preload library.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The library built into this launcher (empty if it was built without).
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libleaktrace.so"));

/// Where `libleaktrace.so` is: `LEAKTRACE_LIB`, else beside the running
/// binary, else in `../lib/leaktrace/` relative to it (an installed tree),
/// else the copy built into the launcher, written once to the user's cache
/// directory (what `cargo install` gives).
pub fn find_library() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("LEAKTRACE_LIB") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(std::fs::canonicalize(&p).unwrap_or(p))
        } else {
            Err(format!("LEAKTRACE_LIB={} is not a file", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own path: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    for candidate in [
        dir.join("libleaktrace.so"),
        dir.join("../lib/leaktrace/libleaktrace.so"),
    ] {
        if candidate.is_file() {
            return Ok(std::fs::canonicalize(&candidate).unwrap_or(candidate));
        }
    }
    if !EMBEDDED.is_empty() {
        return extract_embedded();
    }
    Err(format!(
        "libleaktrace.so not found beside {} (set LEAKTRACE_LIB)",
        exe.display()
    ))
}

/// Writes the embedded library to `~/.cache/leaktrace/` (or
/// `$XDG_CACHE_HOME/leaktrace/`) under a name that carries a hash of its
/// contents, unless it is there already; a directory of the user's own, so
/// that no other user can put a library of theirs in its place.
fn extract_embedded() -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .ok_or("no cache directory for libleaktrace.so (set HOME or LEAKTRACE_LIB)")?;
    let dir = cache.join("leaktrace");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let meta = std::fs::metadata(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // SAFETY: geteuid has no arguments and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me || meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} is not a private directory of yours (set LEAKTRACE_LIB)",
            dir.display()
        ));
    }
    // FNV-1a: enough to tell builds apart.
    let hash = EMBEDDED.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let path = dir.join(format!("libleaktrace-{hash:016x}.so"));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == EMBEDDED.len() as u64) {
        return Ok(path);
    }
    let tmp = dir.join(format!(".libleaktrace.{}.tmp", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(&tmp)
        .and_then(|mut f| std::io::Write::write_all(&mut f, EMBEDDED))
        .and_then(|_| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(path)
}

/// A fresh private directory for the run's dumps.
pub fn fresh_dir(parent: Option<&Path>) -> Result<PathBuf, String> {
    let base = parent
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    let pid = std::process::id();
    for n in 0..1000u32 {
        let dir = base.join(format!("leaktrace-{pid}-{n}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
    }
    Err(format!("no free directory name in {}", base.display()))
}

/// How the program ended, as a shell would report it.
pub struct Outcome {
    /// The exit code to pass on: the program's own, or 128 + signal.
    pub code: i32,
    pub signal: Option<i32>,
}

/// Runs `program` with the library preloaded, dumps going to `dir`.
pub fn run(
    library: &Path,
    dir: &Path,
    program: &OsString,
    args: &[OsString],
) -> Result<Outcome, String> {
    let mut preload = OsString::from(library.as_os_str());
    if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload.push(" ");
        preload.push(existing);
    }
    let status = Command::new(program)
        .args(args)
        .env("LD_PRELOAD", preload)
        .env("LEAKTRACE_OUT", dir.join("leaktrace"))
        .status()
        .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Outcome { code, signal: None },
        (None, Some(sig)) => Outcome {
            code: 128 + sig,
            signal: Some(sig),
        },
        _ => Outcome {
            code: 1,
            signal: None,
        },
    })
}

/// What a dump file's name says: `<prefix>.<pid>[-n].bin` is a final
/// dump, `<prefix>.<pid>.<k>[-n].bin` snapshot `k`.
fn name_parts(p: &Path) -> Option<(u64, u32)> {
    let name = p.file_name()?.to_str()?.strip_suffix(".bin")?;
    let mut fields = name.rsplit('.');
    let last = fields.next()?;
    let before = fields.next()?;
    let number = |s: &str| s.split('-').next().and_then(|n| n.parse::<u64>().ok());
    match (number(before), number(last)) {
        (Some(pid), Some(k)) if fields.next().is_some() => Some((pid, k as u32)),
        (_, Some(pid)) => Some((pid, 0)),
        _ => None,
    }
}

/// One dump per process of a run: its final dump, or its latest snapshot if
/// it never wrote one (killed by SIGKILL, say). Every final dump is kept: a
/// long run reuses pids, and a later process of a pid writes
/// `<prefix>.<pid>-1.bin`.
pub fn final_dumps_in(dir: &Path) -> Vec<PathBuf> {
    choose_final(dumps_in(dir))
}

fn choose_final(dumps: Vec<PathBuf>) -> Vec<PathBuf> {
    let named: Vec<(u64, u32, PathBuf)> = dumps
        .into_iter()
        .filter_map(|p| name_parts(&p).map(|(pid, k)| (pid, k, p)))
        .collect();
    let has_final: std::collections::HashSet<u64> = named
        .iter()
        .filter(|(_, k, _)| *k == 0)
        .map(|(pid, _, _)| *pid)
        .collect();
    let mut latest: std::collections::HashMap<u64, u32> = Default::default();
    for (pid, k, _) in &named {
        let l = latest.entry(*pid).or_default();
        *l = (*l).max(*k);
    }
    named
        .into_iter()
        .filter(|(pid, k, _)| {
            if has_final.contains(pid) {
                *k == 0
            } else {
                latest.get(pid) == Some(k)
            }
        })
        .map(|(_, _, path)| path)
        .collect()
}

/// The dumps in `dir`, ordered by pid then name.
pub fn dumps_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "bin"))
                .collect()
        })
        .unwrap_or_default();
    let pid_of = |p: &PathBuf| -> u64 {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('.').nth(1))
            .and_then(|s| s.split('-').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX)
    };
    found.sort_by(|a, b| pid_of(a).cmp(&pid_of(b)).then(a.cmp(b)));
    found
}

#[cfg(test)]
mod tests {
    use super::{choose_final, name_parts};
    use std::path::{Path, PathBuf};

    #[test]
    fn every_final_dump_and_else_the_latest_snapshot() {
        let paths = |names: &[&str]| -> Vec<PathBuf> { names.iter().map(PathBuf::from).collect() };
        let chosen = choose_final(paths(&[
            "lt.7.bin",
            "lt.7.1.bin",
            "lt.7-1.bin",
            "lt.8.1.bin",
            "lt.8.3.bin",
            "lt.8.2.bin",
            "lt.9.bin",
            "notes.bin",
        ]));
        assert_eq!(
            chosen,
            paths(&["lt.7.bin", "lt.7-1.bin", "lt.8.3.bin", "lt.9.bin"])
        );
    }

    #[test]
    fn dump_names() {
        assert_eq!(name_parts(Path::new("/d/leaktrace.42.bin")), Some((42, 0)));
        assert_eq!(name_parts(Path::new("leaktrace.42-1.bin")), Some((42, 0)));
        assert_eq!(name_parts(Path::new("leaktrace.42.3.bin")), Some((42, 3)));
        assert_eq!(name_parts(Path::new("a.b.42.3-1.bin")), Some((42, 3)));
        assert_eq!(name_parts(Path::new("leaktrace.x.bin")), None);
    }
}
