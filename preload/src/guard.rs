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
    pub stack_known: u32,
    pub stack_lo: u64,
    pub stack_hi: u64,
    pub frames: [u64; MAX_DEPTH + 8],
}

extern "C" {
    fn leaktrace_thread_state() -> *mut ThreadState;
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
}

impl Drop for Busy {
    fn drop(&mut self) {
        // SAFETY: see `state`; only this thread touches its own block.
        unsafe { (*self.state).busy = 0 };
    }
}

/// Marks the thread busy, or returns `None` when it already is (we are
/// being called from inside the library itself).
#[inline]
pub fn enter() -> Option<Busy> {
    // SAFETY: returns this thread's own TLS block; never null.
    let state = unsafe { leaktrace_thread_state() };
    // SAFETY: as above; a plain load and store on thread-private memory.
    unsafe {
        if (*state).busy != 0 {
            return None;
        }
        (*state).busy = 1;
    }
    Some(Busy { state })
}

/// Clears the busy flag left set by `core::mem::forget` of a guard (the
/// fork handlers hold it across fork()).
pub fn leave() {
    // SAFETY: this thread's own TLS block.
    unsafe { (*leaktrace_thread_state()).busy = 0 };
}
