//! Settings read from the environment once, when the library starts.

use crate::guard::MAX_DEPTH;
use crate::lock::SpinLock;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Default number of frames kept per stack (`LEAKTRACE_DEPTH`).
pub const DEFAULT_DEPTH: usize = 64;

static DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_DEPTH);
/// Absolute dump prefix, e.g. `/home/me/leaktrace`.
static PREFIX: SpinLock<String> = SpinLock::new(String::new());

fn env(name: &core::ffi::CStr) -> Option<String> {
    // SAFETY: getenv with a valid name; the result is copied at once.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: getenv returns a NUL-terminated string.
    let s = unsafe { core::ffi::CStr::from_ptr(p) };
    Some(s.to_string_lossy().into_owned())
}

/// Reads the environment. The prefix is made absolute now, because the
/// program may chdir before it exits.
pub fn load() {
    if let Some(d) = env(c"LEAKTRACE_DEPTH") {
        match d.trim().parse::<usize>() {
            Ok(n) if n >= 1 => DEPTH.store(n.min(MAX_DEPTH), Ordering::Relaxed),
            _ => crate::sys::write_stderr(&format!(
                "leaktrace: LEAKTRACE_DEPTH={d:?} is not a positive number; using {DEFAULT_DEPTH}\n"
            )),
        }
    }
    let prefix = env(c"LEAKTRACE_OUT")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "leaktrace".to_string());
    let absolute = if prefix.starts_with('/') {
        prefix
    } else {
        match std::env::current_dir() {
            Ok(cwd) => format!("{}/{}", cwd.display(), prefix),
            Err(_) => prefix,
        }
    };
    *PREFIX.lock() = absolute;
}

/// Frames to keep per stack.
#[inline]
pub fn depth() -> usize {
    DEPTH.load(Ordering::Relaxed)
}

/// The dump prefix.
pub fn prefix() -> String {
    PREFIX.lock().clone()
}
