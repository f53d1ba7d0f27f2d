//! Settings read from the environment once, when the library starts.

use crate::guard::MAX_DEPTH;
use crate::lock::SpinLock;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Default number of frames kept per stack (`LEAKTRACE_DEPTH`).
pub const DEFAULT_DEPTH: usize = 64;

static DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_DEPTH);
/// Mean bytes between samples (`LEAKTRACE_SAMPLE`); 0 records everything.
static SAMPLE_BYTES: AtomicU64 = AtomicU64::new(0);
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
    if let Some(v) = env(c"LEAKTRACE_SAMPLE") {
        match parse_size(&v) {
            Some(n) => SAMPLE_BYTES.store(n, Ordering::Relaxed),
            None => crate::sys::write_stderr(&format!(
                "leaktrace: LEAKTRACE_SAMPLE={v:?} is not a byte size (like 512k); recording every allocation\n"
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

/// Mean bytes between sampled allocations, 0 when every one is recorded.
#[inline]
pub fn sample_bytes() -> u64 {
    SAMPLE_BYTES.load(Ordering::Relaxed)
}

/// "512k", "4M", "1g", "4096" → bytes (k = 1024). `None` for anything else.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (digits, scale) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = digits.trim().parse().ok()?;
    n.checked_mul(scale).filter(|&b| b > 0)
}

/// The dump prefix.
pub fn prefix() -> String {
    PREFIX.lock().clone()
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512k"), Some(512 * 1024));
        assert_eq!(parse_size("4M"), Some(4 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size(" 64KB "), Some(64 << 10));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size(""), None);
    }
}
