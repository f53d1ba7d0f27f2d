//! Start, stop and fork: the library's state machine and every entry point
//! that is not a malloc hook (constructor, exit handler, fork handlers).
//!
//! Initialisation happens in whichever comes first, the first hook call or
//! the constructor: other libraries' constructors run before ours and
//! allocate (libstdc++'s exception pool), and those blocks must be tracked.

use crate::guard::{self, Busy};
use crate::unwind::Caller;
use crate::{config, dump, dumper, libc_next, modules, real, signals, stacks, stats, sys, table};
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use leaktrace_format::Trigger;

const UNINIT: u8 = 0;
const INITIALIZING: u8 = 1;
const TRACKING: u8 = 2;
const OFF: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);
/// The pid being tracked: a vfork()ed child shares our memory under
/// another pid and must not write dumps.
static PID: AtomicU32 = AtomicU32::new(0);
static START_NS: AtomicU64 = AtomicU64::new(0);
/// The coarse monotonic clock when tracking started (`now_ds`).
static START_COARSE_NS: AtomicU64 = AtomicU64::new(0);
/// `LEAKTRACE_FOLLOW=0` records the first tracked pid here, for the
/// images its children exec to find.
const ROOT_PID_VAR: &core::ffi::CStr = c"LEAKTRACE_ROOT_PID";

/// Enters the library from a hook: `Some` when this call should be
/// recorded, `None` when it must pass straight through (re-entrant call,
/// tracking off, or another thread still initialising).
#[inline]
pub fn enter() -> Option<Busy> {
    let busy = guard::enter()?;
    match STATE.load(Ordering::Acquire) {
        TRACKING => Some(busy),
        UNINIT => {
            init();
            (STATE.load(Ordering::Acquire) == TRACKING).then_some(busy)
        }
        _ => None,
    }
}

/// Nanoseconds since the epoch when tracking started.
pub fn start_ns() -> u64 {
    START_NS.load(Ordering::Relaxed)
}

/// Tenths of a second since tracking started: a block's allocation time.
/// Read from [`NOW_DS`] while the library's thread keeps it, else from the
/// kernel's coarse clock (10 ns through the vDSO, a tenth of a traced
/// malloc+free).
#[inline]
pub fn now_ds() -> u32 {
    match NOW_DS.load(Ordering::Relaxed) {
        NOT_KEPT => clock_ds(),
        ds => ds,
    }
}

/// Tenths of a second since tracking started, from the clock.
fn clock_ds() -> u32 {
    let elapsed = sys::coarse_ns().saturating_sub(START_COARSE_NS.load(Ordering::Relaxed));
    (elapsed / 100_000_000).min(u64::from(NOT_KEPT - 1)) as u32
}

/// [`now_ds`] as of the last [`tick`], or [`NOT_KEPT`].
static NOW_DS: AtomicU32 = AtomicU32::new(NOT_KEPT);
const NOT_KEPT: u32 = u32::MAX;
/// How often the library's thread calls [`tick`] while it keeps the time.
pub const TICK_NS: u64 = 100_000_000;

/// The library's thread keeps the time (at least every [`TICK_NS`]).
pub fn tick() {
    NOW_DS.store(clock_ds(), Ordering::Relaxed);
}

/// The library's thread stops keeping the time (it is about to be busy, or
/// gone after fork): allocations read the clock.
pub fn stop_ticking() {
    NOW_DS.store(NOT_KEPT, Ordering::Relaxed);
}

/// Whether the calling process is the one the library's state belongs to
/// (not a vfork()ed child sharing its memory under another pid).
pub fn is_own_process() -> bool {
    PID.load(Ordering::Relaxed) == sys::getpid()
}

/// Whether allocations are being recorded now.
pub fn is_tracking() -> bool {
    STATE.load(Ordering::Acquire) == TRACKING
}

/// One-time set-up. The caller holds the re-entrancy guard, so whatever
/// dlsym, getcwd or pthread allocate passes through untracked.
fn init() {
    if STATE
        .compare_exchange(UNINIT, INITIALIZING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    START_NS.store(sys::now_ns(), Ordering::Relaxed);
    START_COARSE_NS.store(sys::coarse_ns(), Ordering::Relaxed);
    real::resolve();
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .unwrap_or("internal error");
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        fail(&format!("{msg}{at}"));
    }));
    config::load();
    #[cfg(not(test))]
    if config::sample_bytes() != 0 {
        crate::entry::route_free_through_filter();
    }
    PID.store(sys::getpid(), Ordering::Relaxed);
    if !config::follow() && is_exec_child() {
        STATE.store(OFF, Ordering::Release);
        return;
    }
    libc_next::resolve();
    if !stacks::init() {
        fail("cannot reserve memory for stacks");
        return;
    }
    modules::init();
    crate::unwind::init_spaces();
    STATE.store(TRACKING, Ordering::Release);
}

/// Under `LEAKTRACE_FOLLOW=0`: whether this image was exec'd by a child
/// of the tracked process (the root pid, set by its constructor, differs).
fn is_exec_child() -> bool {
    // SAFETY: getenv with a valid name; the value is parsed at once.
    let v = unsafe { libc::getenv(ROOT_PID_VAR.as_ptr()) };
    if v.is_null() {
        return false;
    }
    // SAFETY: getenv returns a NUL-terminated string.
    let root = unsafe { core::ffi::CStr::from_ptr(v) };
    root.to_str().ok().and_then(|r| r.parse::<u32>().ok()) != Some(sys::getpid())
}

