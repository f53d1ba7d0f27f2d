//! Settings read from the environment once, when the library starts.

use crate::guard::MAX_DEPTH;
use crate::lock::SpinLock;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Default number of frames kept per stack (`LEAKTRACE_DEPTH`).
pub const DEFAULT_DEPTH: usize = 64;

static DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_DEPTH);
/// Mean bytes between samples (`LEAKTRACE_SAMPLE`); 0 records everything.
static SAMPLE_BYTES: AtomicU64 = AtomicU64::new(0);
/// The snapshot signal (`LEAKTRACE_SIGNAL`); 0 for none.
static SIGNAL: AtomicI32 = AtomicI32::new(libc::SIGUSR1);
/// Nanoseconds between periodic snapshots (`LEAKTRACE_INTERVAL`); 0 for none.
static INTERVAL_NS: AtomicU64 = AtomicU64::new(0);
/// `LEAKTRACE_CLASSIFY`: 0 never, 1 at exit (default), 2 also snapshots.
static CLASSIFY: AtomicU32 = AtomicU32::new(1);
/// Whether children are tracked (`LEAKTRACE_FOLLOW`, default yes).
static FOLLOW: AtomicBool = AtomicBool::new(true);
/// Whether captures look up a thread's recurring stacks
/// (`LEAKTRACE_STACK_CACHE`, default yes): off, every capture walks, so
/// the bench can show what the cache buys.
static STACK_CACHE: AtomicBool = AtomicBool::new(true);
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
    if let Some(v) = env(c"LEAKTRACE_SIGNAL") {
        match parse_signal(&v) {
            Some(n) => SIGNAL.store(n, Ordering::Relaxed),
            None => crate::sys::write_stderr(&format!(
                "leaktrace: LEAKTRACE_SIGNAL={v:?} is not USR1, USR2, a signal number or none; using USR1\n"
            )),
        }
    }
    if let Some(v) = env(c"LEAKTRACE_INTERVAL") {
        match parse_duration_ns(&v) {
            Some(n) => INTERVAL_NS.store(n, Ordering::Relaxed),
            None => crate::sys::write_stderr(&format!(
                "leaktrace: LEAKTRACE_INTERVAL={v:?} is not a duration (like 10s or 500ms); no periodic snapshots\n"
            )),
        }
    }
    if let Some(v) = env(c"LEAKTRACE_CLASSIFY") {
        match v.trim() {
            "0" | "no" | "off" => CLASSIFY.store(0, Ordering::Relaxed),
            "1" | "yes" | "on" => CLASSIFY.store(2, Ordering::Relaxed),
            _ => crate::sys::write_stderr(&format!(
                "leaktrace: LEAKTRACE_CLASSIFY={v:?} is not 0 or 1; classifying the final dump only\n"
            )),
        }
    }
    if let Some(v) = env(c"LEAKTRACE_FOLLOW") {
        FOLLOW.store(
            !matches!(v.trim(), "0" | "no" | "false" | "off"),
            Ordering::Relaxed,
        );
    }
    if let Some(v) = env(c"LEAKTRACE_STACK_CACHE") {
        match v.trim() {
            "0" | "no" | "off" => STACK_CACHE.store(false, Ordering::Relaxed),
            "1" | "yes" | "on" => STACK_CACHE.store(true, Ordering::Relaxed),
            _ => crate::sys::write_stderr(&format!(
                "leaktrace: LEAKTRACE_STACK_CACHE={v:?} is not 0 or 1; using the cache\n"
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

/// The snapshot signal, 0 for none.
pub fn signal() -> i32 {
    SIGNAL.load(Ordering::Relaxed)
}

/// Nanoseconds between periodic snapshots, 0 for none.
pub fn interval_ns() -> u64 {
    INTERVAL_NS.load(Ordering::Relaxed)
}

/// Whether dumps get each block's kind (reachable, definite, ...).
pub fn classify() -> bool {
    CLASSIFY.load(Ordering::Relaxed) != 0
}

/// Whether snapshots are classified too (`LEAKTRACE_CLASSIFY=1`).
pub fn classify_snapshots() -> bool {
    CLASSIFY.load(Ordering::Relaxed) == 2
}

/// Whether forked and exec'd children are tracked.
pub fn follow() -> bool {
    FOLLOW.load(Ordering::Relaxed)
}

/// Whether captures may take a recurring stack from the thread's cache.
#[inline]
pub fn stack_cache() -> bool {
    STACK_CACHE.load(Ordering::Relaxed)
}

/// "USR1", "SIGUSR2", "12", "none" → signal number (0 for none). Only
/// signals a program can catch and that are not the fatal ones leaktrace
/// dumps on (TERM, INT, HUP) are accepted.
pub fn parse_signal(text: &str) -> Option<i32> {
    let t = text.trim().to_ascii_uppercase();
    let name = t.strip_prefix("SIG").unwrap_or(&t);
    let n = match name {
        "NONE" | "0" => return Some(0),
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "WINCH" => libc::SIGWINCH,
        "URG" => libc::SIGURG,
        "PWR" => libc::SIGPWR,
        _ => name.parse().ok()?,
    };
    let forbidden = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGABRT,
    ];
    ((1..=64).contains(&n) && !forbidden.contains(&n)).then_some(n)
}

/// `LEAKTRACE_INTERVAL`: a duration as leaktrace_format::parse_duration
/// reads it ("10s", "500ms", "2m", "1h", "1.5s", "30" seconds), from 1 ms
/// up, in nanoseconds.
pub fn parse_duration_ns(text: &str) -> Option<u64> {
    let ns = leaktrace_format::parse_duration(text)?.as_nanos();
    (1_000_000..1_000_000_000_000_000_000)
        .contains(&ns)
        .then_some(ns as u64)
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

/// In a forked child: the dump thread may have been reading the prefix at
/// the fork; nobody holds the lock here.
pub fn after_fork_child() {
    PREFIX.unlock_raw();
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

    #[test]
    fn signals() {
        use super::parse_signal;
        assert_eq!(parse_signal("USR1"), Some(libc::SIGUSR1));
        assert_eq!(parse_signal("sigusr2"), Some(libc::SIGUSR2));
        assert_eq!(parse_signal("34"), Some(34));
        assert_eq!(parse_signal("none"), Some(0));
        assert_eq!(parse_signal("TERM"), None);
        assert_eq!(parse_signal("9"), None);
        assert_eq!(parse_signal("65"), None);
        assert_eq!(parse_signal("often"), None);
    }

    #[test]
    fn durations() {
        // The units are leaktrace_format::parse_duration's (tested there);
        // here, nanoseconds and the 1 ms floor.
        use super::parse_duration_ns;
        assert_eq!(parse_duration_ns("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration_ns("1ms"), Some(1_000_000));
        assert_eq!(parse_duration_ns("999us"), None);
        assert_eq!(parse_duration_ns("soon"), None);
    }
}
