//! A thread's recurring stacks, found by the frame an allocation is made
//! from, without walking.
//!
//! Most allocations of a program come from a few call sites reached by a
//! few paths: in sqlite3's scripted workload 99.9 % of captures start at a
//! frame (return address, stack pointer, frame pointer) where an earlier
//! capture of the same thread started, and 99.98 % of those found the very
//! same stack. So each thread keeps, per starting frame, the stack id it
//! captured there and every stack word that walk read: each return-address
//! slot, each saved-RBP slot and the word that ended it. If each still
//! holds its value, and the unwinding rules (their generation) and the
//! readable top of the stack are those of that walk, a walk would find the
//! same frames again, as memo.rs argues for the remembered stack; the
//! capture is then these loads and compares, with no walk and no interning.
//!
//! Entries are filled from the thread's memo after a capture, and only the
//! second time in a row a starting frame is seen in its set (the first
//! time stores its key): a program that seldom repeats a stack pays a few
//! stores per capture, not a copy.

use super::memo::{Memo, REMEMBERED};
use super::rules::{self, Rule};

const SETS: usize = 32;
const WAYS: usize = 4;
/// Frame-pointer links checked at most per stack, with their padding (see
/// [`Entry::link`]). A multiple of [`CHUNK`].
const MAX_LINKS: usize = 48;
/// Other words checked at most per stack (about one a frame without frame
/// pointers): deeper stacks are not kept. A multiple of [`CHUNK`].
const MAX_WORDS: usize = 64;
/// Words are checked four at a time; an entry's list is padded to a
/// multiple of four with [`PAD`], so that one loop with no remainder does
/// it (a second loop for the remainder cost a mispredicted exit).
const CHUNK: usize = 4;
/// A word that always holds 0: the padding checks it.
static PAD: u64 = 0;

/// One remembered starting frame (its return address and stack pointer
/// are in [`Cache::keys`]) and what its stack depends on.
#[repr(C)]
struct Entry {
    bp: u64,
    generation: u64,
    /// The readable top of the stack the walk was bounded by.
    hi: u64,
    /// Where the first link lies.
    link_at: u64,
    id: u32,
    /// Links to check.
    links: u32,
    /// Words to check, a multiple of [`CHUNK`].
    words: u32,
    /// Whether the words are known (else only the key is).
    filled: bool,
    /// Whether the walk used the starting frame's RBP (else any RBP there
    /// gives the same stack: code without frame pointers keeps data in it).
    bp_matters: bool,
    /// The innermost frames that a frame-pointer prologue saved, innermost
    /// first: the two adjacent slots the walk read for each (the caller's
    /// RBP, then the return address). In such a chain each saved RBP is
    /// where the next frame's slots lie, so only the values are kept (the
    /// first address is `link_at`), and each frame is one 16-byte compare:
    /// half the memory and fewer than half the instructions of checking the
    /// two words as `check` does. Padded in front to a multiple of
    /// [`CHUNK`] with links that check themselves (see `note`).
    link: [Link; MAX_LINKS],
    /// Every other word's address and the value it must hold.
    check: [[u64; 2]; MAX_WORDS],
}

/// A saved RBP and a return address, as they lie on the stack.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Link([u64; 2]);

/// The cache of one thread (in its `Space`); all zeros is empty.
#[repr(C)]
pub struct Cache {
    /// Per set, each way's starting return address and stack pointer, in
    /// one cache line: finding the way reads it alone.
    keys: [Keys; SETS],
    entries: [[Entry; WAYS]; SETS],
    /// Per set, the way used last (the next one is replaced first).
    recent: [u8; SETS],
}

#[repr(C, align(64))]
struct Keys([[u64; 2]; WAYS]);

/// A capture's starting frame and the conditions of its walk.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Start {
    pub pc: u64,
    pub sp: u64,
    pub bp: u64,
    pub generation: u64,
    pub hi: u64,
}

#[inline(always)]
fn set_of(pc: u64, sp: u64) -> usize {
    ((pc ^ sp.rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SETS.trailing_zeros()))
        as usize
}

