//! Stack capture without frame pointers, at nearly frame-pointer cost.
//!
//! On x86_64 the return address of a frame always sits at CFA − 8, so one
//! frame step needs only two facts from the DWARF call-frame information:
//! how to compute the CFA (RSP or RBP plus an offset) and where the caller's
//! RBP was saved. [`rules`] computes those facts once per return address and
//! caches them; a warm step is one cache load and one or two stack reads.
//! Where a frame keeps the standard frame pointer, a run of frames is
//! followed along the RBP chain, each step checked against the cached rule
//! of the frame it leaves (a load that overlaps with the chain).
//! A capture starts at the program's own frame, handed over by the entry
//! stubs (`entry.rs`), so the library's frames are never walked.
//! [`memo`] stops a walk early when it reaches the part of the stack the
//! thread's previous capture already walked.
//!
//! Code with no unwind information falls back to the RBP chain. Every stack
//! read is checked against the thread's stack bounds (`[initial RSP, top)`),
//! so a wrong rule stops the walk instead of faulting.

mod memo;
mod rules;

use crate::guard::ThreadState;
use crate::modules;
pub use memo::Memo;
use memo::REMEMBERED;
pub use rules::clear_cache;
use rules::{has_frame_pointer_rule, rule_for, Rule, FRAME_POINTER_RULE};

/// Frames followed at once along the frame-pointer chain before checking.
const RUN: usize = 32;

/// Where the program called into the library: the stack pointer at the
/// call instruction's target (it points at the return address) and RBP
/// there. Handed over by the entry stubs (`entry.rs`).
#[derive(Clone, Copy)]
pub struct Caller {
    pub sp: u64,
    pub bp: u64,
}

/// Captures the calling thread's stack from `caller`, the program's frame
/// at its call into the library, into `state.frames`, innermost first.
/// Returns the number of frames.
#[inline(never)]
pub fn capture(state: &mut ThreadState, depth: usize, caller: Caller) -> usize {
    let sp: u64;
    // SAFETY: reads one register; touches no memory.
    unsafe {
        core::arch::asm!(
            "mov {sp}, rsp",
            sp = out(reg) sp,
            options(nomem, nostack, preserves_flags)
        );
    }
    if state.stack_known == 0 {
        learn_stack_bounds(state, sp);
    }
    if modules::is_dirty() {
        modules::refresh();
    }
    let hi = state.stack_hi;
    if sp.saturating_add(16) > hi {
        // A stack we do not know (sigaltstack, a coroutine): no safe reads.
        return 0;
    }
    let generation = rules::GENERATION.load(core::sync::atomic::Ordering::Relaxed);
    let current = (state.memo_current & 1) as usize;
    let (first, second) = state.memo.split_at_mut(1);
    let (prev, next) = if current == 0 {
        (&first[0], &mut second[0])
    } else {
        (&second[0], &mut first[0])
    };
    next.generation = generation;
    next.complete = 0;
    let mut walker = Walker {
        stack: Stack { lo: sp, hi },
        out: &mut state.frames[..depth.min(crate::guard::MAX_DEPTH)],
        n: 0,
        prev_len: if prev.generation == generation {
            prev.len as usize
        } else {
            0
        },
        prev,
        next,
        cursor: 0,
    };
    // The caller's frame: its return address sits at the entry stack
    // pointer, and its stack pointer after the return is just above.
    let Some(pc) = walker.stack.read(caller.sp).filter(|&pc| pc != 0) else {
        return 0;
    };
    walker.walk(Regs {
        pc,
        sp: caller.sp + 8,
        bp: caller.bp,
    });
    let n = walker.n;
    walker.next.len = n.min(REMEMBERED) as u32;
    if n > REMEMBERED {
        walker.next.complete = 0;
    }
    state.memo_current ^= 1;
    n
}

/// Frames whose stack pointers the last capture remembers.
pub const REMEMBERED_FRAMES: usize = REMEMBERED;

