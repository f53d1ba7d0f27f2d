//! Stack capture without frame pointers, at nearly frame-pointer cost.
//!
//! On x86_64 the return address of a frame always sits at CFA − 8, so one
//! frame step needs only two facts from the DWARF call-frame information:
//! how to compute the CFA (RSP or RBP plus an offset) and where the caller's
//! RBP was saved. [`rules`] computes those facts once per return address and
//! caches them; a warm step is one cache load and one or two stack reads,
//! and the standard frame-pointer rule is recognised without unpacking.
//! A capture starts at the program's own frame, handed over by the entry
//! stubs (`entry.rs`), so the library's frames are never walked.
//!
//! A stack that recurs is not walked at all: [`cache`] finds it by the
//! frame the capture starts from and checks the stack words its walk read.
//! Otherwise [`walk`] stops as soon as it meets the thread's remembered stack
//! ([`memo`]) at a frame whose outer part is unchanged, so a capture costs
//! the frames that changed since the previous one plus one check per
//! unchanged frame; the remembered hash chain spares hashing them again,
//! and an unchanged stack keeps its stack id.
//!
//! Code with no unwind information falls back to the RBP chain. Every stack
//! read is checked against the thread's stack bounds (`[initial RSP, top)`),
//! so a wrong rule stops the walk instead of faulting.

mod cache;
mod memo;
mod pool;
mod rules;
mod space;
mod walk;

use crate::guard::{ThreadState, MAX_DEPTH};
use crate::{modules, stacks};
use memo::Memo;
pub use memo::REMEMBERED;
pub use rules::{after_fork_child as rules_after_fork_child, clear_cache, rules_changed};
pub use space::init as init_spaces;
use walk::Outcome;

/// Where the program called into the library: the stack pointer at the
/// call instruction's target (it points at the return address) and RBP
/// there. Handed over by the entry stubs (`entry.rs`).
#[derive(Clone, Copy)]
pub struct Caller {
    pub sp: u64,
    pub bp: u64,
}

/// Stacks other than its own a thread remembers as readable (mirrored in
/// thread_state.c).
pub const ALT_STACKS: usize = 4;

/// Below this depth (`LEAKTRACE_DEPTH`), captures do not use the memo.
const MEMO_MIN_DEPTH: usize = 12;

/// A captured stack.
pub struct Captured<'a> {
    /// Return addresses, innermost first.
    pub frames: &'a [u64],
    /// `stacks::hash(frames)`.
    pub hash: u64,
    /// The stack id, when the stack is the thread's previous one or a
    /// recurring one (then `frames` may be empty); else 0: intern it and
    /// tell [`remember_id`]. Either way, tell [`note_stack`] the id.
    pub id: u32,
}

/// Captures the calling thread's stack from `caller`, the program's frame
/// at its call into the library, keeping at most `depth` frames.
#[inline(always)]
pub fn capture(state: &mut ThreadState, depth: usize, caller: Caller) -> Captured<'_> {
    capture_with(state, depth, caller, crate::config::stack_cache())
}

/// The id of the calling thread's stack from `caller` when it is one of the
/// thread's recurring stacks ([`cache`]), as [`capture`] would find it: the
/// common case, kept apart so that the hook does a few loads and compares
/// and no call. `None`: capture (on the thread's first capture, after a
/// module change, on another stack than its own, or for another stack).
#[inline(always)]
pub fn recurring(state: &mut ThreadState, depth: usize, caller: Caller) -> Option<u32> {
    let sp = stack_pointer();
    let hi = state.stack_hi;
    // The conditions under which `capture_with` reads the caller's frame
    // from the thread's own known stack and asks the cache.
    if depth.min(MAX_DEPTH) < MEMO_MIN_DEPTH
        || !crate::config::stack_cache()
        || state.stack_known == 0
        || sp < state.stack_lo
        || caller.sp < sp
        || caller.sp.saturating_add(16) > hi
        || caller.sp & 7 != 0
        || modules::is_dirty()
    {
        return None;
    }
    let space = space::existing(state)?;
    // SAFETY: an aligned word between the stack pointer and the top of the
    // thread's own stack, which is mapped (checked above).
    let pc = unsafe { (caller.sp as *const u64).read_volatile() };
    if pc == 0 {
        return None;
    }
    let key = cache::Start {
        pc,
        sp: caller.sp + 8,
        bp: caller.bp,
        generation: rules::GENERATION.load(core::sync::atomic::Ordering::Relaxed),
        hi,
    };
    let id = space.cache.lookup(&key)?;
    space.pending = false;
    Some(id)
}

/// As [`capture`], but always walking, so that [`last_capture`] describes
/// this stack.
pub fn capture_walked(state: &mut ThreadState, depth: usize, caller: Caller) -> Captured<'_> {
    capture_with(state, depth, caller, false)
}