/// An internal failure: say so on one line and stop tracking; the program
/// runs on untouched.
pub fn fail(why: &str) {
    if STATE.swap(OFF, Ordering::AcqRel) != OFF {
        sys::write_stderr(&format!("leaktrace: {why}; tracking stopped\n"));
    }
}

/// Runs `f` with the guard held, turning a panic into `fail`.
pub fn guarded<R>(f: impl FnOnce() -> R) -> Option<R> {
    let busy = guard::enter();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    drop(busy);
    r
}

extern "C" {
    fn __cxa_atexit(
        f: extern "C" fn(*mut libc::c_void),
        arg: *mut libc::c_void,
        dso: *mut libc::c_void,
    ) -> i32;
}

/// The constructor: makes sure we are initialised, installs the exit and
/// fork handlers (the exit handler registered with a null DSO handle, so it
/// runs after the program's own static destructors) and the signal
/// handlers, and starts the dump thread.
extern "C" fn constructor() {
    guarded(|| {
        if STATE.load(Ordering::Acquire) == UNINIT {
            init();
        }
        if !is_tracking() {
            return;
        }
        // SAFETY: registering plain extern "C" functions with libc; setenv
        // with valid strings, before main (no other thread reads environ).
        unsafe {
            #[cfg(not(test))]
            __cxa_atexit(
                crate::entry::at_exit,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
            );
            libc::pthread_atfork(
                Some(before_fork),
                Some(after_fork_parent),
                Some(after_fork_child),
            );
            if !config::follow() {
                let pid = std::ffi::CString::new(sys::getpid().to_string()).unwrap_or_default();
                libc::setenv(ROOT_PID_VAR.as_ptr(), pid.as_ptr(), 0);
            }
        }
        crate::other_malloc::detect();
        signals::install();
        dumper::spawn();
    });
}

#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static CONSTRUCTOR: extern "C" fn() = constructor;

/// The exit handler (entered through `entry::at_exit`, which adds where it
/// was called from).
pub extern "C" fn at_exit(_: *mut libc::c_void, sp: u64, bp: u64) {
    final_dump(Trigger::Exit, Caller { sp, bp });
}

/// `_exit` and `_Exit` end the process without exit handlers: the final
/// dump is written here instead. (A vforked child calling `_exit` runs
/// under another pid and writes nothing.)
pub extern "C" fn immediate_exit(status: i32, sp: u64, bp: u64) {
    final_dump(Trigger::ImmediateExit, Caller { sp, bp });
    // SAFETY: ends the process, as the program asked.
    unsafe { libc_next::exit_now(status) }
}

/// Writes the final dump from the calling thread, if this process is the
/// one tracked; `caller` tells where the program's live stack begins.
fn final_dump(trigger: Trigger, caller: Caller) {
    if !is_tracking() || !is_own_process() {
        return;
    }
    if let Some(mut busy) = guard::enter() {
        stats::flush(busy.state());
        // Found only if there are blocks to classify. The capture behind
        // it may panic (on the side stack, resumed here): caught, as
        // everything else on the way out, so that no panic crosses into
        // the program; the scan then starts at the program's frame.
        let state = busy.state();
        let mut live_from = || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::reach::live_stack_start(state, caller)
            }))
            .unwrap_or(caller.sp)
        };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            dump::write_final(trigger, Some(&mut live_from))
        }));
    }
}

/// Holds every lock of the library across fork(), so the child never
/// inherits a lock held by a thread that does not exist there.
extern "C" fn before_fork() {
    if let Some(busy) = guard::enter() {
        core::mem::forget(busy); // released in the after_fork handlers
        modules::lock_all();
        table::lock_all(only_thread());
        crate::alloc::lock_all();
    }
}

/// Whether the calling thread is the process's only program thread: glibc
/// counts one, and the kernel knows no other thread but the library's
/// (which also finds threads made with a raw `clone`).
fn only_thread() -> bool {
    if dumper::program_threads() != Some(1) {
        return false;
    }
    let ours = usize::from(dumper::thread_descriptor().is_some());
    std::fs::read_dir("/proc/self/task").is_ok_and(|d| d.count() <= 1 + ours)
}

extern "C" fn after_fork_parent() {
    release_after_fork();
}

/// The child starts its own run: its dumps are its own, under its own pid,
/// from its own dump thread — or, with `LEAKTRACE_FOLLOW=0`, it is not
/// tracked at all.
extern "C" fn after_fork_child() {
    PID.store(sys::getpid(), Ordering::Relaxed);
    dump::after_fork_child();
    dumper::after_fork_child();
    config::after_fork_child();
    crate::unwind::rules_after_fork_child();
    stacks::after_fork_child();
    release_after_fork();
    if !config::follow() {
        STATE.store(OFF, Ordering::Release);
        return;
    }
    if is_tracking() {
        guarded(dumper::spawn);
    }
}

fn release_after_fork() {
    crate::alloc::unlock_all();
    table::unlock_all();
    modules::unlock_all();
    guard::leave();
}
