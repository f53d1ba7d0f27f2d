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
//! The words are kept as records of a pool the entries share ([`Pool`]):
//! stacks that recur share their outer frames, so each is kept once.
//!
//! Entries are filled from the thread's memo after a capture, and only the
//! second time in a row a starting frame is seen in its set (the first
//! time stores its key): a program that seldom repeats a stack pays a few
//! stores per capture, not a copy.

use super::memo::{Memo, REMEMBERED};
use super::pool::{Pool, Record, Slot};
use super::rules::{self, Rule};

const SETS: usize = 32;
const WAYS: usize = 4;
/// Frame-pointer links checked at most per stack, with their padding (see
/// [`Entry::records`]). A multiple of [`CHUNK`].
const MAX_LINKS: usize = 48;
/// Other words checked at most per stack (about one a frame without frame
/// pointers): deeper stacks are not kept. A multiple of [`CHUNK`].
const MAX_WORDS: usize = 64;
/// Links and words are checked four at a time; an entry's lists are padded
/// to multiples of four, so that one loop with no remainder does each (a
/// second loop for the remainder cost a mispredicted exit).
const CHUNK: usize = 4;
/// A word that always holds 0: the padding of the words checks it.
static PAD: u64 = 0;

/// One remembered starting frame and what its stack depends on. Cache-line
/// aligned: what a lookup reads of it (the header and the slots of a
/// typical stack) is two lines.
#[repr(C, align(64))]
struct Entry {
    /// The frame: return address, stack pointer (their fingerprint is in
    /// [`Cache::keys`]) and frame pointer.
    pc: u64,
    sp: u64,
    bp: u64,
    /// Where the first link lies.
    link_at: u64,
    /// The generation of the rules the walk used; entries are filled only
    /// while it fits 32 bits (compared widened, this stays exact).
    generation: u32,
    /// How far the readable top of the stack the walk was bounded by lay
    /// above `sp`; filled only when it fits 32 bits.
    hi_above: u32,
    id: u32,
    /// Links to check, a multiple of [`CHUNK`].
    links: u16,
    /// Words to check, a multiple of [`CHUNK`].
    words: u16,
    /// Whether the records are known (else only the key is).
    filled: bool,
    /// Whether the walk used the starting frame's RBP (else any RBP there
    /// gives the same stack: code without frame pointers keeps data in it).
    bp_matters: bool,
    /// What to check, as records of the [`Pool`] ([`Slot`]s): `links`
    /// links, then `words` words.
    ///
    /// Links are the innermost frames that a frame-pointer prologue saved,
    /// innermost first: the two adjacent slots the walk read for each (the
    /// caller's RBP, then the return address). In such a chain each saved
    /// RBP is where the next frame's slots lie, so a link record keeps only
    /// the values (the first address is `link_at`), and each frame is one
    /// 16-byte compare: half the memory and fewer than half the
    /// instructions of checking the two words apart. They are padded in
    /// front with links that check themselves (see `note`).
    ///
    /// Words are every other word the walk read: a record of its address
    /// and the value it must hold; padded with `PAD`.
    records: [Slot; MAX_LINKS + MAX_WORDS],
}

/// The cache of one thread (in its `Space`); all zeros is empty.
///
/// Page aligned, with what every thread that uses it touches in its first
/// page: the keys, the recent ways, the pool's counts and first records.
/// (With the records in a page of their own, 500 threads allocating from
/// two sites each took 2.3 MB more.)
#[repr(C, align(4096))]
pub struct Cache {
    /// Per set, each way's starting frame's [`fingerprint`], together:
    /// finding the way reads them and one entry.
    keys: [Keys; SETS],
    /// Per set, the way used last (the next one is replaced first).
    recent: [u8; SETS],
    pool: Pool,
    entries: [[Entry; WAYS]; SETS],
}

#[repr(C, align(64))]
struct Keys([u64; WAYS]);

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

/// What the keys keep of a starting frame: one word to compare per way.
/// Two frames may share it; the entry tells them apart.
#[inline(always)]
fn fingerprint(pc: u64, sp: u64) -> u64 {
    pc ^ sp.rotate_left(29)
}

