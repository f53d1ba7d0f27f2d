//! Interned stacks: each distinct stack is stored once, in an append-only
//! arena of 64-bit words, and named by its word offset (the stack id).
//!
//! Layout of one stack in the arena: `[hash, len, pc0, pc1, ...]`.
//!
//! The index from stack to id is lock-free: open-addressing tables of
//! 64-bit slots `(hash >> 32) << 32 | id`, filled by compare-and-swap and
//! never emptied. When the newest table is half full a table four times
//! larger is added; lookups probe each table in turn. A new stack is copied
//! into the arena *before* its slot is published, so a reader that sees the
//! slot sees the frames. Two threads racing to add the same stack both find
//! the one slot that won; if a new table appeared in between, the stack may
//! get two ids, which the report merges.
//!
//! Arena and tables are anonymous mappings, apart from the program's heap.
//!
//! A forked child shares the tables with its parent copy-on-write, and its
//! new stacks land in slots spread over them: each was a page the kernel
//! copied (26 for a `$(echo)` of bash). Its first [`CHILD_STACKS`] new
//! stacks are indexed in one page of their own instead ([`CHILD`]), looked
//! at after the tables.

use crate::sys;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// Reserved address space for the arena (backed only when written).
const ARENA_BYTES: usize = 4 << 30;
const ARENA_WORDS: usize = ARENA_BYTES / 8;
/// Table `k` has `1 << (FIRST_BITS + 2k)` slots.
const FIRST_BITS: u32 = 14;
const LEVELS: usize = 6;

/// Id given to stacks once the arena or the index is full: an empty stack.
pub const OVERFLOW_ID: u32 = 1;

static ARENA: AtomicPtr<u64> = AtomicPtr::new(core::ptr::null_mut());
/// Next free word. Word 0 is unused and words 1..3 hold the overflow stack.
static ARENA_TOP: AtomicUsize = AtomicUsize::new(3);

static TABLES: [AtomicPtr<AtomicU64>; LEVELS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; LEVELS];
static FILL: [AtomicUsize; LEVELS] = [const { AtomicUsize::new(0) }; LEVELS];
static NEWEST: AtomicUsize = AtomicUsize::new(0);

/// The index of a forked child's first new stacks: one page of slots as in
/// the tables, filled to at most half.
const CHILD_SLOTS: usize = 512;
const CHILD_STACKS: usize = CHILD_SLOTS / 2;

#[repr(C, align(4096))]
struct ChildIndex([AtomicU64; CHILD_SLOTS]);

static CHILD: ChildIndex = ChildIndex([const { AtomicU64::new(0) }; CHILD_SLOTS]);
/// Stacks in [`CHILD`] (it is looked at only when there are some).
static CHILD_FILL: AtomicUsize = AtomicUsize::new(0);
/// Whether new stacks go to [`CHILD`]: in a forked child, until it holds
/// [`CHILD_STACKS`].
static CHILD_ACTIVE: AtomicBool = AtomicBool::new(false);

/// In a forked child: new stacks go to the child's page. (Stacks its
/// parent indexed there are in the arena inherited with it.)
pub fn after_fork_child() {
    CHILD_ACTIVE.store(
        CHILD_FILL.load(Ordering::Relaxed) < CHILD_STACKS,
        Ordering::Release,
    );
}

fn slots_of(level: usize) -> usize {
    1 << (FIRST_BITS + 2 * level as u32)
}

fn new_table(level: usize) -> *mut AtomicU64 {
    match sys::map_zeroed(slots_of(level) * 8) {
        Some(p) => p.cast(),
        None => core::ptr::null_mut(),
    }
}

/// Reserves the arena and the first table. Returns false if the kernel refuses.
pub fn init() -> bool {
    let Some(arena) = sys::map_zeroed(ARENA_BYTES) else {
        return false;
    };
    ARENA.store(arena.cast(), Ordering::Release);
    let first = new_table(0);
    TABLES[0].store(first, Ordering::Release);
    !first.is_null()
}

/// Where a stack's hash chain starts, beyond its outermost frame.
pub const HASH_SEED: u64 = 0x243f_6a88_85a3_08d3;
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// One link of a stack's hash chain, which runs from the outermost frame
/// inwards: the chain value at a frame covers that frame and every frame
/// outside it. A thread's remembered stack (unwind/memo.rs) keeps the chain
/// value of each frame, so a capture that shares its outer part with the
/// previous one hashes only its new inner frames.
#[inline(always)]
pub fn hash_link(outer: u64, pc: u64) -> u64 {
    (outer.rotate_left(23) ^ pc).wrapping_mul(K)
}

/// The hash of a stack of `len` frames whose chain value (at its innermost
/// frame) is `chain`.
#[inline(always)]
pub fn hash_finish(chain: u64, len: usize) -> u64 {
    let h = (chain ^ len as u64 ^ (chain >> 32)).wrapping_mul(K);
    h ^ (h >> 29)
}

/// The hash of `pcs` (innermost first), computed from scratch.
pub fn hash(pcs: &[u64]) -> u64 {
    let chain = pcs.iter().rev().fold(HASH_SEED, |h, &pc| hash_link(h, pc));
    hash_finish(chain, pcs.len())
}

/// The stored frames of stack `id`.
pub fn get(id: u32) -> &'static [u64] {
    let arena = ARENA.load(Ordering::Acquire);
    let at = id as usize;
    if arena.is_null() || at == 0 || at + 2 > ARENA_TOP.load(Ordering::Acquire).min(ARENA_WORDS) {
        return &[];
    }
    // SAFETY: `at` is the start of a stack record written before its id was
    // published; records are never modified or freed.
    unsafe {
        let len = *arena.add(at + 1) as usize;
        core::slice::from_raw_parts(arena.add(at + 2), len)
    }
}

