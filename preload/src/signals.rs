//! The signals leaktrace acts on, and the program's view of them.
//!
//! - The snapshot signal (`LEAKTRACE_SIGNAL`, SIGUSR1 by default): when it
//!   comes from outside the process, the handler posts a request to the
//!   dump thread ([`dumper`]) — an atomic add and a futex wake, both
//!   async-signal-safe — and then runs the program's own handler for the
//!   signal, if it has one. A signal the process sent itself (`raise`,
//!   `kill(getpid())`, a thread's `pthread_kill` to another: rustc and
//!   cargo signal their own threads with SIGUSR1) is no request: it goes to
//!   the program's handler only, or has its default effect, as without the
//!   tracker.
//! - SIGTERM, SIGINT and SIGHUP, while the program leaves them at their
//!   default action: the handler has the dump thread write the final dump,
//!   waits for it, restores the default action and raises the signal again,
//!   so the process dies of it as it would have (its exit status says so).
//!
//! The program keeps seeing its own dispositions: `sigaction` and `signal`
//! are interposed for these signals. For the snapshot signal the program's
//! action is kept aside and run from our handler, which takes over its mask
//! and flags. For a fatal signal, a program handler simply replaces ours
//! (the program then decides how it ends) and restoring `SIG_DFL` brings
//! ours back. Either way `sigaction`'s old action is what the program set.
//!
//! A fatal signal that interrupts a thread inside the library (which may
//! hold a table lock the dump needs) is acted on when the thread leaves it
//! (`ThreadState::deferred_signal`).

use crate::guard::ThreadState;
use crate::libc_next as real;
use crate::{config, dumper, lifecycle, sys};
use core::cell::UnsafeCell;
use core::ffi::{c_int, c_void};
use core::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};

/// The fatal signals a final dump is written for.
const FATAL: [c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// A signal leaktrace manages: the program's own action for it, and
/// whether our handler is the one installed.
struct Managed {
    sig: AtomicU32,
    program: ActionSlot,
    ours: AtomicBool,
}

/// Slots: the snapshot signal first, then the fatal ones.
static MANAGED: [Managed; 4] = [const {
    Managed {
        sig: AtomicU32::new(0),
        program: ActionSlot::new(),
        ours: AtomicBool::new(false),
    }
}; 4];

/// Set once `install` ran: before that every call passes through.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// A `sigaction` the program set, readable from a signal handler: a
/// sequence lock (odd while written) around a copy.
struct ActionSlot {
    seq: AtomicU32,
    action: UnsafeCell<libc::sigaction>,
}

// SAFETY: the action is written only with `seq` odd (one writer at a time,
// by compare-and-swap) and read only through `read`, which retries if a
// write overlapped.
unsafe impl Sync for ActionSlot {}

impl ActionSlot {
    const fn new() -> ActionSlot {
        ActionSlot {
            seq: AtomicU32::new(0),
            // SAFETY: an all-zero sigaction is SIG_DFL with an empty mask.
            action: UnsafeCell::new(unsafe { core::mem::zeroed() }),
        }
    }

    fn read(&self) -> libc::sigaction {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                // SAFETY: a volatile copy; discarded if a writer overlapped.
                let copy = unsafe { core::ptr::read_volatile(self.action.get()) };
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return copy;
                }
            }
            core::hint::spin_loop();
        }
    }

    /// Stores `action`; with `wait` false gives up instead of waiting for
    /// another writer (a signal handler must not spin on its own thread).
    fn write(&self, action: &libc::sigaction, wait: bool) -> bool {
        loop {
            let seq = self.seq.load(Ordering::Relaxed);
            if seq & 1 == 0
                && self
                    .seq
                    .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                // SAFETY: `seq` is odd: this thread is the only writer.
                unsafe { core::ptr::write_volatile(self.action.get(), *action) };
                self.seq.store(seq + 2, Ordering::Release);
                return true;
            }
            if !wait {
                return false;
            }
            sys::yield_now();
        }
    }
}

fn managed(sig: c_int) -> Option<&'static Managed> {
    if sig <= 0 || !INSTALLED.load(Ordering::Acquire) {
        return None;
    }
    // A vfork()ed child (CPython's subprocess resets every handler in one
    // before exec) shares our memory: its calls must not touch the
    // parent's record of its handlers.
    if !lifecycle::is_own_process() {
        return None;
    }
    MANAGED
        .iter()
        .find(|m| m.sig.load(Ordering::Relaxed) == sig as u32)
}

fn is_snapshot(sig: c_int) -> bool {
    sig == config::signal() && sig != 0
}

fn empty_action() -> libc::sigaction {
    // SAFETY: an all-zero sigaction is SIG_DFL with an empty mask.
    unsafe { core::mem::zeroed() }
}