#[inline(always)]
fn set_of(pc: u64, sp: u64) -> usize {
    (fingerprint(pc, sp).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SETS.trailing_zeros()))
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

/// Whether each link (records of `pool`) still lies on the stack: the
/// first at `at`, each next one at the RBP the one before it saved.
///
/// # Safety
/// The 16 bytes at each link's address are readable, and each slot is one
/// `Pool::intern` gave since the pool was last cleared.
#[inline(always)]
unsafe fn links_hold(mut at: u64, pool: &Pool, links: &[Slot]) -> bool {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_load_si128, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_setzero_si128, _mm_xor_si128,
    };
    // SAFETY: SSE2 is part of x86-64; the caller vouches for the stack
    // reads and the slots, and a `Record` is 16-byte aligned.
    unsafe {
        let mut differ = _mm_setzero_si128();
        for chunk in links.chunks_exact(CHUNK) {
            for &slot in chunk {
                let link = pool.get(slot);
                let found = _mm_loadu_si128(at as *const __m128i);
                let want = _mm_load_si128(link.0.as_ptr().cast());
                differ = _mm_or_si128(differ, _mm_xor_si128(found, want));
                at = link.0[0];
            }
        }
        _mm_movemask_epi8(_mm_cmpeq_epi8(differ, _mm_setzero_si128())) == 0xffff
    }
}

/// Whether each word (records of `pool`) holds its value: a nonzero
/// difference if not.
///
/// # Safety
/// Each word's address is readable, and each slot is one `Pool::intern`
/// gave since the pool was last cleared.
#[inline(always)]
unsafe fn words_differ(pool: &Pool, words: &[Slot]) -> u64 {
    let mut diff = 0;
    for chunk in words.chunks_exact(CHUNK) {
        for &slot in chunk {
            // SAFETY: as the caller vouches.
            let [addr, value] = unsafe { pool.get(slot) }.0;
            // SAFETY: as the caller vouches.
            diff |= unsafe { (addr as *const u64).read() } ^ value;
        }
    }
    diff
}

impl Cache {
    /// Forgets everything (a space taken over from an exited thread).
    pub fn clear(&mut self) {
        for keys in self.keys.iter_mut() {
            *keys = Keys([0; WAYS]);
        }
        for e in self.entries.iter_mut().flatten() {
            e.filled = false;
        }
        self.pool.clear();
    }

