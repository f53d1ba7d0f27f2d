//! The per-thread re-entrancy guard and scratch space.
//!
//! The state lives in C (`thread_state.c`) because it must be initial-exec
//! TLS: no allocation on first access, no destructor at thread exit.

/// Largest stack depth the library records (`LEAKTRACE_DEPTH` is capped here).
pub const MAX_DEPTH: usize = 1024;

/// Mirror of `struct leaktrace_thread` in `thread_state.c`.
#[repr(C)]
pub struct ThreadState {
    busy: u32,
    /// A fatal signal that arrived while the thread was inside the library;
    /// acted on when it leaves (`signals::deferred`).
    pub deferred_signal: u32,
    pub stack_known: u32,
    /// How many times the thread-exit destructor gave the space back.
    pub space_returns: u32,
    pub stack_hi: u64,
    /// `[stack_lo, stack_hi)` is known readable (unwind/mod.rs).
    pub stack_lo: u64,
    /// The last stacks found apart from the thread's own (a coroutine's,
    /// sigaltstack's): readable runs `[lo, hi)`, replaced round-robin.
    pub alt: [[u64; 2]; crate::unwind::ALT_STACKS],
    pub alt_next: u64,
    pub pending_bytes: i64,
    pub pending_blocks: i64,
    /// When the pending changes are published (`stats.rs`).
    pub bytes_limit: u64,
    pub blocks_limit: u64,
    pub sample_left: i64,
    pub rng: u64,
    /// The capture's scratch and memo (`unwind::Space`), null until the
    /// thread's first capture.
    pub space: *mut core::ffi::c_void,
    /// The thread's errno (`__errno_location`, which never changes for a
    /// thread), null until first asked for ([`Busy::errno_slot`]).
    errno_slot: *mut i32,
}

extern "C" {
    /// The TLS variable of `thread_state.c`; only its address is taken
    /// (here and by the sampling fast path in entry.rs).
    pub(crate) static leaktrace_thread: ThreadState;
}

/// This thread's state: the thread pointer plus the variable's offset in
/// the static TLS block (the initial-exec model, resolved at load time).
#[inline(always)]
fn leaktrace_thread_state() -> *mut ThreadState {
    let p: *mut ThreadState;
    // SAFETY: reads the thread pointer (fs:0) and the GOT slot the linker
    // fills with the variable's TLS offset; touches nothing else.
    unsafe {
        core::arch::asm!(
            "mov {p}, qword ptr fs:[0]",
            "add {p}, qword ptr [rip + {var}@GOTTPOFF]",
            p = out(reg) p,
            var = sym leaktrace_thread,
            options(pure, readonly, nostack, preserves_flags)
        );
    }
    p
}

/// Proof that the current thread is inside the library; dropping it leaves.
pub struct Busy {
    state: *mut ThreadState,
}

impl Busy {
    /// The calling thread's state, for as long as the guard is held.
    pub fn state(&mut self) -> &mut ThreadState {
        // SAFETY: the pointer is this thread's own TLS block, valid for the
        // thread's lifetime, and `&mut self` keeps the borrow unique.
        unsafe { &mut *self.state }
    }

    /// Where the thread's errno lives: a hook saves it before recording
    /// and restores it after, without a call to libc each time.
    #[inline(always)]
    pub fn errno_slot(&mut self) -> *mut i32 {
        let state = self.state();
        if state.errno_slot.is_null() {
            // SAFETY: glibc's function for this thread's errno; no side effect.
            state.errno_slot = unsafe { libc::__errno_location() };
        }
        state.errno_slot
    }
}

impl Drop for Busy {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: see `state`; only this thread touches its own block.
        unsafe {
            (*self.state).busy = 0;
            if (*self.state).deferred_signal != 0 {
                crate::signals::deferred(&mut *self.state);
            }
        }
    }
}

/// Whether the calling thread is inside the library. Async-signal-safe.
pub fn is_busy() -> bool {
    // SAFETY: a load from this thread's own TLS block.
    unsafe { (*leaktrace_thread_state()).busy != 0 }
}

/// Marks the thread busy, or returns `None` when it already is (we are
/// being called from inside the library itself).
#[inline]
pub fn enter() -> Option<Busy> {
    let state = leaktrace_thread_state();
    // SAFETY: as above; a plain load and store on thread-private memory.
    unsafe {
        if (*state).busy != 0 {
            return None;
        }
        (*state).busy = 1;
    }
    Some(Busy { state })
}

/// The calling thread's state without entering the library, for the few
/// fields that need no guard (the sampling countdown).
#[inline(always)]
pub fn with_state<R>(f: impl FnOnce(&mut ThreadState) -> R) -> R {
    // SAFETY: this thread's own TLS block; `f` cannot keep the borrow.
    f(unsafe { &mut *leaktrace_thread_state() })
}

/// Clears the busy flag left set by `core::mem::forget` of a guard (the
/// fork handlers hold it across fork()).
pub fn leave() {
    // SAFETY: this thread's own TLS block.
    unsafe { (*leaktrace_thread_state()).busy = 0 };
}

#[cfg(test)]
mod tests {
    extern "C" {
        static leaktrace_thread_size: u64;
    }

    #[test]
    fn the_rust_mirror_matches_the_c_layout() {
        // SAFETY: a constant defined in thread_state.c.
        let c_size = unsafe { leaktrace_thread_size };
        assert_eq!(c_size as usize, core::mem::size_of::<super::ThreadState>());
    }

    #[test]
    fn the_thread_state_stays_small() {
        // glibc carves static TLS out of every thread's stack: big arrays
        // here keep threads with small stacks from starting (unwind/space.rs).
        assert!(core::mem::size_of::<super::ThreadState>() <= 256);
    }
}