/// Installs our handlers (from the constructor). The program's current
/// actions are kept as its own; a fatal signal it ignores or handles
/// already is left alone.
pub fn install() {
    let snapshot = config::signal();
    let wanted = core::iter::once(snapshot).chain(FATAL);
    for (slot, sig) in MANAGED.iter().zip(wanted) {
        if sig == 0 {
            continue;
        }
        let mut current = empty_action();
        // SAFETY: querying a disposition into a valid out-pointer.
        if unsafe { real::sigaction(sig, core::ptr::null(), &mut current) } != 0 {
            continue;
        }
        slot.program.write(&current, true);
        slot.sig.store(sig as u32, Ordering::Relaxed);
        if is_snapshot(sig) || current.sa_sigaction == libc::SIG_DFL {
            install_ours(slot, sig, &current);
        }
    }
    INSTALLED.store(true, Ordering::Release);
}

/// Installs our handler for `sig`, taking the mask and the flags that
/// matter for the program's code from the program's action.
fn install_ours(slot: &Managed, sig: c_int, program: &libc::sigaction) -> bool {
    let mut ours = empty_action();
    ours.sa_sigaction = on_signal as *const () as usize;
    let custom = program.sa_sigaction != libc::SIG_DFL && program.sa_sigaction != libc::SIG_IGN;
    ours.sa_flags = libc::SA_SIGINFO
        | if custom {
            program.sa_flags & (libc::SA_RESTART | libc::SA_NODEFER | libc::SA_ONSTACK)
        } else {
            libc::SA_RESTART
        };
    if custom {
        ours.sa_mask = program.sa_mask;
    }
    // SAFETY: installing a handler from a valid sigaction.
    let ok = unsafe { real::sigaction(sig, &ours, core::ptr::null_mut()) } == 0;
    slot.ours.store(ok, Ordering::Release);
    ok
}

/// Our `sigaction` for a managed signal: the program sets and reads its
/// own action; ours stays installed underneath where it should.
fn program_sigaction(
    m: &Managed,
    sig: c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    let mut previous = empty_action();
    if m.ours.load(Ordering::Acquire) {
        previous = m.program.read();
    } else {
        // SAFETY: querying into a valid out-pointer.
        unsafe { real::sigaction(sig, core::ptr::null(), &mut previous) };
    }
    if !act.is_null() {
        // SAFETY: the program passed a valid sigaction.
        let act = unsafe { *act };
        if is_snapshot(sig) || act.sa_sigaction == libc::SIG_DFL {
            let handled = program_handles(sig);
            m.program.write(&act, true);
            install_ours(m, sig, &act);
            if is_snapshot(sig) && program_handles(sig) != handled {
                crate::snapshot_mask::sync();
            }
        } else {
            // A fatal signal the program now handles or ignores itself.
            m.ours.store(false, Ordering::Release);
            // SAFETY: as the program asked.
            let r = unsafe { real::sigaction(sig, &act, core::ptr::null_mut()) };
            if r != 0 {
                return r;
            }
        }
    }
    if !old.is_null() {
        // SAFETY: the program passed a valid out-pointer.
        unsafe { *old = previous };
    }
    0
}

/// `sigaction`, interposed.
#[cfg(not(test))]
#[no_mangle]
pub unsafe extern "C" fn sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    match managed(sig) {
        Some(m) => program_sigaction(m, sig, act, old),
        None => real::sigaction(sig, act, old),
    }
}

/// `signal`, interposed: glibc's BSD semantics (restart, the signal
/// blocked in its own handler) expressed as a `sigaction`.
#[cfg(not(test))]
#[no_mangle]
pub unsafe extern "C" fn signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    let Some(m) = managed(sig) else {
        return real::signal(sig, handler);
    };
    let mut act = empty_action();
    act.sa_sigaction = handler;
    act.sa_flags = libc::SA_RESTART;
    libc::sigaddset(&mut act.sa_mask, sig);
    let mut old = empty_action();
    if program_sigaction(m, sig, &act, &mut old) != 0 {
        return libc::SIG_ERR;
    }
    old.sa_sigaction
}

/// Whether a signal was sent from outside this process: by `kill`,
/// `sigqueue` or `tgkill` of another process (`si_pid` not ours). Signals
/// the process sent itself, and those the kernel raises for something the
/// program set up (its timers, asynchronous I/O, `F_SETSIG`), are not.
/// Async-signal-safe.
fn from_outside(info: *const libc::siginfo_t) -> bool {
    if info.is_null() {
        return true;
    }
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let (code, pid) = unsafe { ((*info).si_code, (*info).si_pid()) };
    match code {
        libc::SI_USER | libc::SI_QUEUE | libc::SI_TKILL => pid as u32 != sys::getpid(),
        // SI_KERNEL and the codes of faults: not a request.
        _ => false,
    }
}

