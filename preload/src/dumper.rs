//! The library's own thread, which writes every dump not written at exit:
//! snapshots asked for by the snapshot signal, periodic snapshots
//! (`LEAKTRACE_INTERVAL`), and the final dump of a process killed by a
//! signal. Signal handlers only post requests (an atomic add and a futex
//! wake); the program is held up only while the table is copied, stripe by
//! stripe, never while the file is written.
//!
//! The thread blocks every signal but the snapshot signal, so it never takes
//! a signal meant for the program, and a snapshot signal still has a taker
//! when every program thread blocks it — unless the program handles that
//! signal itself ([`snapshot_mask`](crate::snapshot_mask)). It is created
//! by the constructor,
//! and again in each forked child (which has no thread of ours).

use crate::{config, dump, guard, lifecycle, snapshot_mask, sys};
use core::ffi::c_void;
use core::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use leaktrace_format::Trigger;

/// Bumped by every request; the thread sleeps on it (a futex word).
static WAKE: AtomicU32 = AtomicU32::new(0);
/// Snapshot requests not yet served.
static SNAPSHOTS_WANTED: AtomicU32 = AtomicU32::new(0);
/// Set when a fatal signal wants the final dump.
static FINAL_WANTED: AtomicU32 = AtomicU32::new(0);
/// Set (and woken) when that final dump is done.
static FINAL_DONE: AtomicU32 = AtomicU32::new(0);
/// Snapshots written by this process so far (their numbers are 1, 2, ...).
static SNAPSHOTS: AtomicU32 = AtomicU32::new(0);
/// The thread's `pthread_t`, 0 while there is none, and its kernel id.
static THREAD: AtomicUsize = AtomicUsize::new(0);
static TID: AtomicI32 = AtomicI32::new(0);

/// How long a fatal signal waits for the final dump before the process dies
/// without it (a lock held by a thread the signal stopped, say).
const FINAL_DUMP_TIMEOUT_NS: u64 = 60_000_000_000;

/// Starts the thread (from the constructor, or in a forked child: one
/// thread runs either). Every signal is blocked around `pthread_create`, so
/// the thread starts with all of them blocked and no signal can reach it
/// before it has set its own mask.
pub fn spawn() {
    if THREAD.load(Ordering::Acquire) != 0 {
        return;
    }
    // SAFETY: signal-mask calls on valid sets, then pthread_create with a
    // valid out-pointer, default attributes and an extern "C" entry point.
    unsafe {
        let mut all: libc::sigset_t = core::mem::zeroed();
        let mut saved: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut saved);
        let mut thread: libc::pthread_t = 0;
        let r = libc::pthread_create(&mut thread, core::ptr::null(), run, core::ptr::null_mut());
        libc::pthread_sigmask(libc::SIG_SETMASK, &saved, core::ptr::null_mut());
        if r == 0 {
            THREAD.store(thread as usize, Ordering::Release);
            if let Some(tid) = tid_of(thread) {
                CREATED_TID.store(tid, Ordering::Release);
            }
            // Not waiting for the thread to run (it publishes its kernel
            // id first thing): on a busy machine that wait took
            // milliseconds, paid by every process. A heap scan, which must
            // know the id, waits for it then (`thread_tid_when_started`).
            uncount_thread();
        } else {
            sys::write_stderr("leaktrace: cannot start the dump thread; no snapshots\n");
        }
    }
}