#[inline(never)]
fn capture_with(
    state: &mut ThreadState,
    depth: usize,
    caller: Caller,
    cached: bool,
) -> Captured<'_> {
    let sp = stack_pointer();
    if state.stack_known == 0 {
        learn_stack_bounds(state, sp);
    }
    // The thread's space first: the cold work below runs on its side stack.
    if space::of(state).is_none() {
        return empty();
    }
    if modules::is_dirty() {
        space::on_side_stack(modules::refresh);
    }
    let mut hi = state.stack_hi;
    if sp < state.stack_lo {
        // Deeper than ever, or on another stack: find how far up memory is
        // readable before reading any of it.
        hi = space::on_side_stack(|| readable_top(state, sp));
    }
    if sp.saturating_add(16) > hi {
        // A stack above the thread's own, or nothing readable: no reads.
        return empty();
    }
    let depth = depth.clamp(1, MAX_DEPTH);
    let stack = Stack { lo: sp, hi };
    // The caller's frame: its return address sits at the entry stack
    // pointer, and its stack pointer after the return is just above.
    let pc = match stack.read(caller.sp) {
        Some(pc) if pc != 0 => pc,
        _ => return empty(),
    };
    let start = Regs {
        pc,
        sp: caller.sp + 8,
        bp: caller.bp,
    };
    let generation = rules::GENERATION.load(core::sync::atomic::Ordering::Relaxed);
    let Some(space) = space::existing(state) else {
        return empty();
    };
    let key = cache::Start {
        pc: start.pc,
        sp: start.sp,
        bp: start.bp,
        generation,
        hi,
    };
    space.pending = false;
    if cached && depth >= MEMO_MIN_DEPTH {
        if let Some(id) = space.cache.lookup(&key) {
            return Captured {
                frames: &[],
                hash: 0,
                id,
            };
        }
    }
    let memo = &mut space.memo;
    // For a few frames a plain walk costs less than checking the whole
    // remembered stack.
    let small = depth < MEMO_MIN_DEPTH;
    let usable = !small && memo.generation == generation && memo.len != 0;
    let old = (memo.start(), memo.id);
    // Walk far enough to remember the whole stack, unless the last walk
    // found it deeper than the memo holds.
    let limit = if small || memo.deep != 0 || depth > REMEMBERED {
        depth
    } else {
        REMEMBERED
    };
    let fresh = &mut space.fresh;
    memo.seal();
    let outcome = walk::walk(fresh, memo, usable, stack, limit, start);
    memo.generation = generation;
    memo.deep = u32::from(matches!(outcome, Outcome::Cut { .. }));
    match outcome {
        Outcome::Met { n, at } => {
            if n == 1 && at == old.0 {
                // The very stack of the previous capture.
                space.pending = cached && memo.len as usize <= depth;
                space.last = key;
                return remembered(memo, depth, old.1);
            }
            if memo.splice(fresh, n, at) {
                memo.id = 0;
                space.pending = cached && memo.len as usize <= depth;
                space.last = key;
                return remembered(memo, depth, 0);
            }
            // Too deep to remember: the new frames, then the remembered.
            let rest = (REMEMBERED - at - 1).min(depth.saturating_sub(n));
            fresh.pc[n..n + rest].copy_from_slice(&memo.pc[at + 1..at + 1 + rest]);
            memo.clear();
            computed(&fresh.pc[..(n + rest).min(depth)])
        }
        Outcome::Ended { n, end_slot } if n <= REMEMBERED && !small => {
            memo.len = 0;
            memo.end_slot = end_slot;
            memo.splice(fresh, n, REMEMBERED - 1);
            memo.id = 0;
            space.pending = cached && memo.len as usize <= depth;
            space.last = key;
            remembered(memo, depth, 0)
        }
        Outcome::Ended { n, .. } | Outcome::Cut { n } => {
            memo.clear();
            computed(&fresh.pc[..n.min(depth)])
        }
    }
}

/// The current stack pointer.
#[inline(always)]
fn stack_pointer() -> u64 {
    let sp: u64;
    // SAFETY: reads one register; touches no memory.
    unsafe {
        core::arch::asm!(
            "mov {sp}, rsp",
            sp = out(reg) sp,
            options(nomem, nostack, preserves_flags)
        );
    }
    sp
}

/// No frames.
fn empty<'a>() -> Captured<'a> {
    Captured {
        frames: &[],
        hash: stacks::hash(&[]),
        id: 0,
    }
}

/// The remembered stack, cut to `depth` frames.
#[inline(always)]
fn remembered(memo: &Memo, depth: usize, id: u32) -> Captured<'_> {
    let start = memo.start();
    let len = memo.len as usize;
    if len > depth {
        return cut(memo, depth, id);
    }
    Captured {
        frames: &memo.pc[start..],
        hash: stacks::hash_finish(memo.chain[start], len),
        id,
    }
}

/// The remembered stack's innermost `depth` frames, hashed from scratch
/// (the hash chain covers the outer frames that are cut off).
#[cold]
#[inline(never)]
fn cut(memo: &Memo, depth: usize, id: u32) -> Captured<'_> {
    let start = memo.start();
    Captured {
        id,
        ..computed(&memo.pc[start..start + depth])
    }
}

/// Frames hashed from scratch.
fn computed(frames: &[u64]) -> Captured<'_> {
    Captured {
        frames,
        hash: stacks::hash(frames),
        id: 0,
    }
}