/// Whether stepping out of the frame with return address `pc` reads RBP
/// (its CFA comes from RBP); when its rule is no longer cached, assume so.
fn uses_rbp(pc: u64) -> bool {
    match rules::cached(pc - 1) {
        Ok(rules::FRAME_POINTER_BITS) => true,
        Ok(bits) if rules::is_stack_pointer_only(bits) => false,
        Ok(bits) => match Rule::unpack(bits) {
            Rule::Cfa { from_rbp, .. } => from_rbp,
            Rule::FramePointer => true,
            Rule::End => false,
        },
        Err(()) => true,
    }
}

/// Whether each link still lies on the stack: the first at `at`, each
/// next one at the RBP the one before it saved.
///
/// # Safety
/// The 16 bytes at each link's address are readable.
#[inline(always)]
unsafe fn links_hold(mut at: u64, links: &[Link]) -> bool {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_load_si128, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_setzero_si128, _mm_xor_si128,
    };
    // SAFETY: SSE2 is part of x86-64; the caller vouches for the stack
    // reads, and a `Link` is 16-byte aligned.
    unsafe {
        let mut differ = _mm_setzero_si128();
        for chunk in links.chunks_exact(CHUNK) {
            for link in chunk {
                let found = _mm_loadu_si128(at as *const __m128i);
                let want = _mm_load_si128(link.0.as_ptr().cast());
                differ = _mm_or_si128(differ, _mm_xor_si128(found, want));
                at = link.0[0];
            }
        }
        _mm_movemask_epi8(_mm_cmpeq_epi8(differ, _mm_setzero_si128())) == 0xffff
    }
}

impl Cache {
    /// Forgets everything (a space taken over from an exited thread).
    pub fn clear(&mut self) {
        for keys in self.keys.iter_mut() {
            *keys = Keys([[0; 2]; WAYS]);
        }
        for e in self.entries.iter_mut().flatten() {
            e.filled = false;
        }
    }

    /// The way of `set` that holds the frame `s`.
    #[inline(always)]
    fn way(&self, set: usize, s: &Start) -> Option<usize> {
        let mut ways = 0u32;
        for (w, k) in self.keys[set].0.iter().enumerate() {
            ways |= u32::from(k[0] == s.pc && k[1] == s.sp) << w;
        }
        // Ways of one frame differ by RBP, when it matters.
        while ways != 0 {
            let w = ways.trailing_zeros() as usize;
            let e = &self.entries[set][w];
            if e.bp == s.bp || !e.bp_matters {
                return Some(w);
            }
            ways &= ways - 1;
        }
        None
    }

    /// The stack id of the stack starting at `s`, if it is the one
    /// remembered there. Every word an entry checks lies at or above
    /// `s.sp - 8` and below `s.hi`, the readable top of the current stack.
    #[inline(always)]
    pub fn lookup(&mut self, s: &Start) -> Option<u32> {
        let set = set_of(s.pc, s.sp);
        let way = self.way(set, s)?;
        let e = &self.entries[set][way];
        if !e.filled || e.generation != s.generation || e.hi != s.hi {
            return None;
        }
        let links = &e.link[..(e.links as usize).min(MAX_LINKS)];
        // SAFETY: the walk that filled the entry read each link's two slots
        // (as for the words below), but for the pads, which lie in the
        // entry.
        let links_hold = unsafe { links_hold(e.link_at, links) };
        let check = &e.check[..(e.words as usize).min(MAX_WORDS)];
        let mut diff = u64::from(!links_hold);
        for chunk in check.chunks_exact(CHUNK) {
            for &[addr, value] in chunk {
                // SAFETY: the walk that filled the entry read each word,
                // bounds-checked, between its starting frame's
                // return-address slot (`s.sp - 8`, above the current stack
                // pointer) and `s.hi`, the top of this same readable stack;
                // or it is `PAD`.
                diff |= unsafe { (addr as *const u64).read() } ^ value;
            }
        }
        if diff != 0 {
            return None;
        }
        self.recent[set] = way as u8;
        Some(e.id)
    }

