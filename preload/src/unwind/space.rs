//! Each thread's room for stack captures: the walk's scratch ([`Fresh`]),
//! the remembered stack ([`Memo`]) and the cache of recurring stacks
//! ([`Cache`]), about 220 KiB of address space, kept out of TLS.
//!
//! Static TLS is carved out of every thread's stack, and glibc refuses to
//! start a thread whose stack cannot hold it: with the capture's arrays in
//! TLS, `pthread_create` failed with EINVAL for stacks of 16 and 32 KiB
//! (PTHREAD_STACK_MIN is 16 KiB), which programs with many small threads
//! use. So the thread state in TLS holds only a pointer: a thread's space
//! is mapped on its first capture, handed back to a pool by a
//! thread-specific-data destructor when the thread exits, and reused by the
//! next thread that needs one. The pool is a lock-free list with a tag
//! against reuse races, so nothing is held across fork().
//!
//! A space also holds a side stack of its own, below a guard page, for the
//! capture's rare heavy work (evaluating the CFI of a new return address
//! with gimli, refreshing the module list, reading /proc/self/maps): done
//! on the program's stack, it took more than 14 KiB of it, and overflowed
//! a thread that runs on a small stack.

use super::cache::{Cache, Start};
use super::memo::{Fresh, Memo};
use crate::guard::ThreadState;
use crate::sys;
use core::ffi::c_void;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// One thread's capture space.
#[repr(C)]
pub struct Space {
    /// The last capture walked to a complete stack starting at `last`: the
    /// cache is to hear of its id (`note_stack`).
    pub pending: bool,
    pub last: Start,
    /// The next space in the pool, while in the pool.
    next: *mut Space,
    pub fresh: Fresh,
    pub memo: Memo,
    /// The thread's recurring stacks (page aligned: this ends the space,
    /// so that nothing else takes a page of its own after it).
    pub cache: Cache,
}

/// The side stack's size, and the whole mapping's: the space, a guard page
/// (no access) and the side stack, which grows down towards the guard.
const SIDE_STACK_BYTES: usize = 64 << 10;
const PAGE: usize = 4096;
const SPACE_BYTES: usize = core::mem::size_of::<Space>().div_ceil(PAGE) * PAGE;
const MAPPING_BYTES: usize = SPACE_BYTES + PAGE + SIDE_STACK_BYTES;

/// The pool: the first free space's address in the low 48 bits, a counter
/// bumped by every push in the high 16 (so that a pop racing with a pop
/// and a push of the same space fails its compare-and-swap).
static POOL: AtomicU64 = AtomicU64::new(0);
const ADDRESS_BITS: u32 = 48;

/// The thread-specific-data key whose destructor returns a space, plus 1
/// (0: none, spaces are then never returned).
static KEY: AtomicU32 = AtomicU32::new(0);

/// glibc runs thread-specific-data destructors in up to this many rounds
/// (PTHREAD_DESTRUCTOR_ITERATIONS); a space taken after the last one would
/// never come back, so a thread stops taking them then.
const DESTRUCTOR_ROUNDS: u32 = 4;

/// Creates the key whose destructor returns a thread's space; once, at init.
pub fn init() {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: `key` is a valid out-pointer; `give_back` has the destructor
    // signature and is valid for the life of the process (the library is
    // never unloaded).
    if unsafe { libc::pthread_key_create(&mut key, Some(give_back)) } == 0 {
        KEY.store(key + 1, Ordering::Release);
    }
}

/// The calling thread's space, taken from the pool or mapped on first use;
/// `None` when the thread is exiting or no memory is left (the capture then
/// records an empty stack).
#[inline]
pub fn of(state: &mut ThreadState) -> Option<&mut Space> {
    if state.space.is_null() {
        take(state);
    }
    existing(state)
}

/// The calling thread's space if it has one.
#[inline]
pub fn existing(state: &mut ThreadState) -> Option<&mut Space> {
    // SAFETY: a non-null `space` is a mapping this thread alone owns until
    // its destructor gives it back and clears the pointer.
    unsafe { state.space.cast::<Space>().as_mut() }
}

/// Takes a space for the calling thread.
#[cold]
#[inline(never)]
fn take(state: &mut ThreadState) {
    if state.space_returns >= DESTRUCTOR_ROUNDS {
        return;
    }
    let space = match pop() {
        Some(space) => {
            // Another thread's stack: forget it.
            // SAFETY: popped from the pool, so ours alone.
            unsafe {
                (*space).memo.clear();
                (*space).memo.deep = 0;
                (*space).pending = false;
                (*space).cache.clear();
            }
            space
        }
        None => match map_space() {
            Some(space) => space,
            None => return,
        },
    };
    state.space = space.cast();
    let key = KEY.load(Ordering::Acquire);
    if key != 0 {
        // SAFETY: a key created by `init`; a non-null value makes glibc call
        // `give_back` with it when the thread exits. (Keys below 32 are
        // stored without allocating; a larger key may allocate, which the
        // caller's guard passes straight to the allocator.)
        unsafe { libc::pthread_setspecific(key - 1, space.cast()) };
    }
}

