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

/// A thread's last complete stack (in the thread's [`Space`](super::Space));
/// all zeros is a valid empty memo.
#[repr(C)]
pub struct Memo {
    /// Frames held: they are `REMEMBERED - len ..REMEMBERED`.
    pub len: u32,
    /// The stack id interned for exactly these frames, 0 if none yet.
    pub id: u32,
    /// The last walk was cut short: the stack is deeper than the memo
    /// holds (non-zero), so the next walks stop at the depth asked for.
    pub deep: u32,
    /// The rule cache's generation when recorded (`rules::GENERATION`).
    pub generation: u64,
    /// Where the walk read the zero return address that ended it (0: it
    /// ended on a rule, not on a read).
    pub end_slot: u64,
    /// Per frame: its return address, its stack pointer (its callee's CFA;
    /// one more entry holds `u64::MAX`, see [`Memo::seal`]), its RBP, a
    /// stack word the walk read for it and the value it read there (the
    /// saved RBP, or the return address again when RBP was unchanged), and
    /// the hash chain up to it.
    pub pc: [u64; REMEMBERED],
    pub sp: [u64; REMEMBERED + 1],
    pub bp: [u64; REMEMBERED],
    pub slot: [u64; REMEMBERED],
    pub saved: [u64; REMEMBERED],
    pub chain: [u64; REMEMBERED],
}

/// Frames found by a walk, innermost first.
#[repr(C)]
pub struct Fresh {
    pub pc: [u64; crate::guard::MAX_DEPTH],
    /// As in [`Memo`], for the first `REMEMBERED` frames, but `slot` is 0
    /// where RBP was unchanged.
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

    /// Ends the stack pointers with one above any frame's, so that a
    /// search for a frame's stack pointer needs no bounds check (a zeroed
    /// memo, of a new thread, has 0 there).
    #[inline(always)]
    pub fn seal(&mut self) {
        self.sp[REMEMBERED] = u64::MAX;
    }

    /// Forgets everything.
    #[inline(always)]
    pub fn clear(&mut self) {
        self.len = 0;
        self.id = 0;
    }

    /// Whether every stack word the remembered walk read for the frames
    /// outside frame `at` still holds the value it read.
    #[inline]
    pub fn unchanged_beyond(&self, at: usize, stack: Stack) -> bool {
        for m in at + 1..REMEMBERED {
            // SAFETY: the walk that recorded frame `m` read both words on
            // this stack, bounds-checked, and they lie above frame `m - 1`'s
            // stack pointer (a return-address slot, by construction; a
            // saved-RBP slot, checked by `walk::step`), so above frame
            // `at`'s, which is inside this capture's `[lo, hi)`.
            let (ra, saved) = unsafe {
                (
                    ((self.sp[m] - 8) as *const u64).read_volatile(),
                    (self.slot[m] as *const u64).read_volatile(),
                )
            };
            if (ra != self.pc[m]) | (saved != self.saved[m]) {
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
            let (pc, sp, bp, slot) = (fresh.pc[i], fresh.sp[i], fresh.bp[i], fresh.slot[i]);
            chain = stacks::hash_link(chain, pc);
            let m = start + i;
            self.pc[m] = pc;
            self.sp[m] = sp;
            self.bp[m] = bp;
            // Where RBP was unchanged, check the return address twice.
            (self.slot[m], self.saved[m]) = if slot == 0 { (sp - 8, pc) } else { (slot, bp) };
            self.chain[m] = chain;
        }
        self.len = (REMEMBERED - start) as u32;
        true
    }
}