    /// The way of `set` that holds the frame `s`.
    #[inline(always)]
    fn way(&self, set: usize, s: &Start) -> Option<usize> {
        // The fingerprints first, without branches (comparing the return
        // address and stack pointer of each way, with `&&`, cost 0.67
        // mispredicted branches a pair; with `&`, 18 instructions more).
        let f = fingerprint(s.pc, s.sp);
        let mut ways = 0u32;
        for (w, &k) in self.keys[set].0.iter().enumerate() {
            ways |= u32::from(k == f) << w;
        }
        // Then the frame itself; ways of one frame differ by RBP, when it
        // matters.
        while ways != 0 {
            let w = ways.trailing_zeros() as usize;
            let e = &self.entries[set][w];
            if e.pc == s.pc && e.sp == s.sp && (e.bp == s.bp || !e.bp_matters) {
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
        if !e.filled
            || u64::from(e.generation) != s.generation
            || u64::from(e.hi_above) != s.hi.wrapping_sub(s.sp)
        {
            return None;
        }
        let links = (e.links as usize).min(MAX_LINKS);
        let words = (e.words as usize).min(MAX_WORDS);
        let (links, words) = e.records[..links + words].split_at(links);
        // SAFETY: the walk that filled the entry read each link's two slots
        // and each word, bounds-checked, between its starting frame's
        // return-address slot (`s.sp - 8`, above the current stack pointer)
        // and `s.hi`, the top of this same readable stack; the pads lie in
        // the pool, `PAD` is a static; `note` took every slot from the pool
        // after it was last cleared (which clears the entries too).
        let diff = unsafe { words_differ(&self.pool, words) };
        let links_hold = unsafe { links_hold(e.link_at, &self.pool, links) };
        let diff = diff | u64::from(!links_hold);
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
                self.keys[set].0[way] = fingerprint(s.pc, s.sp);
                let e = &mut self.entries[set][way];
                (e.pc, e.sp, e.bp) = (s.pc, s.sp, s.bp);
                (e.filled, e.bp_matters) = (false, false);
                self.recent[set] = way as u8;
                return;
            }
        };
        self.recent[set] = way as u8;
        self.entries[set][way].filled = false;
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
        // one loop with no remainder checks them: a pad lies in the pool
        // and holds what it expects, the address of the next link.
        let pads = (CHUNK - real % CHUNK) % CHUNK;
        let mut records = [0 as Slot; MAX_LINKS + MAX_WORDS];
        let mut next = first;
        for j in (0..pads + real).rev() {
            let r = match j.checked_sub(pads) {
                Some(i) => Record([memo.saved[start + 1 + i], memo.pc[start + 1 + i]]),
                None => Record([next, 0]),
            };
            let Some(slot) = self.pool.intern(r) else {
                return self.clear(); // full of stacks seen earlier: afresh
            };
            records[j] = slot;
            if j < pads {
                next = self.pool.address(slot);
            }
        }
        let link_at = next;
        let links = pads + real;
        // The other frames' words: each return address and each saved RBP
        // the walk used, then the word that ended the walk.
        let mut w = Words {
            pool: &mut self.pool,
            slots: &mut records[links..],
            n: 0,
            full: false,
        };
        for m in (m..REMEMBERED).rev() {
            w.push(memo.sp[m] - 8, memo.pc[m]);
            if uses_slot[m] {
                w.push(memo.slot[m], memo.saved[m]);
            }
        }
        if memo.end_slot != 0 {
            w.push(memo.end_slot, 0);
        }
        let words = w.n;
        while !w.n.is_multiple_of(CHUNK) && w.n < MAX_WORDS {
            w.push(&PAD as *const u64 as u64, 0);
        }
        let (n, full) = (w.n, w.full);
        if full {
            return self.clear(); // full of stacks seen earlier: afresh
        }
        if words + links == 0 || words > MAX_WORDS {
            return; // nothing to check (a one-frame stack), or too deep
        }
        let e = &mut self.entries[set][way];
        e.records = records;
        let (Ok(generation), Ok(hi_above)) = (
            u32::try_from(s.generation),
            u32::try_from(s.hi.wrapping_sub(s.sp)),
        ) else {
            return; // never, in practice
        };
        (e.generation, e.hi_above) = (generation, hi_above);
        e.id = id;
        e.link_at = link_at;
        e.links = links as u16;
        e.words = n as u16;
        (e.bp, e.bp_matters) = (s.bp, bp_matters);
        e.filled = true;
    }
}

/// The words of an entry, as `note` interns them.
struct Words<'a> {
    pool: &'a mut Pool,
    slots: &'a mut [Slot],
    /// Words pushed, kept or not.
    n: usize,
    /// Whether the pool had no room for one.
    full: bool,
}

