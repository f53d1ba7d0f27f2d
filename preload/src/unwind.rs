//! Stack capture without frame pointers, at nearly frame-pointer cost.
//!
//! On x86_64 the return address of a frame always sits at CFA − 8, so one
//! frame step needs only two facts from the DWARF call-frame information:
//! how to compute the CFA (RSP or RBP plus an offset) and where the caller's
//! RBP was saved. Those facts are computed once per return address with
//! gimli and packed into 32 bits in a direct-mapped, lock-free cache keyed by
//! the address. A warm step is one cache load and one or two stack reads.
//!
//! Code with no unwind information falls back to the RBP chain. Every stack
//! read is checked against the thread's stack bounds (`[initial RSP, top)`),
//! so a wrong rule stops the walk instead of faulting.

use crate::guard::ThreadState;
use crate::modules::{self, CodeRange};
use core::sync::atomic::{AtomicU64, Ordering};
use gimli::{
    BaseAddresses, CfaRule, EhFrame, EhFrameHdr, NativeEndian, RegisterRule, UnwindContext,
    UnwindSection, X86_64,
};

const CACHE_BITS: u32 = 16;
const CACHE_SIZE: usize = 1 << CACHE_BITS;
/// Entry: high 32 bits = pc >> 16 (tag), low 32 bits = packed rule, 0 = empty.
static CACHE: [AtomicU64; CACHE_SIZE] = [const { AtomicU64::new(0) }; CACHE_SIZE];

/// How to step out of one frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rule {
    /// CFA = (RBP if `from_rbp` else RSP) + `cfa_offset`; the caller's RBP
    /// is at CFA + `rbp_offset` when `rbp_saved`, else unchanged.
    Cfa {
        from_rbp: bool,
        cfa_offset: i64,
        rbp_saved: bool,
        rbp_offset: i64,
    },
    /// The outermost frame (`_start`, thread start): stop.
    End,
    /// No unwind information: follow the RBP chain.
    FramePointer,
}

impl Rule {
    /// Packs into 31 bits plus a valid bit, or `None` if it does not fit
    /// (such a rule is recomputed each time: correct, only slower).
    fn pack(self) -> Option<u32> {
        match self {
            Rule::End => Some(0b011),
            Rule::FramePointer => Some(0b101),
            Rule::Cfa {
                from_rbp,
                cfa_offset,
                rbp_saved,
                rbp_offset,
            } => {
                if !(0..1 << 14).contains(&cfa_offset)
                    || !(-(1 << 12)..1 << 12).contains(&rbp_offset)
                {
                    return None;
                }
                let rbp_bits = (rbp_offset as u32) & 0x1fff;
                Some(
                    1 | (u32::from(from_rbp) << 3)
                        | (u32::from(rbp_saved) << 4)
                        | ((cfa_offset as u32) << 5)
                        | (rbp_bits << 19),
                )
            }
        }
    }

    fn unpack(bits: u32) -> Rule {
        match (bits >> 1) & 0b11 {
            0b01 => Rule::End,
            0b10 => Rule::FramePointer,
            _ => {
                let rbp_raw = (bits >> 19) & 0x1fff;
                // Sign-extend 13 bits.
                let rbp_offset = ((rbp_raw << 19) as i32 >> 19) as i64;
                Rule::Cfa {
                    from_rbp: bits & (1 << 3) != 0,
                    rbp_saved: bits & (1 << 4) != 0,
                    cfa_offset: i64::from((bits >> 5) & 0x3fff),
                    rbp_offset,
                }
            }
        }
    }
}

/// Forgets every cached rule (a module was unloaded: its addresses may now
/// hold other code).
pub fn clear_cache() {
    for e in CACHE.iter() {
        e.store(0, Ordering::Relaxed);
    }
}

