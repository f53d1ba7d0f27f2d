//! Each thread remembers the frames of its previous capture, so that a
//! walk can stop as soon as it reaches a frame it has seen before.
//!
//! Successive allocations of a thread usually share the outer part of their
//! stacks (the event loop, the request handler, `main`). When the walk
//! reaches a frame with the same return address, stack pointer and frame
//! pointer as a frame of the previous capture, everything further out is
//! determined by the same rules applied to the same stack words; so if each
//! word the previous walk read beyond that frame (each return-address slot
//! and each saved-RBP slot) still holds the same value, the rest of the
//! stack is the previous one, and it is copied instead of walked. Checking a
//! word is an independent load, where walking a frame is a chain of
//! dependent ones.

use super::Stack;

/// Frames remembered per capture.
pub const REMEMBERED: usize = 256;

/// One capture's frames. Mirrors `struct leaktrace_memo` in thread_state.c.
#[repr(C)]
pub struct Memo {
    pub len: u32,
    /// The walk reached the outermost frame (it was not cut short).
    pub complete: u32,
    /// The rule cache's generation when recorded (`rules::GENERATION`).
    pub generation: u64,
    /// Per frame: its return address, its stack pointer (its callee's CFA),
    /// its RBP, and the address RBP was read from (0: unchanged from the
    /// callee).
    pub pc: [u64; REMEMBERED],
    pub sp: [u64; REMEMBERED],
    pub bp: [u64; REMEMBERED],
    pub slot: [u64; REMEMBERED],
}

impl Memo {
    /// Records frame `n`.
    #[inline(always)]
    pub fn record(&mut self, n: usize, pc: u64, sp: u64, bp: u64, slot: u64) {
        if n < REMEMBERED {
            self.pc[n] = pc;
            self.sp[n] = sp;
            self.bp[n] = bp;
            self.slot[n] = slot;
        }
    }

    /// Whether every stack word the recorded walk read for frames `from..`
    /// still holds the value it read.
    pub fn unchanged(&self, from: usize, stack: Stack) -> bool {
        (from..self.len as usize).all(|m| {
            stack.read(self.sp[m].wrapping_sub(8)) == Some(self.pc[m])
                && (self.slot[m] == 0 || stack.read(self.slot[m]) == Some(self.bp[m]))
        })
    }
}
