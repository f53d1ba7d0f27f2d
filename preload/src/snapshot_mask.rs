//! Whether the library's thread takes the snapshot signal.
//!
//! While the program has no handler of its own for the snapshot signal, the
//! library's thread takes it too, so that a snapshot signal every program
//! thread blocks still gets a snapshot. Once the program has a handler, the
//! signal is the program's: natively, with every program thread blocking
//! it, it would wait pending until a thread unblocks it, and its handler
//! would run right then (CPython's test_signal checks exactly that). A
//! thread of ours that took the signal and passed it on could be late, so
//! the thread blocks it from then on; a program thread that runs the
//! program's handler asks for the snapshot as it does (signals.rs).
//!
//! The switch is synchronous: the program's `sigaction` returns only once
//! the thread has changed its mask. It is sent a real-time signal
//! (`SIGRTMAX - 3`) whose handler edits the mask that the kernel restores
//! when the handler returns — a thread can change only its own mask — and
//! the caller waits for it (at most a second).

use crate::{config, dumper, libc_next, signals, sys};
use core::ffi::c_void;
use core::sync::atomic::{AtomicU32, Ordering};

/// Switches asked for, and switches done (a futex word).
static WANTED: AtomicU32 = AtomicU32::new(0);
static DONE: AtomicU32 = AtomicU32::new(0);

/// How long `sync` waits for the thread.
const TIMEOUT_NS: u64 = 1_000_000_000;

/// The signal that makes the library's thread reconsider.
pub fn signal() -> i32 {
    libc::SIGRTMAX() - 3
}

/// Sets up the library's thread (called on it, first thing): installs the
/// handler, lets its signal in, and takes the snapshot signal or not.
pub fn init_on_thread() {
    let sig = config::signal();
    if sig == 0 {
        return;
    }
    // SAFETY: installs an SA_SIGINFO handler with a full mask, then changes
    // this thread's own mask with valid sets.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigfillset(&mut sa.sa_mask);
        libc_next::sigaction(signal(), &sa, core::ptr::null_mut());
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal());
        if !signals::program_handles(sig) {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, core::ptr::null_mut());
    }
}

/// Called from the program's `sigaction` when whether it handles the
/// snapshot signal changed: returns once the library's thread agrees.
/// Async-signal-safe.
pub fn sync() {
    let Some(tid) = dumper::thread_tid() else {
        return; // the thread reads the program's action when it starts
    };
    let want = WANTED.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
    // SAFETY: a signal to the library's own thread of this process.
    let sent = unsafe { libc::syscall(libc::SYS_tgkill, sys::getpid(), tid, signal()) == 0 };
    if !sent {
        return;
    }
    let deadline = sys::monotonic_ns().saturating_add(TIMEOUT_NS);
    loop {
        let done = DONE.load(Ordering::Acquire);
        if done.wrapping_sub(want) as i32 >= 0 {
            return;
        }
        let now = sys::monotonic_ns();
        if now >= deadline {
            return;
        }
        sys::futex_wait(&DONE, done, Some(deadline - now));
    }
}

/// On the library's thread: takes the snapshot signal, or not, from the
/// handler's return on.
extern "C" fn on_signal(_: i32, _: *mut libc::siginfo_t, context: *mut c_void) {
    let errno = sys::errno();
    let want = WANTED.load(Ordering::Acquire);
    let sig = config::signal();
    if sig != 0 && dumper::is_dump_thread() {
        // SAFETY: the kernel passes the interrupted context of this thread;
        // its signal mask is what the thread gets back on return.
        unsafe {
            let mask = &mut (*(context as *mut libc::ucontext_t)).uc_sigmask;
            if signals::program_handles(sig) {
                libc::sigaddset(mask, sig);
            } else {
                libc::sigdelset(mask, sig);
            }
        }
    }
    DONE.store(want, Ordering::Release);
    sys::futex_wake(&DONE);
    sys::set_errno(errno);
}