/// Notes the stack id interned for the thread's last capture.
#[inline]
pub fn remember_id(state: &mut ThreadState, id: u32) {
    if let Some(space) = space::existing(state) {
        if space.memo.len != 0 {
            space.memo.id = id;
        }
    }
}

/// Notes the stack id of the thread's last capture for the cache of
/// recurring stacks (cache.rs), when that capture walked to a complete
/// stack.
#[inline]
pub fn note_stack(state: &mut ThreadState, id: u32) {
    if let Some(space) = space::existing(state) {
        if space.pending {
            space.pending = false;
            space.cache.note(&space.last, &space.memo, id);
        }
    }
}

/// The return address and stack pointer (the callee's CFA: where the
/// frame's own data starts) of each frame of the thread's last capture,
/// innermost first, for as many frames as it remembers.
pub fn last_capture(state: &mut ThreadState) -> (&[u64], &[u64]) {
    let Some(space) = space::existing(state) else {
        return (&[], &[]);
    };
    let m = &space.memo;
    let start = m.start();
    (&m.pc[start..], &m.sp[start..])
}

/// Bounds-checked reads of the current thread's stack.
#[derive(Clone, Copy)]
pub struct Stack {
    lo: u64,
    hi: u64,
}

impl Stack {
    /// The word at `addr`, if it lies inside `[lo, hi)` and is aligned.
    #[inline(always)]
    pub fn read(self, addr: u64) -> Option<u64> {
        // One unsigned compare covers both bounds (`hi - lo >= 16` is
        // checked by `capture`).
        if addr.wrapping_sub(self.lo) > self.hi - self.lo - 8 || addr & 7 != 0 {
            return None;
        }
        // SAFETY: `addr` is an aligned word between the stack pointer at the
        // capture and the top of this thread's stack, which is mapped.
        Some(unsafe { (addr as *const u64).read_volatile() })
    }
}

/// Registers of the frame being unwound.
#[derive(Clone, Copy)]
struct Regs {
    pc: u64,
    sp: u64,
    bp: u64,
}

/// How far up from `sp` (below the thread's readable stack) memory is
/// readable without a gap: the thread's stack top if it runs on its own
/// stack deeper than before, else the top of the other stack `sp` lies in
/// (a coroutine's on the heap, a sigaltstack), so that no read of a walk
/// there can reach an unmapped or inaccessible page between the two.
/// Reads /proc/self/maps (without allocating): once per new depth of the
/// thread's stack, once per other stack.
#[cold]
#[inline(never)]
fn readable_top(state: &mut ThreadState, sp: u64) -> u64 {
    if let Some(&[_, hi]) = state.alt.iter().find(|r| sp >= r[0] && sp < r[1]) {
        return hi;
    }
    let (start, end) = match crate::reach::maps::readable_run(sp) {
        Ok(Some(run)) => run,
        Ok(None) => return 0,
        Err(()) => {
            // No /proc: trust the thread's stack, as before this check.
            state.stack_lo = sp;
            return state.stack_hi;
        }
    };
    if end >= state.stack_hi {
        state.stack_lo = start;
        return state.stack_hi;
    }
    // Another stack: remembered by its whole mapping, so that coroutines
    // with stacks in one heap share it.
    let slot = (state.alt_next as usize) % ALT_STACKS;
    state.alt[slot] = [start, end];
    state.alt_next = state.alt_next.wrapping_add(1);
    end
}

extern "C" {
    /// The initial stack pointer of the main thread (exported by ld.so).
    static __libc_stack_end: *mut libc::c_void;
}

/// Largest thread stack we believe in (above it, `pthread_self` is not on
/// this stack).
const MAX_THREAD_STACK: u64 = 4 << 30;

/// Finds the top of the calling thread's stack, once per thread, without
/// calling into libc: `pthread_getattr_np` takes the thread's lock and then
/// allocates, so calling it from a malloc hook deadlocks a program that
/// calls it (Rust's runtime does, at start-up).
///
/// glibc places a thread's descriptor (`pthread_self()`) at the top of its
/// stack block, also for stacks the program provides; the main thread's
/// descriptor is elsewhere, and its stack ends just above
/// `__libc_stack_end` (argc, argv and the environment, which are mapped).
#[cold]
#[inline(never)]
fn learn_stack_bounds(state: &mut ThreadState, sp: u64) {
    state.stack_known = 1;
    // SAFETY: pthread_self only reads the thread pointer.
    let descriptor = unsafe { libc::pthread_self() } as u64;
    // SAFETY: reading an exported pointer-sized variable of ld.so.
    let main_top = unsafe { __libc_stack_end } as u64;
    if descriptor > sp && descriptor - sp < MAX_THREAD_STACK {
        state.stack_hi = descriptor;
    } else if main_top > sp && main_top - sp < MAX_THREAD_STACK {
        // argc, the argv and envp arrays and the auxiliary vector follow.
        state.stack_hi = main_top + 256;
    }
    // Nothing below the top is known readable yet (see `readable_top`).
    state.stack_lo = state.stack_hi;
}
