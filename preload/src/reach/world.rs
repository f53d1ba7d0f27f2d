//! Stopping the program's other threads while the heap is scanned, so that
//! no pointer moves under the scan. Each thread gets a real-time signal
//! (`SIGRTMAX - 2`) whose handler records where the thread's stack is and
//! waits on a futex until released; its registers are in the signal frame
//! on its own stack, so scanning the stack from the handler covers them.
//!
//! A thread inside the library when the signal arrives (it may hold a table
//! lock, or an allocator lock inside the real malloc) stops when it leaves
//! instead (`ThreadState::deferred_signal`), so a stopped thread never holds
//! a lock the scan needs. A thread that does not stop within a second (it
//! blocks the signal — seen in its /proc status, or not stopping) is
//! scanned from the stack pointer of the system call it sits in, if /proc
//! tells; README.md says what that means.

use crate::guard;
use crate::libc_next;
use crate::sys;
use core::ffi::c_void;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Threads one stop can record.
const MAX_THREADS: usize = 4096;

/// Where a stopped thread is: its stack pointer in the handler, its thread
/// descriptor (`pthread_self`, at the top of its stack block and static
/// TLS) and its leaktrace state (to leave out of the roots).
#[derive(Clone, Copy)]
pub struct Stopped {
    pub sp: u64,
    pub descriptor: u64,
    pub state: u64,
}

/// The current stop's number (0: none yet) and the last one released.
static STOP: AtomicU32 = AtomicU32::new(0);
static RELEASED: AtomicU32 = AtomicU32::new(0);
/// Threads that have stopped (a futex word), the next free record, and
/// the records.
static ARRIVED: AtomicU32 = AtomicU32::new(0);
static NEXT_SLOT: AtomicU32 = AtomicU32::new(0);
static SLOTS: [[AtomicU64; 3]; MAX_THREADS] =
    [const { [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)] }; MAX_THREADS];

/// The stop signal.
pub fn signal() -> i32 {
    libc::SIGRTMAX() - 2
}

/// The other threads, stopped until this is dropped.
pub struct World {
    pub stopped: Vec<Stopped>,
    /// Stack pointers of threads that did not stop but sit in a system call.
    pub unstopped_sps: Vec<u64>,
    /// Threads that did not stop and whose stack is unknown.
    pub unknown: usize,
}

/// Stops every thread but the caller and `spare` (the dump thread).
pub fn stop(spare: Option<i32>) -> World {
    install_handler();
    let me = sys::gettid();
    let pid = sys::getpid() as i32;
    let id = STOP.load(Ordering::Relaxed) + 1;
    let used = (NEXT_SLOT.load(Ordering::Relaxed) as usize).min(MAX_THREADS);
    for slot in &SLOTS[..used] {
        slot[0].store(0, Ordering::Relaxed);
    }
    NEXT_SLOT.store(0, Ordering::Relaxed);
    ARRIVED.store(0, Ordering::Relaxed);
    STOP.store(id, Ordering::Release);
    let mut sent = Vec::new();
    let mut blocking = Vec::new();
    for tid in threads() {
        if tid == me || Some(tid) == spare {
            continue;
        }
        // A thread that blocks the signal would only make us wait.
        if blocks_signal(tid) {
            blocking.push(tid);
            continue;
        }
        // SAFETY: a signal to a thread of this process.
        if unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, signal()) } == 0 {
            sent.push(tid);
        }
    }
    let deadline = sys::monotonic_ns() + 1_000_000_000;
    loop {
        let arrived = ARRIVED.load(Ordering::Acquire);
        let now = sys::monotonic_ns();
        if arrived as usize >= sent.len() || now >= deadline {
            break;
        }
        sys::futex_wait(&ARRIVED, arrived, Some((deadline - now).min(10_000_000)));
    }
    let arrived = ARRIVED.load(Ordering::Acquire) as usize;
    let recorded = (NEXT_SLOT.load(Ordering::Acquire) as usize).min(MAX_THREADS);
    let stopped: Vec<Stopped> = SLOTS[..recorded]
        .iter()
        .map(|s| Stopped {
            sp: s[0].load(Ordering::Acquire),
            descriptor: s[1].load(Ordering::Acquire),
            state: s[2].load(Ordering::Acquire),
        })
        .filter(|s| s.sp != 0)
        .collect();
    let mut world = World {
        stopped,
        unstopped_sps: Vec::new(),
        unknown: 0,
    };
    for &tid in &blocking {
        match syscall_sp(tid) {
            Some(sp) => world.unstopped_sps.push(sp),
            None => world.unknown += 1,
        }
    }
    if arrived < sent.len() {
        // Which threads did not arrive is not recorded; ask /proc about all
        // the threads signalled: a stopped one sits in futex_wait, whose
        // stack pointer is inside its handler, above the recorded one.
        for &tid in &sent {
            match syscall_sp(tid) {
                Some(sp) if !world.stopped.iter().any(|s| near(s.sp, sp)) => {
                    world.unstopped_sps.push(sp)
                }
                Some(_) => {}
                None => world.unknown += 1,
            }
        }
        world.unknown = world.unknown.min(sent.len().saturating_sub(arrived));
    }
    world
}

