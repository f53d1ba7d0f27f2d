//! Each thread remembers its last captured stack, so that the next capture
//! walks only the frames that changed.
//!
//! Successive allocations of a thread usually share the outer part of their
//! stacks (the event loop, the request handler, `main`). When the walk
//! reaches a frame with the same return address, stack pointer and frame
//! pointer as a remembered frame, everything further out is determined by
//! the same rules applied to the same stack words; so if each word the
//! remembered walk read beyond that frame (each return-address slot, each
//! saved-RBP slot and the word that ended it) still holds the value it read,
//! the rest of the stack is the remembered one. Checking a word is an
//! independent load, where walking a frame is a chain of dependent ones.
//!
//! The frames are kept right-aligned (`start..REMEMBERED`, innermost first,
//! outermost last) so that a new capture replaces only the inner part in
//! place: the shared outer part keeps its position, and with it the hash
//! chain of each frame ([`crate::stacks::hash_link`]), which covers the
//! frame and all outside it.

use super::Stack;
use crate::stacks;

/// Frames remembered per thread.
pub const REMEMBERED: usize = 256;

/// A thread's last complete stack. Mirrors `struct leaktrace_memo` in
/// thread_state.c; all zeros is a valid empty memo.
#[repr(C)]
pub struct Memo {
    /// Frames held: they are `REMEMBERED - len ..REMEMBERED`.
    pub len: u32,
    /// The stack id interned for exactly these frames, 0 if none yet.
    pub id: u32,
    /// The rule cache's generation when recorded (`rules::GENERATION`).
    pub generation: u64,
    /// Where the walk read the zero return address that ended it (0: it
    /// ended on a rule, not on a read).
    pub end_slot: u64,
    /// Per frame: its return address, its stack pointer (its callee's CFA),
    /// its RBP, the address RBP was read from (0: unchanged from the
    /// callee), and the hash chain up to it.
    pub pc: [u64; REMEMBERED],
    pub sp: [u64; REMEMBERED],
    pub bp: [u64; REMEMBERED],
    pub slot: [u64; REMEMBERED],
    pub chain: [u64; REMEMBERED],
}

/// Frames found by a walk, innermost first. Mirrors `struct
/// leaktrace_fresh` in thread_state.c.
#[repr(C)]
pub struct Fresh {
    pub pc: [u64; crate::guard::MAX_DEPTH],
    /// As in [`Memo`], for the first `REMEMBERED` frames.
    pub sp: [u64; REMEMBERED],
    pub bp: [u64; REMEMBERED],
    pub slot: [u64; REMEMBERED],
}

impl Memo {
    /// Index of the innermost remembered frame.
    #[inline(always)]
    pub fn start(&self) -> usize {
        REMEMBERED - self.len as usize
    }

    /// Forgets everything.
    #[inline(always)]
    pub fn clear(&mut self) {
        self.len = 0;
        self.id = 0;
    }

    /// Whether every stack word the remembered walk read for the frames
    /// outside frame `at` still holds the value it read. Frame `at` is at
    /// or above the capture's stack pointer (`stack.lo`).
    #[inline]
    pub fn unchanged_beyond(&self, at: usize, stack: Stack) -> bool {
        let lo = stack.lo;
        for m in at + 1..REMEMBERED {
            let slot = self.slot[m];
            // SAFETY: the return-address slot of a frame outside frame `at`
            // lies between frame `at`'s stack pointer and the top of the
            // stack (where the remembered walk read it, bounds-checked, on
            // this same stack), so inside `[lo, hi)`, which is mapped.
            let ra = unsafe { ((self.sp[m] - 8) as *const u64).read_volatile() };
            // SAFETY: likewise for a saved-RBP slot, once checked not to lie
            // below `lo` (the remembered walk read it below `hi`).
            let same_bp = slot == 0
                || (slot >= lo && unsafe { (slot as *const u64).read_volatile() } == self.bp[m]);
            if ra != self.pc[m] || !same_bp {
                return false;
            }
        }
        self.end_slot == 0 || stack.read(self.end_slot) == Some(0)
    }

    /// Replaces the frames inside frame `at` with `fresh`'s first `n`
    /// frames, the last of which is the new frame `at`. Returns false, and
    /// leaves the memo to be cleared, when the stack no longer fits.
    #[inline]
    pub fn splice(&mut self, fresh: &Fresh, n: usize, at: usize) -> bool {
        if at + 1 < n {
            return false;
        }
        let start = at + 1 - n;
        let mut chain = if at + 1 < REMEMBERED {
            self.chain[at + 1]
        } else {
            stacks::HASH_SEED
        };
        // A few frames: element by element, not four calls to memcpy.
        for i in (0..n).rev() {
            let pc = fresh.pc[i];
            chain = stacks::hash_link(chain, pc);
            let m = start + i;
            self.pc[m] = pc;
            self.sp[m] = fresh.sp[i];
            self.bp[m] = fresh.bp[i];
            self.slot[m] = fresh.slot[i];
            self.chain[m] = chain;
        }
        self.len = (REMEMBERED - start) as u32;
        true
    }
}
