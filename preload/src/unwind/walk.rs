//! One walk from the program's frame outwards, until it meets the thread's
//! remembered stack (memo.rs), the outermost frame, or its frame limit.

use super::memo::{Fresh, Memo, REMEMBERED};
use super::rules::{self, Rule};
use super::{Regs, Stack};

/// How a walk ended. `n` counts the frames written to [`Fresh`].
pub enum Outcome {
    /// Frame `n - 1` is remembered frame `at`, and the remembered frames
    /// outside it still hold: the stack is the new frames plus those.
    Met { n: usize, at: usize },
    /// The walk reached the outermost frame by itself. `end_slot`: where it
    /// read the zero return address that ended it, 0 if a rule ended it.
    Ended { n: usize, end_slot: u64 },
    /// The walk was cut short at its limit.
    Cut { n: usize },
}

/// Walks from `r` (the program's frame), writing each frame to `fresh` and
/// comparing it with the remembered stack `memo` (when `memo_usable`).
/// Inlined into its one caller: as a call of its own it ran ~60
/// instructions slower a capture (registers spilled across the call).
#[inline(always)]
pub fn walk(
    fresh: &mut Fresh,
    memo: &Memo,
    memo_usable: bool,
    stack: Stack,
    limit: usize,
    mut r: Regs,
) -> Outcome {
    // Next remembered frame that may still match: remembered stack
    // pointers rise from `start` outwards, as do the walk's, and end with
    // `u64::MAX` at `REMEMBERED`.
    let mut cursor = if memo_usable {
        memo.start()
    } else {
        REMEMBERED
    };
    let mut slot = 0;
    let mut n = 0;
    loop {
        if n == limit {
            return Outcome::Cut { n };
        }
        fresh.pc[n] = r.pc;
        if n < REMEMBERED {
            fresh.sp[n] = r.sp;
            fresh.bp[n] = r.bp;
            fresh.slot[n] = slot;
        }
        n += 1;
        while memo.sp[cursor] < r.sp {
            cursor += 1;
        }
        if memo.sp[cursor] == r.sp
            && memo.pc[cursor] == r.pc
            && memo.bp[cursor] == r.bp
            && memo.unchanged_beyond(cursor, stack)
        {
            return Outcome::Met { n, at: cursor };
        }
        match step(r, stack) {
            Step::Caller {
                pc,
                sp,
                bp,
                bp_slot,
            } => {
                r = Regs { pc, sp, bp };
                slot = bp_slot;
            }
            Step::End { end_slot } => return Outcome::Ended { n, end_slot },
        }
    }
}

/// The result of stepping out of a frame.
enum Step {
    /// The caller's frame, and where its RBP was read (0: unchanged).
    Caller {
        pc: u64,
        sp: u64,
        bp: u64,
        bp_slot: u64,
    },
    /// No caller; `end_slot` as in [`Outcome::Ended`].
    End { end_slot: u64 },
}

/// Steps out of frame `r` by its rule. A saved-RBP slot must lie above the
/// frame's stack pointer (where a prologue puts it), which memo.rs relies
/// on.
#[inline(always)]
fn step(r: Regs, stack: Stack) -> Step {
    const END: Step = Step::End { end_slot: 0 };
    // A return address points after the call; the rule is the call's.
    let pc = r.pc - 1;
    let rule = match rules::cached(pc) {
        // The two common cases without unpacking: the frame-pointer rule,
        // and CFA = RSP + offset with RBP untouched (code built without
        // frame pointers).
        Ok(rules::FRAME_POINTER_BITS) => return frame_pointer_step(r, stack),
        Ok(bits) if rules::is_stack_pointer_only(bits) => {
            let cfa = r.sp + rules::stack_pointer_offset(bits);
            return caller_at(cfa, r, r.bp, 0, stack);
        }
        Ok(bits) => Rule::unpack(bits),
        Err(()) => rules::rule_miss(pc),
    };
    let (cfa, bp, bp_slot) = match rule {
        Rule::End => return END,
        Rule::FramePointer => return frame_pointer_step(r, stack),
        Rule::Cfa {
            from_rbp,
            cfa_offset,
            rbp_saved,
            rbp_offset,
        } => {
            let base = if from_rbp { r.bp } else { r.sp };
            // A wrapped sum fails the checks below, as any wrong address.
            let cfa = base.wrapping_add_signed(cfa_offset);
            if rbp_saved {
                let slot = cfa.wrapping_add_signed(rbp_offset);
                match stack.read(slot) {
                    Some(bp) if slot >= r.sp => (cfa, bp, slot),
                    _ => return END,
                }
            } else {
                (cfa, r.bp, 0)
            }
        }
    };
    caller_at(cfa, r, bp, bp_slot, stack)
}

/// The caller of frame `r`, whose CFA is `cfa` (its return address just
/// below), with RBP `bp` read from `bp_slot`.
#[inline(always)]
fn caller_at(cfa: u64, r: Regs, bp: u64, bp_slot: u64, stack: Stack) -> Step {
    const END: Step = Step::End { end_slot: 0 };
    // The stack grows towards the caller.
    if cfa <= r.sp {
        return END;
    }
    match stack.read(cfa - 8) {
        Some(0) => Step::End { end_slot: cfa - 8 },
        Some(pc) => Step::Caller {
            pc,
            sp: cfa,
            bp,
            bp_slot,
        },
        None => END,
    }
}

/// CFA = RBP + 16: the caller's RBP at RBP, its return address above.
#[inline(always)]
fn frame_pointer_step(r: Regs, stack: Stack) -> Step {
    let bp = r.bp;
    // RBP lies in the frame, at or above its stack pointer; the pair must
    // be on the stack.
    if bp < r.sp || bp > stack.hi - 16 || bp & 7 != 0 {
        return Step::End { end_slot: 0 };
    }
    // SAFETY: `bp` is aligned and in `[r.sp, hi - 16]`, and `r.sp` is at
    // or above the capture's stack pointer: both words are on this stack.
    let (caller_bp, pc) = unsafe {
        let p = bp as *const u64;
        (p.read_volatile(), p.add(1).read_volatile())
    };
    if pc == 0 {
        return Step::End { end_slot: bp + 8 };
    }
    Step::Caller {
        pc,
        sp: bp + 16,
        bp: caller_bp,
        bp_slot: bp,
    }
}