    /// Notes that the thread's memo now holds the complete stack starting at
    /// `s`, interned as `id`: stores the key the first time, the words the
    /// second time in a row.
    pub fn note(&mut self, s: &Start, memo: &Memo, id: u32) {
        let set = set_of(s.pc, s.sp);
        let way = match self.way(set, s) {
            Some(way) => way,
            None => {
                // A new key replaces the way after the one used last, unfilled
                // (its frame pointer is compared once it is filled).
                let way = (self.recent[set] as usize + 1) % WAYS;
                self.keys[set].0[way] = [s.pc, s.sp];
                let e = &mut self.entries[set][way];
                (e.bp, e.filled, e.bp_matters) = (s.bp, false, false);
                self.recent[set] = way as u8;
                return;
            }
        };
        self.recent[set] = way as u8;
        let e = &mut self.entries[set][way];
        e.filled = false;
        // Which saved-RBP slots the walk went on to use: frame m's RBP is
        // used by its own step when its rule takes the CFA from RBP, and
        // flows into its caller unless the caller's RBP was restored from a
        // slot. Code built without frame pointers saves RBP as an ordinary
        // register, whose value (program data) changes from call to call
        // without changing the stack.
        let start = memo.start();
        let mut uses_slot = [false; REMEMBERED];
        let mut caller_needs_bp = false;
        for m in (start + 1..REMEMBERED).rev() {
            let restored = memo.slot[m] != memo.sp[m] - 8;
            let needs_bp = uses_rbp(memo.pc[m]) || caller_needs_bp;
            uses_slot[m] = restored && needs_bp;
            caller_needs_bp = needs_bp && !restored;
        }
        let bp_matters = uses_rbp(memo.pc[start]) || caller_needs_bp;
        // The innermost frames saved by a frame-pointer prologue (their RBP
        // slot right below the return address), each at the RBP the frame
        // inside it restored: links.
        let mut real = 0;
        let mut m = start + 1;
        let first = if m < REMEMBERED { memo.slot[m] } else { 0 };
        let mut at = first;
        while m < REMEMBERED
            && real <= MAX_LINKS - CHUNK
            && uses_slot[m]
            && memo.slot[m] == at
            && memo.slot[m] == memo.sp[m] - 16
        {
            at = memo.saved[m];
            real += 1;
            m += 1;
        }
        // Padded in front to a multiple of four, like the words, so that
        // one loop with no remainder checks them: a pad lies in the entry
        // itself and holds what it expects, the address of the next link.
        let pads = (CHUNK - real % CHUNK) % CHUNK;
        for j in 0..pads {
            let next = match j + 1 < pads {
                true => &e.link[j + 1] as *const Link as u64,
                false => first,
            };
            e.link[j] = Link([next, 0]);
        }
        for i in 0..real {
            let f = start + 1 + i;
            e.link[pads + i] = Link([memo.saved[f], memo.pc[f]]);
        }
        let link_at = match pads {
            0 => first,
            _ => &e.link[0] as *const Link as u64,
        };
        let links = pads + real;
        // The other frames' words: each return address and each saved RBP
        // the walk used, then the word that ended the walk.
        let mut n = 0;
        let mut push = |addr: u64, value: u64| {
            if n < MAX_WORDS {
                e.check[n] = [addr, value];
            }
            n += 1;
        };
        for m in (m..REMEMBERED).rev() {
            push(memo.sp[m] - 8, memo.pc[m]);
            if uses_slot[m] {
                push(memo.slot[m], memo.saved[m]);
            }
        }
        if memo.end_slot != 0 {
            push(memo.end_slot, 0);
        }
        if n + links == 0 || n > MAX_WORDS {
            return; // nothing to check (a one-frame stack), or too deep
        }
        while n % CHUNK != 0 {
            e.check[n] = [&PAD as *const u64 as u64, 0];
            n += 1;
        }
        e.generation = s.generation;
        e.hi = s.hi;
        e.id = id;
        e.link_at = link_at;
        e.links = links as u32;
        e.words = n as u32;
        (e.bp, e.bp_matters) = (s.bp, bp_matters);
        e.filled = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zeroed value of a type for which all zeros is valid and empty.
    fn zeroed<T>() -> Box<T> {
        // SAFETY: used for `Memo` and `Cache`, whose all-zero value is a
        // valid empty one.
        unsafe { Box::new(core::mem::zeroed()) }
    }

    #[test]
    fn a_stack_is_found_again_only_while_every_word_it_read_holds() {
        // A pretend stack: the starting frame's return address at words[0],
        // its caller's saved RBP and return address above, then the zero
        // return address that ended the walk.
        let mut words = [0x1111u64, 0x7000, 0x2222, 0, 0];
        let base = words.as_mut_ptr() as u64;
        let mut memo = zeroed::<Memo>();
        let start = REMEMBERED - 2;
        memo.len = 2;
        (memo.pc[start], memo.sp[start], memo.bp[start]) = (0x1111, base + 8, 0x7000);
        let outer = start + 1;
        (memo.pc[outer], memo.sp[outer]) = (0x2222, base + 24);
        (memo.slot[outer], memo.saved[outer]) = (base + 8, 0x7000);
        memo.end_slot = base + 24;
        let s = Start {
            pc: 0x1111,
            sp: base + 8,
            bp: 0x7000,
            generation: 5,
            hi: base + 40,
        };
        let mut cache = zeroed::<Cache>();
        cache.note(&s, &memo, 42);
        assert_eq!(cache.lookup(&s), None, "the first time stores the key only");
        cache.note(&s, &memo, 42);
        assert_eq!(cache.lookup(&s), Some(42));
        for i in 1..4 {
            let kept = words[i];
            words[i] ^= 0x10;
            // Keeps the compiler from assuming `words` unchanged under the
            // raw reads.
            core::hint::black_box(&mut words);
            assert_eq!(cache.lookup(&s), None, "word {i} changed");
            words[i] = kept;
            core::hint::black_box(&mut words);
        }
        assert_eq!(cache.lookup(&s), Some(42));
        assert_eq!(
            cache.lookup(&Start { generation: 6, ..s }),
            None,
            "rules changed"
        );
        assert_eq!(
            cache.lookup(&Start { hi: base + 32, ..s }),
            None,
            "another top"
        );
        assert_eq!(
            cache.lookup(&Start { bp: 0x7008, ..s }),
            None,
            "another frame"
        );
        cache.clear();
        assert_eq!(cache.lookup(&s), None);
    }

    #[test]
    fn a_frame_pointer_chain_is_checked_link_by_link() {
        // Three frames with frame pointers: the starting frame's RBP is
        // &words[1], where its caller's RBP (&words[3]) and return address
        // lie; that caller saved its own caller's RBP and return address at
        // words[3] and words[4]; words[5] is the zero that ended the walk.
        let mut words = [0x1111u64, 0, 0x2222, 0x7000, 0x3333, 0, 0, 0];
        let base = words.as_mut_ptr() as u64;
        words[1] = base + 24;
        let mut memo = zeroed::<Memo>();
        let start = REMEMBERED - 3;
        memo.len = 3;
        (memo.pc[start], memo.sp[start], memo.bp[start]) = (0x1111, base + 8, base + 8);
        let (f1, f2) = (start + 1, start + 2);
        (memo.pc[f1], memo.sp[f1]) = (0x2222, base + 24);
        (memo.slot[f1], memo.saved[f1]) = (base + 8, base + 24);
        (memo.pc[f2], memo.sp[f2]) = (0x3333, base + 40);
        (memo.slot[f2], memo.saved[f2]) = (base + 24, 0x7000);
        memo.end_slot = base + 40;
        let s = Start {
            pc: 0x1111,
            sp: base + 8,
            bp: base + 8,
            generation: 1,
            hi: base + 64,
        };
        let mut cache = zeroed::<Cache>();
        cache.note(&s, &memo, 7);
        cache.note(&s, &memo, 7);
        let e = &cache.entries[set_of(s.pc, s.sp)][cache.way(set_of(s.pc, s.sp), &s).unwrap()];
        // Both frames are links, after two pads that lead to the first.
        assert_eq!(e.links, 4);
        assert_eq!(e.link_at, &e.link[0] as *const Link as u64);
        assert_eq!(e.link[0].0, [&e.link[1] as *const Link as u64, 0]);
        assert_eq!(e.link[1].0, [base + 8, 0]);
        assert_eq!(e.link[2].0, [base + 24, 0x2222]);
        assert_eq!(e.link[3].0, [0x7000, 0x3333]);
        assert_eq!(e.words as usize, CHUNK, "the end word, padded");
        assert_eq!(cache.lookup(&s), Some(7));
        for i in 1..6 {
            let kept = words[i];
            words[i] ^= 0x100;
            core::hint::black_box(&mut words);
            assert_eq!(cache.lookup(&s), None, "word {i} changed");
            words[i] = kept;
            core::hint::black_box(&mut words);
        }
        assert_eq!(cache.lookup(&s), Some(7));
    }
}