/// glibc counts the threads it created (`__nptl_nthreads`) and has the last
/// one to finish call `exit(0)`: a program whose threads all end with
/// `pthread_exit` exits then. Ours never finishes, so it must not count,
/// or such a program would never exit. (Without the symbol, which glibc
/// has had since 2.34, nothing is done.)
fn uncount_thread() {
    let mut p = NTHREADS.load(Ordering::Acquire);
    if p.is_null() {
        // SAFETY: dlsym with a valid name.
        p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__nptl_nthreads".as_ptr()) }.cast();
        NTHREADS.store(p, Ordering::Release);
    }
    if !p.is_null() {
        // SAFETY: glibc's `unsigned int __nptl_nthreads`, which glibc itself
        // updates with atomic operations.
        let count = unsafe { &*p };
        count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// glibc's count of the program's threads (`__nptl_nthreads`), once found.
static NTHREADS: AtomicPtr<AtomicU32> = AtomicPtr::new(core::ptr::null_mut());

/// How many threads the program runs (ours not counted), if glibc says:
/// glibc counts a thread from `pthread_create` until it has run every
/// destructor and freed its thread-local state. (Threads made with a raw
/// `clone` are not counted.)
pub fn program_threads() -> Option<u32> {
    let p = NTHREADS.load(Ordering::Acquire);
    // SAFETY: as in `uncount_thread`.
    (!p.is_null()).then(|| unsafe { &*p }.load(Ordering::Acquire))
}

/// In a forked child: the parent's thread does not exist here. Forgets it
/// and its requests, and restarts numbering; the caller then spawns anew.
pub fn after_fork_child() {
    lifecycle::stop_ticking();
    THREAD.store(0, Ordering::Release);
    TID.store(0, Ordering::Release);
    CREATED_TID.store(0, Ordering::Release);
    SNAPSHOTS_WANTED.store(0, Ordering::Relaxed);
    FINAL_WANTED.store(0, Ordering::Relaxed);
    FINAL_DONE.store(0, Ordering::Relaxed);
    SNAPSHOTS.store(0, Ordering::Relaxed);
}

/// Whether the calling thread is the dump thread. Async-signal-safe.
pub fn is_dump_thread() -> bool {
    // SAFETY: pthread_self only reads the thread pointer.
    let me = unsafe { libc::pthread_self() } as usize;
    me == THREAD.load(Ordering::Acquire)
}

fn wake() {
    WAKE.fetch_add(1, Ordering::Release);
    sys::futex_wake(&WAKE);
}

/// Asks for a snapshot. Async-signal-safe.
pub fn request_snapshot() {
    SNAPSHOTS_WANTED.fetch_add(1, Ordering::AcqRel);
    wake();
}

/// Has the thread write the final dump and waits for it (bounded).
/// Async-signal-safe: called from the fatal-signal handler.
pub fn final_dump() {
    if THREAD.load(Ordering::Acquire) == 0 || is_dump_thread() {
        return;
    }
    FINAL_WANTED.store(1, Ordering::Release);
    wake();
    let deadline = sys::monotonic_ns().saturating_add(FINAL_DUMP_TIMEOUT_NS);
    while FINAL_DONE.load(Ordering::Acquire) == 0 {
        let now = sys::monotonic_ns();
        if now >= deadline {
            return;
        }
        sys::futex_wait(&FINAL_DONE, 0, Some(deadline - now));
    }
}

/// The thread's descriptor (`pthread_t`), if it runs: its stack is the
/// library's own.
pub fn thread_descriptor() -> Option<u64> {
    Some(THREAD.load(Ordering::Acquire) as u64).filter(|&t| t != 0)
}

/// The thread's kernel id, if it has started. Async-signal-safe.
pub fn thread_tid() -> Option<i32> {
    Some(TID.load(Ordering::Acquire)).filter(|&t| t != 0)
}

/// The thread's kernel id as `pthread_create` left it in the thread's
/// descriptor (see [`tid_of`]), 0 if not known that way.
static CREATED_TID: AtomicI32 = AtomicI32::new(0);

/// The kernel id of the thread `thread` just created: glibc has the kernel
/// store it in the thread's descriptor before `pthread_create` returns
/// (`CLONE_PARENT_SETTID`). Its place in the descriptor is glibc's own, so
/// it is found in the calling thread's descriptor, where the same field
/// holds the caller's id, and used only if found there exactly once.
fn tid_of(thread: libc::pthread_t) -> Option<i32> {
    const SEARCHED: usize = 1024;
    // SAFETY: pthread_self only reads the thread pointer; glibc's thread
    // descriptor is far larger than `SEARCHED` bytes, all mapped.
    let me = unsafe { libc::pthread_self() } as *const i32;
    let tid = sys::gettid();
    let mut found = None;
    for i in 0..SEARCHED / 4 {
        // SAFETY: inside the calling thread's descriptor (above).
        if unsafe { me.add(i).read_volatile() } == tid {
            if found.is_some() {
                return None;
            }
            found = Some(i);
        }
    }
    // SAFETY: the same field of the new thread's descriptor, which exists
    // until the thread is joined (never).
    let theirs = unsafe { (thread as *const i32).add(found?).read_volatile() };
    (theirs > 0 && theirs != tid).then_some(theirs)
}

/// The thread's kernel id, waiting (at most a second) for a thread
/// created but not yet running to publish it, unless its descriptor told
/// it: a heap scan must not try to stop it (it is never stopped, and would
/// not answer). Waiting for the library's thread of a forked child to be
/// scheduled took 40 `sched_yield` calls at the exit of each `$(echo)`.
pub fn thread_tid_when_started() -> Option<i32> {
    if THREAD.load(Ordering::Acquire) == 0 {
        return None;
    }
    if let Some(tid) = Some(CREATED_TID.load(Ordering::Acquire)).filter(|&t| t != 0) {
        return Some(tid);
    }
    let deadline = sys::monotonic_ns().saturating_add(1_000_000_000);
    loop {
        if let Some(tid) = thread_tid() {
            return Some(tid);
        }
        if sys::monotonic_ns() >= deadline {
            return None;
        }
        sys::yield_now();
    }
}

extern "C" fn run(_: *mut c_void) -> *mut c_void {
    TID.store(sys::gettid(), Ordering::Release);
    // Inside the library for good: whatever this thread allocates passes
    // straight through, untracked.
    if let Some(busy) = guard::enter() {
        core::mem::forget(busy);
    }
    // SAFETY: naming this thread.
    unsafe { libc::pthread_setname_np(libc::pthread_self(), c"leaktrace".as_ptr()) };
    snapshot_mask::init_on_thread();
    let interval = config::interval_ns();
    let mut next_snapshot = sys::monotonic_ns().saturating_add(interval);
    loop {
        let seen = WAKE.load(Ordering::Acquire);
        if FINAL_WANTED.load(Ordering::Acquire) != 0 {
            lifecycle::stop_ticking();
            let _ = std::panic::catch_unwind(|| dump::write_final(Trigger::FatalSignal, None));
            FINAL_DONE.store(1, Ordering::Release);
            sys::futex_wake(&FINAL_DONE);
            FINAL_WANTED.store(0, Ordering::Release);
            continue;
        }
        if SNAPSHOTS_WANTED.swap(0, Ordering::AcqRel) != 0 {
            snapshot(Trigger::Signal);
            continue;
        }
        let now = sys::monotonic_ns();
        if interval != 0 && now >= next_snapshot {
            snapshot(Trigger::Interval);
            // Missed periods (a long dump) are skipped, not caught up.
            let now = sys::monotonic_ns();
            while next_snapshot <= now {
                next_snapshot = next_snapshot.saturating_add(interval);
            }
            continue;
        }
        lifecycle::tick();
        let mut timeout = lifecycle::TICK_NS;
        if interval != 0 {
            timeout = timeout.min(next_snapshot.saturating_sub(now).max(1));
        }
        sys::futex_wait(&WAKE, seen, Some(timeout));
    }
}

/// Writes a snapshot; allocations meanwhile read the clock themselves.
fn snapshot(trigger: Trigger) {
    lifecycle::stop_ticking();
    let n = SNAPSHOTS.fetch_add(1, Ordering::AcqRel) + 1;
    let _ = std::panic::catch_unwind(|| dump::write_snapshot(trigger, n));
}