impl Words<'_> {
    fn push(&mut self, addr: u64, value: u64) {
        if self.n < MAX_WORDS {
            match self.pool.intern(Record([addr, value])) {
                Some(slot) => self.slots[self.n] = slot,
                None => self.full = true,
            }
        }
        self.n += 1;
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

    /// The memo of a walk of `words`, a pretend stack of two frames: the
    /// starting frame's return address at words[0], its caller's saved RBP
    /// and return address above, then the zero return address that ended
    /// the walk; and the walk's starting frame.
    fn two_frames(words: &mut [u64; 5]) -> (Box<Memo>, Start) {
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
        (memo, s)
    }

    /// Changes each of `words` in turn (then restores it): the lookup of
    /// `s` must miss each time.
    fn each_changed_word_misses(cache: &mut Cache, s: &Start, words: &mut [u64]) {
        for i in 0..words.len() {
            let kept = words[i];
            words[i] ^= 0x100;
            // Keeps the compiler from assuming `words` unchanged under the
            // raw reads.
            core::hint::black_box(&mut *words);
            assert_eq!(cache.lookup(s), None, "word {i} changed");
            words[i] = kept;
            core::hint::black_box(&mut *words);
        }
    }

    #[test]
    fn a_stack_is_found_again_only_while_every_word_it_read_holds() {
        let mut words = [0x1111u64, 0x7000, 0x2222, 0, 0];
        let base = words.as_mut_ptr() as u64;
        let (memo, s) = two_frames(&mut words);
        let mut cache = zeroed::<Cache>();
        cache.note(&s, &memo, 42);
        assert_eq!(cache.lookup(&s), None, "the first time stores the key only");
        cache.note(&s, &memo, 42);
        assert_eq!(cache.lookup(&s), Some(42));
        each_changed_word_misses(&mut cache, &s, &mut words[1..4]);
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
        let pool = &cache.pool;
        // SAFETY: slots the pool gave the entry.
        let link = |i: usize| unsafe { pool.get(e.records[i]) }.0;
        assert_eq!(e.links, 4);
        assert_eq!(e.link_at, pool.address(e.records[0]));
        assert_eq!(link(0), [pool.address(e.records[1]), 0]);
        assert_eq!(link(1), [base + 8, 0]);
        assert_eq!(link(2), [base + 24, 0x2222]);
        assert_eq!(link(3), [0x7000, 0x3333]);
        assert_eq!(e.words as usize, CHUNK, "the end word, padded");
        assert_eq!(cache.lookup(&s), Some(7));
        each_changed_word_misses(&mut cache, &s, &mut words[1..6]);
        assert_eq!(cache.lookup(&s), Some(7));

        // Another starting frame on the same chain (another call site of
        // the same function) shares every record: the pool holds them once.
        let used = cache.pool.used;
        let t = Start { pc: 0x1112, ..s };
        cache.note(&t, &memo, 8);
        cache.note(&t, &memo, 8);
        assert_eq!(cache.pool.used, used);
        assert_eq!((cache.lookup(&s), cache.lookup(&t)), (Some(7), Some(8)));

        // A full pool: the cache starts afresh, then fills again.
        let mut junk = 1u64;
        while cache.pool.intern(Record([junk, 1])).is_some() {
            junk += 1;
        }
        assert_eq!(
            junk as usize,
            super::super::pool::POOL_RECORDS - used as usize + 1
        );
        // (A stack whose walk found another return address: a new record.)
        let u = Start { pc: 0x1113, ..s };
        memo.pc[f1] = 0x2223;
        cache.note(&u, &memo, 9);
        cache.note(&u, &memo, 9);
        assert_eq!(cache.pool.used, 0, "cleared");
        assert_eq!((cache.lookup(&s), cache.lookup(&t)), (None, None));
        memo.pc[f1] = 0x2222;
        cache.note(&s, &memo, 7);
        cache.note(&s, &memo, 7);
        assert_eq!(cache.lookup(&s), Some(7));
    }

    #[test]
    fn frames_with_one_fingerprint_keep_their_own_stacks() {
        // Two frames whose fingerprints (and so sets) are equal: the keys
        // alone cannot tell them apart, the entries must.
        let mut words = [0x1111u64, 0x7000, 0x2222, 0, 0];
        let (memo, s) = two_frames(&mut words);
        let sp2 = s.sp - 0x1000;
        let t = Start {
            pc: fingerprint(s.pc, s.sp) ^ sp2.rotate_left(29),
            sp: sp2,
            ..s
        };
        assert_eq!(fingerprint(t.pc, t.sp), fingerprint(s.pc, s.sp));
        let mut cache = zeroed::<Cache>();
        for (start, id) in [(&s, 1), (&t, 2)] {
            cache.note(start, &memo, id);
            cache.note(start, &memo, id);
        }
        assert_eq!((cache.lookup(&s), cache.lookup(&t)), (Some(1), Some(2)));
        core::hint::black_box(&mut words);
    }
}