fn near(a: u64, b: u64) -> bool {
    a.abs_diff(b) < 64 * 1024
}

impl Drop for World {
    fn drop(&mut self) {
        RELEASED.store(STOP.load(Ordering::Acquire), Ordering::Release);
        sys::futex_wake(&RELEASED);
    }
}

/// The thread ids of this process.
fn threads() -> Vec<i32> {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether thread `tid` blocks the stop signal (its `SigBlk` mask).
fn blocks_signal(tid: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (signal() - 1)) != 0)
}

/// The stack pointer of thread `tid` blocked in a system call.
fn syscall_sp(tid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    let fields: Vec<&str> = text.split_whitespace().collect();
    // "nr a1 a2 a3 a4 a5 a6 sp pc" while in a system call.
    if fields.len() != 9 {
        return None;
    }
    u64::from_str_radix(fields[7].trim_start_matches("0x"), 16).ok()
}

fn install_handler() {
    // SAFETY: an all-zero sigaction plus our handler and flags is valid.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_stop as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigfillset(&mut sa.sa_mask);
        libc_next::sigaction(signal(), &sa, core::ptr::null_mut());
    }
}

extern "C" fn on_stop(_: i32, _: *mut libc::siginfo_t, _: *mut c_void) {
    let errno = sys::errno();
    if guard::is_busy() {
        // Inside the library: stop on the way out (Busy::drop).
        guard::with_state(|s| s.deferred_signal = signal() as u32);
    } else {
        park();
    }
    sys::set_errno(errno);
}

/// Records this thread and waits until the stop it belongs to is released.
/// Async-signal-safe.
pub fn park() {
    let id = STOP.load(Ordering::Acquire);
    if id == 0 || RELEASED.load(Ordering::Acquire) >= id {
        return; // a late signal of a stop already over
    }
    let sp: u64;
    // SAFETY: reads the stack pointer.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack)) };
    let slot = NEXT_SLOT.fetch_add(1, Ordering::AcqRel) as usize;
    if slot < MAX_THREADS {
        // SAFETY: pthread_self only reads the thread pointer.
        let descriptor = unsafe { libc::pthread_self() } as u64;
        let state = guard::with_state(|s| s as *mut _ as u64);
        SLOTS[slot][0].store(sp, Ordering::Release);
        SLOTS[slot][1].store(descriptor, Ordering::Release);
        SLOTS[slot][2].store(state, Ordering::Release);
    }
    ARRIVED.fetch_add(1, Ordering::AcqRel);
    sys::futex_wake(&ARRIVED);
    loop {
        let released = RELEASED.load(Ordering::Acquire);
        if released >= id {
            break;
        }
        sys::futex_wait(&RELEASED, released, None);
    }
}
