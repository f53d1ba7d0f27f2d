//! Interned stacks: each distinct stack is stored once, in an append-only
//! arena of 64-bit words, and named by its word offset (the stack id).
//!
//! Layout of one stack in the arena: `[hash, len, pc0, pc1, ...]`.
//! The index from hash to id is split over stripes, each a small
//! open-addressing table under its own spin lock; a lookup of a known stack
//! takes one lock that threads only share when they hash to the same stripe.
//!
//! Both the arena and the tables are anonymous mappings: the library's
//! memory never mixes with the program's heap.

use crate::lock::SpinLock;
use crate::sys;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Reserved address space for the arena (backed only when written).
const ARENA_BYTES: usize = 4 << 30;
const ARENA_WORDS: usize = ARENA_BYTES / 8;
const STRIPES: usize = 64;
const INITIAL_SLOTS: usize = 256;

/// Id given to stacks once the arena is full: an empty stack.
pub const OVERFLOW_ID: u32 = 1;

static ARENA: AtomicPtr<u64> = AtomicPtr::new(core::ptr::null_mut());
/// Next free word. Word 0 is unused and words 1..3 hold the overflow stack.
static ARENA_TOP: AtomicUsize = AtomicUsize::new(3);

#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    id: u32,
}

struct Stripe {
    slots: *mut Slot,
    mask: usize,
    len: usize,
}

// SAFETY: a stripe's memory is only touched under its lock.
unsafe impl Send for Stripe {}

static INDEX: [SpinLock<Stripe>; STRIPES] = [const {
    SpinLock::new(Stripe {
        slots: core::ptr::null_mut(),
        mask: 0,
        len: 0,
    })
}; STRIPES];

/// Reserves the arena. Returns false if the kernel refuses.
pub fn init() -> bool {
    match sys::map_zeroed(ARENA_BYTES) {
        Some(p) => {
            ARENA.store(p.cast(), Ordering::Release);
            true
        }
        None => false,
    }
}

fn hash(pcs: &[u64]) -> u64 {
    let mut h: u64 = 0x243f_6a88_85a3_08d3 ^ pcs.len() as u64;
    for &pc in pcs {
        h = (h ^ pc).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
    }
    h | 1 // 0 marks an empty slot
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

/// The id of `pcs`, storing it if it is new.
pub fn intern(pcs: &[u64]) -> u32 {
    let h = hash(pcs);
    let mut stripe = INDEX[(h >> 58) as usize % STRIPES].lock();
    if stripe.slots.is_null() && !grow(&mut stripe) {
        return OVERFLOW_ID;
    }
    let mut i = (h as usize) & stripe.mask;
    loop {
        // SAFETY: `i` is masked to the table's size; the table is ours
        // while the stripe is locked.
        let slot = unsafe { *stripe.slots.add(i) };
        if slot.hash == 0 {
            break;
        }
        if slot.hash == h && get(slot.id) == pcs {
            return slot.id;
        }
        i = (i + 1) & stripe.mask;
    }
    let Some(id) = append(h, pcs) else {
        return OVERFLOW_ID;
    };
    // SAFETY: `i` is an empty slot of the locked table.
    unsafe { *stripe.slots.add(i) = Slot { hash: h, id } };
    stripe.len += 1;
    if stripe.len * 4 > (stripe.mask + 1) * 3 {
        grow(&mut stripe);
    }
    id
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

/// Doubles a stripe's table (or creates it).
fn grow(stripe: &mut Stripe) -> bool {
    let old_cap = if stripe.slots.is_null() {
        0
    } else {
        stripe.mask + 1
    };
    let cap = if old_cap == 0 {
        INITIAL_SLOTS
    } else {
        old_cap * 2
    };
    let Some(mem) = sys::map_zeroed(cap * core::mem::size_of::<Slot>()) else {
        return false;
    };
    let slots = mem.cast::<Slot>();
    for i in 0..old_cap {
        // SAFETY: `i` < old capacity; the new table has room for every old
        // entry and is not yet visible to anyone else.
        unsafe {
            let s = *stripe.slots.add(i);
            if s.hash != 0 {
                let mut j = (s.hash as usize) & (cap - 1);
                while (*slots.add(j)).hash != 0 {
                    j = (j + 1) & (cap - 1);
                }
                *slots.add(j) = s;
            }
        }
    }
    if old_cap != 0 {
        sys::unmap(stripe.slots.cast(), old_cap * core::mem::size_of::<Slot>());
    }
    stripe.slots = slots;
    stripe.mask = cap - 1;
    true
}

/// Takes every stripe lock (before fork).
pub fn lock_all() {
    for s in INDEX.iter() {
        s.lock_raw();
    }
}

/// Releases what `lock_all` took.
pub fn unlock_all() {
    for s in INDEX.iter() {
        s.unlock_raw();
    }
}