/// Captures the calling thread's stack into `state.frames`, innermost
/// first, without the library's own frames. Returns the number of frames.
#[inline(never)]
pub fn capture(state: &mut ThreadState, depth: usize) -> usize {
    let (pc, sp, bp): (u64, u64, u64);
    // SAFETY: reads three registers; touches no memory.
    unsafe {
        core::arch::asm!(
            "lea {pc}, [rip]",
            "mov {sp}, rsp",
            "mov {bp}, rbp",
            pc = out(reg) pc,
            sp = out(reg) sp,
            bp = out(reg) bp,
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
    if sp >= hi || sp < state.stack_lo {
        // A stack we do not know (sigaltstack, a coroutine): no safe reads.
        return 0;
    }
    walk(
        pc,
        sp,
        bp,
        sp,
        hi,
        &mut state.frames[..depth.min(crate::guard::MAX_DEPTH)],
    )
}

/// The rule of a function that keeps the standard frame pointer
/// (`push rbp; mov rbp, rsp`): CFA = RBP + 16, caller's RBP at CFA − 16.
const FRAME_POINTER_RULE: Rule = Rule::Cfa {
    from_rbp: true,
    cfa_offset: 16,
    rbp_saved: true,
    rbp_offset: -16,
};

/// Frames followed at once along the frame-pointer chain before checking.
const RUN: usize = 32;

/// Bounds-checked reads of the current thread's stack.
#[derive(Clone, Copy)]
struct Stack {
    lo: u64,
    hi: u64,
}

impl Stack {
    #[inline]
    fn read(self, addr: u64) -> Option<u64> {
        if addr < self.lo || addr.checked_add(8)? > self.hi || !addr.is_multiple_of(8) {
            return None;
        }
        // SAFETY: `addr` is an aligned word between the stack pointer at the
        // capture and the top of this thread's stack, which is mapped.
        Some(unsafe { (addr as *const u64).read_volatile() })
    }
}

/// Registers of the frame being unwound.
struct Regs {
    pc: u64,
    sp: u64,
    bp: u64,
}

/// Steps from frame to frame. Each step applies the cached CFI rule of the
/// frame's address; where that rule is the standard frame-pointer rule, a
/// run of frames is followed along the RBP chain first and checked after
/// (the checks are independent loads the CPU overlaps), which makes code
/// built with frame pointers nearly as cheap as a plain frame-pointer walk
/// while staying exact where a frame without one interrupts the chain.
fn walk(pc: u64, sp: u64, bp: u64, lo: u64, hi: u64, out: &mut [u64]) -> usize {
    let stack = Stack { lo, hi };
    let mut r = Regs { pc, sp, bp };
    let mut n = 0;
    let mut first = true;
    // Own frames are not counted against the depth; bound the loop anyway.
    for _ in 0..out.len() + 64 {
        // A return address points after the call; look up the call itself.
        let lookup = if first { r.pc } else { r.pc - 1 };
        first = false;
        let rule = rule_for(lookup);
        if rule == FRAME_POINTER_RULE && n > 0 {
            n = frame_pointer_run(&mut r, stack, out, n);
            if n == out.len() || r.pc == 0 {
                break;
            }
            continue;
        }
        let Some((cfa, next_bp)) = step(rule, &r, stack) else {
            break;
        };
        let Some(ra) = stack.read(cfa - 8) else { break };
        if ra == 0 {
            break;
        }
        r = Regs {
            pc: ra,
            sp: cfa,
            bp: next_bp,
        };
        // The library's own frames are the innermost ones only.
        if n == 0 && modules::is_own(r.pc) {
            continue;
        }
        out[n] = r.pc;
        n += 1;
        if n == out.len() {
            break;
        }
    }
    n
}

/// Applies one rule: the caller's CFA and RBP, or `None` to stop.
#[inline]
fn step(rule: Rule, r: &Regs, stack: Stack) -> Option<(u64, u64)> {
    let (cfa, next_bp) = match rule {
        Rule::End => return None,
        Rule::Cfa {
            from_rbp,
            cfa_offset,
            rbp_saved,
            rbp_offset,
        } => {
            let base = if from_rbp { r.bp } else { r.sp };
            let cfa = base.checked_add_signed(cfa_offset)?;
            let next_bp = if rbp_saved {
                stack.read(cfa.checked_add_signed(rbp_offset)?)?
            } else {
                r.bp
            };
            (cfa, next_bp)
        }
        Rule::FramePointer => (r.bp.checked_add(16)?, stack.read(r.bp)?),
    };
    // The stack grows towards the caller.
    (cfa > r.sp).then_some((cfa, next_bp))
}

/// Follows the RBP chain from a frame whose rule is the frame-pointer rule,
/// keeping each step only if the frame it starts from also has that rule.
/// Leaves `r` at the first frame it could not vouch for (`r.pc == 0` when
/// the chain ended) and returns the new frame count.
fn frame_pointer_run(r: &mut Regs, stack: Stack, out: &mut [u64], n: usize) -> usize {
    let mut bps = [0u64; RUN + 1];
    // Follow: frame i of the run has RBP bps[i]; its caller's return address
    // is at bps[i] + 8 and its caller's RBP at bps[i].
    let want = RUN.min(out.len() - n);
    let mut k = 0;
    let mut b = r.bp;
    let mut floor = r.sp;
    bps[0] = b;
    while k < want && b >= floor {
        let (Some(ra), Some(next)) = (stack.read(b + 8), stack.read(b)) else {
            break;
        };
        out[n + k] = ra;
        floor = b + 16;
        b = next;
        k += 1;
        bps[k] = b;
        if ra == 0 {
            break;
        }
    }
    // Check: step 0 starts from a frame-pointer frame; step i + 1 is valid
    // only if the frame step i reached (at out[n + i]) has the rule too.
    let mut valid = 0;
    while valid < k {
        let ra = out[n + valid];
        if ra == 0 {
            r.pc = 0; // the outermost frame
            return n + valid;
        }
        valid += 1;
        if valid < k && !has_frame_pointer_rule(ra - 1) {
            break;
        }
    }
    if valid == 0 {
        r.pc = 0; // not even one step was readable
        return n;
    }
    // Frames up to out[n + valid - 1] are exact; the caller goes on from the
    // last of them with its own rule.
    let last = valid - 1;
    r.pc = out[n + last];
    r.sp = bps[last] + 16;
    r.bp = bps[last + 1];
    n + valid
}

/// Whether `pc`'s rule is the frame-pointer rule: one load and a compare of
/// the packed bits when cached.
#[inline(always)]
fn has_frame_pointer_rule(pc: u64) -> bool {
    let entry = CACHE[(pc as usize) & (CACHE_SIZE - 1)].load(Ordering::Relaxed);
    if entry == (u64::from((pc >> CACHE_BITS) as u32) << 32) | u64::from(FRAME_POINTER_BITS) {
        return true;
    }
    rule_for(pc) == FRAME_POINTER_RULE
}

/// `FRAME_POINTER_RULE` packed.
const FRAME_POINTER_BITS: u32 =
    1 | (1 << 3) | (1 << 4) | (16 << 5) | ((-16i32 as u32 & 0x1fff) << 19);

/// The rule for `pc`: from the cache, else computed and cached.
#[inline]
fn rule_for(pc: u64) -> Rule {
    let slot = &CACHE[(pc as usize) & (CACHE_SIZE - 1)];
    let entry = slot.load(Ordering::Relaxed);
    let tag = (pc >> CACHE_BITS) as u32;
    if entry != 0 && (entry >> 32) as u32 == tag {
        return Rule::unpack(entry as u32);
    }
    let range = match modules::find(pc) {
        Some(r) => r,
        None => {
            if !modules::on_unknown_pc(pc) {
                return Rule::FramePointer;
            }
            match modules::find(pc) {
                Some(r) => r,
                None => return Rule::FramePointer,
            }
        }
    };
    let rule = compute_rule(range, pc).unwrap_or(Rule::FramePointer);
    if let Some(bits) = rule.pack() {
        slot.store((u64::from(tag) << 32) | u64::from(bits), Ordering::Relaxed);
    }
    rule
}

/// Evaluates the CFI row for `pc` with gimli.
fn compute_rule(range: &CodeRange, pc: u64) -> Option<Rule> {
    if range.eh_frame_hdr == 0 || range.eh_frame == 0 {
        return None;
    }
    // SAFETY: both sections lie in loaded segments of the module that holds
    // `pc`, which is on this thread's stack and so cannot be unloaded now.
    let (hdr, frame) = unsafe {
        (
            core::slice::from_raw_parts(
                range.eh_frame_hdr as *const u8,
                range.eh_frame_hdr_len as usize,
            ),
            core::slice::from_raw_parts(
                range.eh_frame as *const u8,
                (range.eh_frame_end - range.eh_frame) as usize,
            ),
        )
    };
    let bases = BaseAddresses::default()
        .set_eh_frame_hdr(range.eh_frame_hdr)
        .set_eh_frame(range.eh_frame)
        .set_text(range.start);
    let parsed = EhFrameHdr::new(hdr, NativeEndian).parse(&bases, 8).ok()?;
    let table = parsed.table()?;
    let eh_frame = EhFrame::new(frame, NativeEndian);
    let mut ctx = Box::new(UnwindContext::new());
    let row = table
        .unwind_info_for_address(&eh_frame, &bases, &mut ctx, pc, EhFrame::cie_from_offset)
        .ok()?;
    // No rule for the return address (or an explicit "undefined") marks the
    // outermost frame.
    if matches!(
        row.register(X86_64::RA),
        None | Some(RegisterRule::Undefined)
    ) {
        return Some(Rule::End);
    }
    let (from_rbp, cfa_offset) = match *row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } if register == X86_64::RSP => {
            (false, offset)
        }
        CfaRule::RegisterAndOffset { register, offset } if register == X86_64::RBP => {
            (true, offset)
        }
        _ => return None,
    };
    let (rbp_saved, rbp_offset) = match row.register(X86_64::RBP) {
        Some(RegisterRule::Offset(off)) => (true, off),
        None | Some(RegisterRule::Undefined | RegisterRule::SameValue) => (false, 0),
        _ => return None,
    };
    Some(Rule::Cfa {
        from_rbp,
        cfa_offset,
        rbp_saved,
        rbp_offset,
    })
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
        state.stack_lo = 0;
        state.stack_hi = descriptor;
    } else if main_top > sp && main_top - sp < MAX_THREAD_STACK {
        state.stack_lo = 0;
        // argc, the argv and envp arrays and the auxiliary vector follow.
        state.stack_hi = main_top + 256;
    }
}

#[cfg(test)]
mod tests {
    use super::Rule;

    #[test]
    fn rules_pack_and_unpack() {
        for rule in [
            Rule::End,
            Rule::FramePointer,
            Rule::Cfa {
                from_rbp: false,
                cfa_offset: 8,
                rbp_saved: false,
                rbp_offset: 0,
            },
            Rule::Cfa {
                from_rbp: true,
                cfa_offset: 16,
                rbp_saved: true,
                rbp_offset: -16,
            },
            Rule::Cfa {
                from_rbp: false,
                cfa_offset: 16383,
                rbp_saved: true,
                rbp_offset: -4096,
            },
        ] {
            assert_eq!(Rule::unpack(rule.pack().unwrap()), rule);
        }
        assert_eq!(
            super::FRAME_POINTER_RULE.pack(),
            Some(super::FRAME_POINTER_BITS)
        );
        assert_eq!(
            Rule::Cfa {
                from_rbp: false,
                cfa_offset: 1 << 14,
                rbp_saved: false,
                rbp_offset: 0
            }
            .pack(),
            None
        );
    }
}
