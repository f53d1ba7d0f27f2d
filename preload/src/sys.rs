//! Thin wrappers over the few system calls the library makes, so that the
//! `unsafe` they need sits in one place.

use crate::own_maps;
use core::ffi::c_void;

pub fn yield_now() {
    // SAFETY: no arguments, no memory touched.
    unsafe { libc::sched_yield() };
}

pub fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

pub fn set_errno(value: i32) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value };
}

/// Wall-clock time in nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Monotonic time in nanoseconds, for rate limits.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// The kernel's coarse monotonic clock in nanoseconds (a few milliseconds
/// of resolution, read without a system call).
#[inline]
pub fn coarse_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Zeroed anonymous memory straight from the kernel (never the program's
/// heap), registered as the library's own ([`own_maps`]). Pages are only
/// backed when touched.
pub fn map_zeroed(bytes: usize) -> Option<*mut c_void> {
    // SAFETY: an anonymous private mapping, no file, no fixed address.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    own_maps::add(p as u64, bytes as u64);
    Some(p)
}

/// Grows or shrinks a mapping from `map_zeroed`, moving it if need be.
pub fn remap(p: *mut c_void, old: usize, new: usize) -> Option<*mut c_void> {
    // SAFETY: the caller passes a whole mapping it owns; the kernel moves
    // it if it cannot grow in place.
    let q = unsafe { libc::mremap(p, old, new, libc::MREMAP_MAYMOVE) };
    if q == libc::MAP_FAILED {
        return None;
    }
    own_maps::remove(p as u64);
    own_maps::add(q as u64, new as u64);
    Some(q)
}

/// Makes a page-aligned range of a mapping inaccessible (a guard page).
pub fn forbid_access(p: *mut c_void, bytes: usize) -> bool {
    // SAFETY: the caller passes a page-aligned range of its own mapping.
    unsafe { libc::mprotect(p, bytes, libc::PROT_NONE) == 0 }
}

/// Returns memory from `map_zeroed`.
pub fn unmap(p: *mut c_void, bytes: usize) {
    own_maps::remove(p as u64);
    // SAFETY: the caller passes a whole mapping it owns and no longer uses.
    unsafe { libc::munmap(p, bytes) };
}

/// Writes one line to stderr (fd 2) without allocating or buffering.
pub fn write_stderr(line: &str) {
    let mut bytes = line.as_bytes();
    while !bytes.is_empty() {
        // SAFETY: writes from a valid slice.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

pub fn getpid() -> u32 {
    // SAFETY: no arguments.
    unsafe { libc::getpid() as u32 }
}

pub fn getppid() -> u32 {
    // SAFETY: no arguments.
    unsafe { libc::getppid() as u32 }
}

pub fn page_size() -> usize {
    // SAFETY: sysconf has no memory arguments.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// Sleeps while `*word == expected`, at most `timeout_ns` if given. Returns
/// early on a wake, a signal or a spurious wake-up: callers re-check.
pub fn futex_wait(word: &core::sync::atomic::AtomicU32, expected: u32, timeout_ns: Option<u64>) {
    let ts = timeout_ns.map(|ns| libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: FUTEX_WAIT on a live aligned u32, with a valid or null
    // timeout; async-signal-safe (a plain system call).
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            ts_ptr,
        )
    };
}

/// Wakes every thread waiting on `word`. Async-signal-safe.
pub fn futex_wake(word: &core::sync::atomic::AtomicU32) {
    // SAFETY: FUTEX_WAKE on a live aligned u32; touches no other memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        )
    };
}

/// Sends `sig` to the calling thread only. Async-signal-safe.
pub fn raise_here(sig: i32) {
    // SAFETY: plain system calls with integer arguments.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid);
        libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, sig);
    }
}

/// The calling thread's kernel id. Async-signal-safe.
pub fn gettid() -> i32 {
    // SAFETY: no arguments.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// Blocks one signal in the calling thread until dropped; an instance of it
/// raised meanwhile (and not pending before) is consumed, so it is never
/// delivered. For signals the library's own system calls may raise.
pub struct HoldSignal {
    sig: i32,
    old: libc::sigset_t,
    was_pending: bool,
}

impl HoldSignal {
    pub fn new(sig: i32) -> HoldSignal {
        // SAFETY: signal-set calls on valid, initialized sets.
        unsafe {
            let mut set: libc::sigset_t = core::mem::zeroed();
            let mut old: libc::sigset_t = core::mem::zeroed();
            let mut pending: libc::sigset_t = core::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            libc::sigpending(&mut pending);
            let was_pending = libc::sigismember(&pending, sig) == 1;
            HoldSignal {
                sig,
                old,
                was_pending,
            }
        }
    }
}

impl Drop for HoldSignal {
    fn drop(&mut self) {
        // SAFETY: as in `new`; sigtimedwait with a zero timeout only takes
        // a pending instance of `sig` off, without waiting.
        unsafe {
            if !self.was_pending {
                let mut set: libc::sigset_t = core::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, self.sig);
                let zero = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                let errno = errno();
                libc::sigtimedwait(&set, core::ptr::null_mut(), &zero);
                set_errno(errno);
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, core::ptr::null_mut());
        }
    }
}