/// Maps a new space with its guard page and side stack.
fn map_space() -> Option<*mut Space> {
    let p = sys::map_zeroed(MAPPING_BYTES)?;
    // SAFETY: the guard page lies inside the mapping just made.
    let guard = unsafe { p.cast::<u8>().add(SPACE_BYTES) };
    if !sys::forbid_access(guard.cast(), PAGE) {
        sys::unmap(p, MAPPING_BYTES);
        return None;
    }
    Some(p.cast())
}

/// Runs `f` on the calling thread's side stack (see the module
/// documentation), or where it is when the thread has no space or is on
/// the side stack already. A panic in `f` resumes on the caller's stack:
/// no unwinding crosses the switch.
pub fn on_side_stack<R>(f: impl FnOnce() -> R) -> R {
    let space = crate::guard::with_state(|state| state.space) as usize;
    let here = &space as *const usize as usize;
    if space == 0 || (here > space && here < space + MAPPING_BYTES) {
        return f();
    }
    let mut call = SideCall {
        f: Some(f),
        result: None,
    };
    run_side_call(space + MAPPING_BYTES, &mut call);
    match call.result {
        Some(Ok(r)) => r,
        Some(Err(payload)) => std::panic::resume_unwind(payload),
        None => unreachable!("the side call always stores its result"),
    }
}

/// A closure to run on the side stack, and what it returned.
struct SideCall<F, R> {
    f: Option<F>,
    result: Option<std::thread::Result<R>>,
}

/// Calls `side_call(call)` with the stack pointer at `top`.
fn run_side_call<F: FnOnce() -> R, R>(top: usize, call: &mut SideCall<F, R>) {
    let entry: extern "C" fn(*mut SideCall<F, R>) = side_call::<F, R>;
    // SAFETY: `top` is the 16-byte-aligned end of this thread's side stack,
    // unused while the thread is not on it; `side_call` only touches `call`
    // and returns normally (it catches panics), and callee-saved r12 keeps
    // the caller's stack pointer across the call, restored before anything
    // else runs here.
    unsafe {
        core::arch::asm!(
            "mov r12, rsp",
            "mov rsp, {top}",
            "call {entry}",
            "mov rsp, r12",
            top = in(reg) top,
            entry = in(reg) entry,
            in("rdi") call as *mut SideCall<F, R>,
            out("r12") _,
            clobber_abi("C"),
        );
    }
}

/// Entered on the side stack: runs the closure, catching any panic.
extern "C" fn side_call<F: FnOnce() -> R, R>(call: *mut SideCall<F, R>) {
    // SAFETY: `run_side_call` passes a `SideCall` alive until we return.
    let call = unsafe { &mut *call };
    if let Some(f) = call.f.take() {
        call.result = Some(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    }
}

/// The key's destructor, on an exiting thread: returns its space to the
/// pool. A thread that allocates again afterwards (another key's
/// destructor) takes one again, and glibc calls this again in its next
/// round.
extern "C" fn give_back(value: *mut c_void) {
    crate::guard::with_state(|state| {
        if state.space == value {
            state.space = core::ptr::null_mut();
        }
        state.space_returns += 1;
    });
    push(value.cast());
}

fn push(space: *mut Space) {
    let mut head = POOL.load(Ordering::Acquire);
    loop {
        let tag = (head >> ADDRESS_BITS).wrapping_add(1) & 0xffff;
        // SAFETY: the space is ours until the compare-and-swap publishes it.
        unsafe { (*space).next = (head & ((1 << ADDRESS_BITS) - 1)) as *mut Space };
        let new = (tag << ADDRESS_BITS) | space as u64;
        match POOL.compare_exchange_weak(head, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(h) => head = h,
        }
    }
}

fn pop() -> Option<*mut Space> {
    let mut head = POOL.load(Ordering::Acquire);
    loop {
        let space = (head & ((1 << ADDRESS_BITS) - 1)) as *mut Space;
        if space.is_null() {
            return None;
        }
        // SAFETY: spaces are never unmapped, so reading `next` of one that
        // another thread has just popped reads valid memory; the tag makes
        // the compare-and-swap fail if the head changed meanwhile.
        let next = unsafe { (*space).next } as u64;
        let new = (head & !((1 << ADDRESS_BITS) - 1)) | next;
        match POOL.compare_exchange_weak(head, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Some(space),
            Err(h) => head = h,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_space_given_back_is_taken_again() {
        let a = map_space().unwrap();
        let b = map_space().unwrap();
        push(a);
        push(b);
        let first = pop().unwrap();
        let second = pop().unwrap();
        assert!(first == b && second == a, "last in, first out");
        assert!(pop().is_none());
        // The tag changes with every push.
        push(a);
        let tagged = POOL.load(Ordering::Relaxed) >> ADDRESS_BITS;
        assert_eq!(pop(), Some(a));
        push(a);
        assert_ne!(POOL.load(Ordering::Relaxed) >> ADDRESS_BITS, tagged);
        assert_eq!(pop(), Some(a));
    }
}