/// The stack pointer of each frame of the thread's last capture (the
/// callee's CFA: where the frame's own data starts), innermost first, for
/// its first `REMEMBERED_FRAMES` frames.
pub fn last_capture_sps(state: &ThreadState) -> &[u64] {
    let m = &state.memo[(state.memo_current & 1) as usize];
    &m.sp[..(m.len as usize).min(REMEMBERED)]
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

/// What to do after a frame is emitted.
enum Next {
    Go,
    Stop,
    /// The rest came from the previous capture, which was cut short: walk
    /// on from its last frame.
    Resume(Regs),
}

/// One walk: the frames found so far and the previous capture.
struct Walker<'a> {
    stack: Stack,
    out: &'a mut [u64],
    n: usize,
    prev: &'a Memo,
    prev_len: usize,
    next: &'a mut Memo,
    /// First frame of `prev` not below the current stack pointer.
    cursor: usize,
}

impl Walker<'_> {
    /// Steps from frame to frame, applying each frame's cached rule; where
    /// the rule is the standard frame-pointer rule, a run of frames is
    /// followed along the RBP chain instead (`frame_pointer_run`).
    fn walk(&mut self, start: Regs) {
        // The caller's own frame; RBP is the caller's, no slot was read.
        let mut r = match self.emit(start, 0) {
            Next::Go => start,
            Next::Stop => return,
            Next::Resume(regs) => regs,
        };
        // Bound the loop by the depth (a run adds frames without looping).
        for _ in 0..self.out.len() {
            // A return address points after the call; look up the call itself.
            let rule = rule_for(r.pc - 1);
            if rule == FRAME_POINTER_RULE {
                match self.frame_pointer_run(r) {
                    Some(regs) => {
                        r = regs;
                        continue;
                    }
                    None => return,
                }
            }
            let Some((cfa, next_bp, slot)) = step(rule, &r, self.stack) else {
                self.next.complete = 1;
                return;
            };
            let ra = match self.stack.read(cfa - 8) {
                Some(ra) if ra != 0 => ra,
                _ => {
                    self.next.complete = 1;
                    return;
                }
            };
            r = Regs {
                pc: ra,
                sp: cfa,
                bp: next_bp,
            };
            match self.emit(r, slot) {
                Next::Go => {}
                Next::Stop => return,
                Next::Resume(regs) => r = regs,
            }
        }
    }

    /// Adds a frame, and takes the rest of the stack from the previous
    /// capture if this frame is where it was then and the stack beyond is
    /// unchanged.
    #[inline(always)]
    fn emit(&mut self, r: Regs, slot: u64) -> Next {
        self.push(r, slot);
        if let Some(next) = self.try_match(r) {
            return next;
        }
        if self.n == self.out.len() {
            Next::Stop
        } else {
            Next::Go
        }
    }

    /// Adds a frame.
    #[inline(always)]
    fn push(&mut self, r: Regs, slot: u64) {
        let n = self.n;
        self.out[n] = r.pc;
        self.next.record(n, r.pc, r.sp, r.bp, slot);
        self.n = n + 1;
    }

    /// If frame `r` (just added) is where the previous capture had it and
    /// the stack beyond is unchanged, copies the previous capture's rest.
    #[inline(always)]
    fn try_match(&mut self, r: Regs) -> Option<Next> {
        let prev = self.prev;
        // The previous capture's stack pointers rise from frame to frame:
        // a binary search finds the first one not below this frame's.
        let rest = &prev.sp[self.cursor..self.prev_len];
        self.cursor += rest.partition_point(|&sp| sp < r.sp);
        let j = self.cursor;
        if j < self.prev_len
            && prev.sp[j] == r.sp
            && prev.pc[j] == r.pc
            && prev.bp[j] == r.bp
            && prev.unchanged(j + 1, self.stack)
        {
            return Some(self.take_rest(j + 1));
        }
        None
    }

    /// Copies the previous capture's frames `from..`.
    fn take_rest(&mut self, from: usize) -> Next {
        let prev = self.prev;
        for m in from..self.prev_len {
            if self.n == self.out.len() {
                return Next::Stop;
            }
            self.out[self.n] = prev.pc[m];
            self.next
                .record(self.n, prev.pc[m], prev.sp[m], prev.bp[m], prev.slot[m]);
            self.n += 1;
        }
        self.cursor = self.prev_len; // nothing more to match
        if prev.complete != 0 {
            self.next.complete = 1;
            return Next::Stop;
        }
        if self.n == self.out.len() || self.prev_len == 0 {
            return Next::Stop;
        }
        let last = self.prev_len - 1;
        Next::Resume(Regs {
            pc: prev.pc[last],
            sp: prev.sp[last],
            bp: prev.bp[last],
        })
    }

    /// Follows the RBP chain from `r`, a frame whose rule is the frame-pointer
    /// rule, keeping each step only if the frame it starts from has that rule
    /// too. The rule check of a frame is an independent load that branch
    /// prediction lets the CPU overlap with the next steps of the chain.
    /// Returns the frame to go on from (the last it vouched for), or `None`
    /// when the walk is over.
    // Out of line: inlined into the walk, its loop ran short of registers.
    #[inline(never)]
    fn frame_pointer_run(&mut self, r: Regs) -> Option<Regs> {
        // Local copies keep the loop in registers: writes through `out` and
        // `next` could otherwise make the compiler reload `self.n`, and a
        // `Regs` kept whole ends up in memory.
        // `r.sp` is at least the stack's low bound, and RBP may only rise.
        let top = self.stack.hi - 16; // highest address of a readable pair
        let mut n = self.n;
        let end = self.out.len().min(n + RUN);
        let out = &mut self.out[..end];
        let memo = &mut *self.next;
        let (mut pc, mut sp, mut bp) = (r.pc, r.sp, r.bp);
        let mut checked = true; // `r`'s rule was checked by the caller
        let stop = loop {
            if n >= end {
                break false; // the run or the depth is used up
            }
            // Frame `pc` keeps its caller's return address at RBP + 8 and
            // its caller's RBP at RBP. The chain must lead towards the
            // callers and stay on the stack (`sp` never drops below `lo`).
            if bp < sp || bp > top || bp & 7 != 0 {
                break false;
            }
            // SAFETY: `bp` is an aligned address in `[sp, hi - 16]`, within `[lo, hi - 16]`, the part
            // of this thread's stack between the capture and its top.
            let (next_bp, ra) = unsafe {
                let p = bp as *const u64;
                (p.read_volatile(), p.add(1).read_volatile())
            };
            if ra == 0 {
                memo.complete = 1;
                break true; // the outermost frame
            }
            // Every frame after `r` must have the rule for its step to hold.
            if !checked && !has_frame_pointer_rule(pc - 1) {
                break false;
            }
            checked = false;
            out[n] = ra;
            memo.record(n, ra, bp + 16, next_bp, bp);
            (pc, sp, bp) = (ra, bp + 16, next_bp);
            n += 1;
        };
        let last = Regs { pc, sp, bp };
        let stepped = n != self.n;
        self.n = n;
        if stop || self.n == self.out.len() {
            return None;
        }
        if !stepped {
            self.next.complete = 1;
            return None; // not even one step was readable
        }
        // Within a run, following the chain is as cheap as comparing with the
        // previous capture: compare only where the run ends. Otherwise the
        // caller goes on from the run's last frame with its own rule.
        match self.try_match(last) {
            Some(Next::Resume(regs)) => Some(regs),
            Some(_) => None,
            None => Some(last),
        }
    }
}

/// Applies one rule: the caller's CFA and RBP, and the address RBP was read
/// from (0 when unchanged), or `None` to stop.
#[inline(always)]
fn step(rule: Rule, r: &Regs, stack: Stack) -> Option<(u64, u64, u64)> {
    let (cfa, next_bp, slot) = match rule {
        Rule::End => return None,
        Rule::Cfa {
            from_rbp,
            cfa_offset,
            rbp_saved,
            rbp_offset,
        } => {
            let base = if from_rbp { r.bp } else { r.sp };
            let cfa = base.checked_add_signed(cfa_offset)?;
            if rbp_saved {
                let slot = cfa.checked_add_signed(rbp_offset)?;
                (cfa, stack.read(slot)?, slot)
            } else {
                (cfa, r.bp, 0)
            }
        }
        Rule::FramePointer => (r.bp.checked_add(16)?, stack.read(r.bp)?, r.bp),
    };
    // The stack grows towards the caller.
    (cfa > r.sp).then_some((cfa, next_bp, slot))
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
}
