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
pub fn walk(
    fresh: &mut Fresh,
    memo: &Memo,
    memo_usable: bool,
    stack: Stack,
    limit: usize,
    mut r: Regs,
) -> Outcome {
    // Next remembered frame that may still match: remembered stack
    // pointers rise from `start` outwards, as do the walk's.
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
        while cursor < REMEMBERED && memo.sp[cursor] < r.sp {
            cursor += 1;
        }
        if cursor < REMEMBERED
            && memo.sp[cursor] == r.sp
            && memo.pc[cursor] == r.pc
            && memo.bp[cursor] == r.bp
            && memo.unchanged_beyond(cursor, stack)
        {
            return Outcome::Met { n, at: cursor };
        }
        // A return address points after the call; the rule is the call's.
        let Some((cfa, bp, read_at)) = step(r, stack) else {
            return Outcome::Ended { n, end_slot: 0 };
        };
        match stack.read(cfa - 8) {
            Some(0) => {
                return Outcome::Ended {
                    n,
                    end_slot: cfa - 8,
                }
            }
            Some(pc) => {
                r = Regs { pc, sp: cfa, bp };
                slot = read_at;
            }
            None => return Outcome::Ended { n, end_slot: 0 },
        }
    }
}

/// Steps out of frame `r` by its rule: the caller's CFA and RBP, and the
/// address RBP was read from (0 when unchanged), or `None` at the end.
#[inline(always)]
fn step(r: Regs, stack: Stack) -> Option<(u64, u64, u64)> {
    let pc = r.pc - 1;
    let rule = match rules::cached(pc) {
        // The frame-pointer rule, the common case, without unpacking.
        Some(rules::FRAME_POINTER_BITS) => return frame_pointer_step(r, stack),
        Some(bits) => Rule::unpack(bits),
        None => rules::rule_miss(pc),
    };
    let (cfa, bp, slot) = match rule {
        Rule::End => return None,
        Rule::FramePointer => return frame_pointer_step(r, stack),
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
    };
    // The stack grows towards the caller.
    (cfa > r.sp).then_some((cfa, bp, slot))
}

/// CFA = RBP + 16, the caller's RBP saved at RBP.
#[inline(always)]
fn frame_pointer_step(r: Regs, stack: Stack) -> Option<(u64, u64, u64)> {
    let cfa = r.bp.checked_add(16)?;
    if cfa <= r.sp {
        return None;
    }
    Some((cfa, stack.read(r.bp)?, r.bp))
}
