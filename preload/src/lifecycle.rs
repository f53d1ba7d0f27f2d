//! Start, stop and fork: the library's state machine and every entry point
//! that is not a malloc hook (constructor, exit handler, fork handlers).
//!
//! Initialisation happens in whichever comes first, the first hook call or
//! the constructor: other libraries' constructors run before ours and
//! allocate (libstdc++'s exception pool), and those blocks must be tracked.

use crate::guard::{self, Busy};
use crate::{config, dump, modules, real, stacks, stats, sys, table};
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use leaktrace_format::Trigger;

const UNINIT: u8 = 0;
const INITIALIZING: u8 = 1;
const TRACKING: u8 = 2;
const OFF: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static START_NS: AtomicU64 = AtomicU64::new(0);
/// Set once the exit dump is written, so that it is written once.
static EXIT_DUMPED: AtomicU8 = AtomicU8::new(0);

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
    if !stacks::init() {
        fail("cannot reserve memory for stacks");
        return;
    }
    modules::init();
    STATE.store(TRACKING, Ordering::Release);
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

/// The constructor: makes sure we are initialised and installs the exit and
/// fork handlers. Registered with a null DSO handle so the exit handler runs
/// after the program's own static destructors.
extern "C" fn constructor() {
    guarded(|| {
        if STATE.load(Ordering::Acquire) == UNINIT {
            init();
        }
        // SAFETY: registering plain extern "C" functions with libc.
        unsafe {
            __cxa_atexit(at_exit, core::ptr::null_mut(), core::ptr::null_mut());
            libc::pthread_atfork(
                Some(before_fork),
                Some(after_fork_parent),
                Some(after_fork_child),
            );
        }
    });
}

#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static CONSTRUCTOR: extern "C" fn() = constructor;

extern "C" fn at_exit(_: *mut libc::c_void) {
    if STATE.load(Ordering::Acquire) != TRACKING || EXIT_DUMPED.swap(1, Ordering::AcqRel) != 0 {
        return;
    }
    if let Some(mut busy) = guard::enter() {
        stats::flush(busy.state());
        let _ = std::panic::catch_unwind(|| dump::write(Trigger::Exit, start_ns()));
    }
}

/// Holds every lock of the library across fork(), so the child never
/// inherits a lock held by a thread that does not exist there.
extern "C" fn before_fork() {
    if let Some(busy) = guard::enter() {
        core::mem::forget(busy); // released in the after_fork handlers
        modules::lock_all();
        table::lock_all();
    }
}

extern "C" fn after_fork_parent() {
    release_after_fork();
}

extern "C" fn after_fork_child() {
    // The child starts its own run: its dump is its own, under its own pid.
    EXIT_DUMPED.store(0, Ordering::Release);
    release_after_fork();
}

fn release_after_fork() {
    table::unlock_all();
    modules::unlock_all();
    guard::leave();
}