/// Our handler for every managed signal.
extern "C" fn on_signal(sig: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    let errno = sys::errno();
    if is_snapshot(sig) {
        let request = from_outside(info);
        if dumper::is_dump_thread() {
            // The kernel gave the signal to our thread (the program's block
            // it, or were busy): snapshot, and pass it on to the main thread
            // for the program's own handler or default action, where it
            // waits if blocked, as it would have without us. (Passed on, it
            // comes from this process: no second snapshot.)
            if request {
                dumper::request_snapshot();
            }
            forward_to_program(sig, request);
        } else {
            if request {
                dumper::request_snapshot();
            }
            // One reading of the program's disposition decides, as the
            // kernel's at delivery would: a program that switches between
            // a handler and SIG_IGN while its threads raise the signal
            // (CPython's test_stress_modifying_handlers) must never see the
            // default action it never set.
            let Some(m) = managed(sig) else { return };
            let act = m.program.read();
            if handles(&act) {
                run_program_handler(m, &act, sig, info, context);
            } else if !request {
                act_as_default(&act, sig);
            }
        }
    } else if crate::guard::is_busy() {
        // This thread may hold a lock the dump needs: finish on leaving.
        crate::guard::with_state(|s| s.deferred_signal = sig as u32);
    } else {
        die_of(sig);
    }
    sys::set_errno(errno);
}

/// Whether the program has a handler of its own for `sig`.
pub fn program_handles(sig: c_int) -> bool {
    managed(sig).is_some_and(|m| handles(&m.program.read()))
}

/// Whether `act` is a handler of the program's own.
fn handles(act: &libc::sigaction) -> bool {
    act.sa_sigaction != libc::SIG_DFL && act.sa_sigaction != libc::SIG_IGN
}

/// Sends `sig` to the main thread if the program has a handler for it,
/// or if the signal came from the process itself and its default action
/// matters (the main thread then acts on it as the program would have).
/// A signal from outside with no program handler was only a snapshot
/// request. (Rare: our thread stops taking the signal once the program
/// handles it, see snapshot_mask.rs.)
fn forward_to_program(sig: c_int, from_outside: bool) {
    let Some(act) = managed(sig).map(|m| m.program.read()) else {
        return;
    };
    let ignored = act.sa_sigaction == libc::SIG_IGN;
    if !handles(&act) && (from_outside || ignored) {
        return;
    }
    // SAFETY: a signal to this process's main thread (tid = pid).
    unsafe {
        let pid = libc::getpid();
        libc::syscall(libc::SYS_tgkill, pid, pid, sig);
    }
}

/// The default action of `sig`, for a signal the process sent itself while
/// the program has no handler for it: what would have happened without the
/// tracker. Ignored if the program ignores it or its default is to ignore;
/// a stop signal stops the process (as SIGSTOP); any other ends the
/// process by that signal, after the final dump, as SIGTERM does.
fn act_as_default(act: &libc::sigaction, sig: c_int) {
    if act.sa_sigaction == libc::SIG_IGN {
        return;
    }
    match sig {
        libc::SIGCHLD | libc::SIGCONT | libc::SIGURG | libc::SIGWINCH => {}
        libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => sys::raise_here(libc::SIGSTOP),
        _ if crate::guard::is_busy() => {
            // This thread may hold a lock the dump needs: finish on leaving.
            crate::guard::with_state(|s| s.deferred_signal = sig as u32);
        }
        _ => die_of(sig),
    }
}

/// Calls the program's handler `act` (read once by the caller).
fn run_program_handler(
    m: &Managed,
    act: &libc::sigaction,
    sig: c_int,
    info: *mut libc::siginfo_t,
    context: *mut c_void,
) {
    let h = act.sa_sigaction;
    if act.sa_flags & libc::SA_RESETHAND != 0 {
        m.program.write(&empty_action(), false);
    }
    // SAFETY: the program installed `h` with this signature (SA_SIGINFO
    // tells which); it is called as the kernel would have called it.
    unsafe {
        if act.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
                core::mem::transmute(h);
            f(sig, info, context);
        } else {
            let f: extern "C" fn(c_int) = core::mem::transmute(h);
            f(sig);
        }
    }
}

/// A fatal signal, or the stop of a heap scan, that arrived while this
/// thread was inside the library, now that it has left (`Busy::drop`).
#[cold]
#[inline(never)]
pub fn deferred(state: &mut ThreadState) {
    let sig = core::mem::take(&mut state.deferred_signal) as c_int;
    if sig == crate::reach::signal() {
        crate::reach::park();
    } else {
        die_of(sig);
    }
}

/// Writes the final dump (on the dump thread, waiting for it), then lets
/// `sig` end the process with its default action.
fn die_of(sig: c_int) {
    if lifecycle::is_tracking() {
        dumper::final_dump();
    }
    let dfl = empty_action();
    // SAFETY: restoring the default action, then raising the signal on this
    // thread: it is blocked while the handler runs and kills the process as
    // soon as the handler returns.
    unsafe { real::sigaction(sig, &dfl, core::ptr::null_mut()) };
    sys::raise_here(sig);
}