#[inline]
fn pack(h: u64, id: u32) -> u64 {
    (h & 0xffff_ffff_0000_0000) | u64::from(id)
}

/// Looks for `pcs` in table `level`.
#[inline]
fn find_in(level: usize, h: u64, pcs: &[u64]) -> Option<u32> {
    let table = TABLES[level].load(Ordering::Acquire);
    if table.is_null() {
        return None;
    }
    let mask = slots_of(level) - 1;
    let mut i = (h as usize) & mask;
    loop {
        // SAFETY: `i` is masked to the table's size.
        let v = unsafe { (*table.add(i)).load(Ordering::Acquire) };
        if v == 0 {
            return None;
        }
        if v >> 32 == h >> 32 && get(v as u32) == pcs {
            return Some(v as u32);
        }
        i = (i + 1) & mask;
    }
}

/// The id of `pcs`, whose [`hash`] is `h`, storing it if it is new.
#[inline]
pub fn intern(pcs: &[u64], h: u64) -> u32 {
    let newest = NEWEST.load(Ordering::Acquire);
    for level in 0..=newest {
        if let Some(id) = find_in(level, h, pcs) {
            return id;
        }
    }
    if CHILD_FILL.load(Ordering::Acquire) != 0 {
        if let Some(id) = find_in_child(h, pcs) {
            return id;
        }
    }
    if CHILD_ACTIVE.load(Ordering::Acquire) {
        if let Some(id) = insert_in_child(h, pcs) {
            return id;
        }
    }
    insert(newest, h, pcs)
}

/// Looks for `pcs` in the child's page.
fn find_in_child(h: u64, pcs: &[u64]) -> Option<u32> {
    let mask = CHILD_SLOTS - 1;
    let mut i = (h as usize) & mask;
    for _ in 0..CHILD_SLOTS {
        let v = CHILD.0[i].load(Ordering::Acquire);
        if v == 0 {
            return None;
        }
        if v >> 32 == h >> 32 && get(v as u32) == pcs {
            return Some(v as u32);
        }
        i = (i + 1) & mask;
    }
    None
}

/// Indexes a new stack in the child's page, if it has room.
#[cold]
fn insert_in_child(h: u64, pcs: &[u64]) -> Option<u32> {
    if CHILD_FILL.load(Ordering::Relaxed) >= CHILD_STACKS {
        CHILD_ACTIVE.store(false, Ordering::Relaxed);
        return None;
    }
    let id = append(h, pcs)?;
    let mask = CHILD_SLOTS - 1;
    let mut i = (h as usize) & mask;
    // Bounded: many threads racing past the fill check could fill it.
    for _ in 0..CHILD_SLOTS {
        match CHILD.0[i].compare_exchange(0, pack(h, id), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                CHILD_FILL.fetch_add(1, Ordering::AcqRel);
                return Some(id);
            }
            // Someone published the same stack first: use theirs.
            Err(v) if v >> 32 == h >> 32 && get(v as u32) == pcs => return Some(v as u32),
            Err(_) => i = (i + 1) & mask,
        }
    }
    None
}

#[cold]
fn insert(level: usize, h: u64, pcs: &[u64]) -> u32 {
    let table = TABLES[level].load(Ordering::Acquire);
    let slots = slots_of(level);
    if table.is_null() || FILL[level].load(Ordering::Relaxed) * 8 >= slots * 7 {
        return OVERFLOW_ID;
    }
    let Some(id) = append(h, pcs) else {
        return OVERFLOW_ID;
    };
    let mask = slots - 1;
    let mut i = (h as usize) & mask;
    loop {
        // SAFETY: `i` is masked to the table's size.
        let slot = unsafe { &*table.add(i) };
        match slot.compare_exchange(0, pack(h, id), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                let fill = FILL[level].fetch_add(1, Ordering::Relaxed) + 1;
                if fill * 2 >= slots {
                    add_level(level);
                }
                return id;
            }
            // Someone published the same stack first: use theirs.
            Err(v) if v >> 32 == h >> 32 && get(v as u32) == pcs => return v as u32,
            Err(_) => i = (i + 1) & mask,
        }
    }
}

/// Adds table `level + 1` once `level` is half full.
fn add_level(level: usize) {
    let next = level + 1;
    if next >= LEVELS || !TABLES[next].load(Ordering::Acquire).is_null() {
        return;
    }
    let table = new_table(next);
    if table.is_null() {
        return;
    }
    if TABLES[next]
        .compare_exchange(
            core::ptr::null_mut(),
            table,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        sys::unmap(table.cast(), slots_of(next) * 8);
        return;
    }
    let _ = NEWEST.compare_exchange(level, next, Ordering::AcqRel, Ordering::Acquire);
}

/// Copies a stack into the arena and returns its id.
fn append(h: u64, pcs: &[u64]) -> Option<u32> {
    let arena = ARENA.load(Ordering::Acquire);
    let words = pcs.len() + 2;
    let at = ARENA_TOP.fetch_add(words, Ordering::AcqRel);
    if arena.is_null() || at + words > ARENA_WORDS || at > u32::MAX as usize {
        return None;
    }
    // SAFETY: `at .. at + words` was reserved for us alone by fetch_add and
    // lies inside the mapping.
    unsafe {
        *arena.add(at) = h;
        *arena.add(at + 1) = pcs.len() as u64;
        core::ptr::copy_nonoverlapping(pcs.as_ptr(), arena.add(at + 2), pcs.len());
    }
    Some(at as u32)
}
