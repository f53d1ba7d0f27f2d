//! The live-block table: address → (requested size, stack id).
//!
//! Split over `STRIPES` open-addressing tables, each under its own spin lock
//! (on its own cache line) and chosen by a hash of the address, so threads
//! only meet when they touch the same stripe at the same moment. Linear
//! probing with backward-shift deletion keeps lookups short without
//! tombstones. An entry is 16 bytes (see [`Entry`]); tables grow at 7/8 full,
//! so a live block costs 16–37 bytes. Each stripe keeps its own counters,
//! updated under its lock, so the hot path shares no counter between threads.

use crate::lock::SpinLock;
use crate::sys;
use core::sync::atomic::{AtomicU32, Ordering};
use leaktrace_format::{Block, Totals};

const STRIPES: usize = 512;
const INITIAL_SLOTS: usize = 64;

/// A live block, packed in two words:
/// - `a`: address >> 3 in the low 45 bits (user-space addresses have 48
///   bits, and every allocator returns 8-aligned blocks), the low 19 bits of
///   the stack id above;
/// - `b`: requested size in the low 51 bits, the high 13 bits of the stack id
///   above.
///
/// `a == 0` marks an empty slot (no block lives at address 0).
#[derive(Clone, Copy)]
#[repr(C)]
struct Entry {
    a: u64,
    b: u64,
}

const ADDR_BITS: u32 = 45;
const SIZE_BITS: u32 = 51;
const SIZE_MASK: u64 = (1 << SIZE_BITS) - 1;
/// Larger requests cannot succeed on x86_64; they are clamped if they do.
pub const MAX_SIZE: u64 = SIZE_MASK;

impl Entry {
    #[inline]
    fn new(addr: u64, size: u64, stack: u32) -> Entry {
        let stack = u64::from(stack);
        Entry {
            a: (addr >> 3) | ((stack & 0x7ffff) << ADDR_BITS),
            b: size.min(SIZE_MASK) | ((stack >> 19) << SIZE_BITS),
        }
    }
    #[inline]
    fn addr(self) -> u64 {
        (self.a & ((1 << ADDR_BITS) - 1)) << 3
    }
    #[inline]
    fn size(self) -> u64 {
        self.b & SIZE_MASK
    }
    #[inline]
    fn stack(self) -> u32 {
        ((self.a >> ADDR_BITS) | ((self.b >> SIZE_BITS) << 19)) as u32
    }
}

struct Stripe {
    slots: *mut Entry,
    mask: usize,
    len: usize,
    allocations: u64,
    frees: u64,
    bytes_allocated: u64,
}

// SAFETY: a stripe's memory is only touched under its lock.
unsafe impl Send for Stripe {}

/// One stripe per cache line, so that two threads working on neighbouring
/// stripes do not slow each other down.
#[repr(align(64))]
struct Padded(SpinLock<Stripe>);

/// When sampling, a counting filter of the recorded blocks by address hash,
/// so that the free of a block that was never recorded (nearly all of them)
/// is decided by one load. Not kept when every block is recorded: then it
/// would only add a shared write to each operation.
static FILTER: [AtomicU32; FILTER_SIZE] = [const { AtomicU32::new(0) }; FILTER_SIZE];
const FILTER_SIZE: usize = 8192;

#[inline(always)]
fn filter_of(h: u64) -> &'static AtomicU32 {
    &FILTER[(h >> 51) as usize % FILTER_SIZE]
}

static STRIPE: [Padded; STRIPES] = [const {
    Padded(SpinLock::new(Stripe {
        slots: core::ptr::null_mut(),
        mask: 0,
        len: 0,
        allocations: 0,
        frees: 0,
        bytes_allocated: 0,
    }))
}; STRIPES];

#[inline]
fn hash(addr: u64) -> u64 {
    (addr >> 3).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The stripe of an address: one of 64 groups of 8 stripes, the group
/// chosen by the address's 64 MiB region. glibc gives each thread its own
/// arena in its own 64 MiB-aligned heaps (other allocators keep per-thread
/// regions too), so threads mostly work in different groups and do not pass
/// lock cache lines back and forth; a thread's own stripe locks stay hot in
/// its cache.
#[inline(always)]
fn stripe_index(addr: u64, h: u64) -> usize {
    let group = ((addr >> 26).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize;
    (group << 3 | (h >> 61) as usize) % STRIPES
}

#[inline]
fn home(h: u64, mask: usize) -> usize {
    ((h >> 16) as usize) & mask
}

/// What an insert did to the live figures.
pub enum Inserted {
    /// A new block.
    New,
    /// The address was live already (its free went by a path we do not
    /// hook); the old entry, of this size, was replaced.
    Replaced(u64),
    /// The table could not grow: nothing recorded.
    OutOfMemory,
}

/// Records a new block.
#[inline]
pub fn insert(addr: u64, size: u64, stack: u32) -> Inserted {
    let h = hash(addr);
    let index = stripe_index(addr, h);
    let mut s = STRIPE[index].0.lock();
    if ((s.len + 1) * 8 > (s.mask + 1) * 7 || s.slots.is_null()) && !grow(&mut s) {
        return Inserted::OutOfMemory;
    }
    s.allocations += 1;
    s.bytes_allocated += size;
    let entry = Entry::new(addr, size, stack);
    let mut i = home(h, s.mask);
    loop {
        // SAFETY: `i` is masked to the table's size; the table is ours while
        // the stripe is locked.
        let e = unsafe { &mut *s.slots.add(i) };
        if e.a == 0 {
            *e = entry;
            s.len += 1;
            if crate::config::sample_bytes() != 0 {
                filter_of(h).fetch_add(1, Ordering::Relaxed);
            }
            return Inserted::New;
        }
        if e.addr() == addr {
            let old = e.size();
            *e = entry;
            return Inserted::Replaced(old);
        }
        i = (i + 1) & s.mask;
    }
}

/// False when the block cannot be in the table: lets a free skip all work,
/// the common case when sampling. A block is inserted before its address is
/// handed out, so its own free sees it counted.
#[inline(always)]
pub fn may_hold(addr: u64) -> bool {
    crate::config::sample_bytes() == 0 || filter_of(hash(addr)).load(Ordering::Relaxed) != 0
}

/// Forgets a block; returns its size and stack if it was known.
#[inline]
pub fn remove(addr: u64) -> Option<(u64, u32)> {
    if !may_hold(addr) {
        return None;
    }
    let h = hash(addr);
    let mut s = STRIPE[stripe_index(addr, h)].0.lock();
    if s.slots.is_null() {
        return None;
    }
    let mask = s.mask;
    let mut i = home(h, mask);
    let found = loop {
        // SAFETY: masked index into the locked table.
        let e = unsafe { *s.slots.add(i) };
        if e.a == 0 {
            return None;
        }
        if e.addr() == addr {
            break e;
        }
        i = (i + 1) & mask;
    };
    // Backward-shift deletion: pull later entries of the cluster into the hole.
    let mut hole = i;
    let mut j = (i + 1) & mask;
    loop {
        // SAFETY: masked indices into the locked table.
        let e = unsafe { *s.slots.add(j) };
        if e.a == 0 {
            break;
        }
        let want = home(hash(e.addr()), mask);
        // `e` stays if its home lies in the cyclic range (hole, j].
        let stays = if hole <= j {
            want > hole && want <= j
        } else {
            want > hole || want <= j
        };
        if !stays {
            // SAFETY: as above.
            unsafe { *s.slots.add(hole) = e };
            hole = j;
        }
        j = (j + 1) & mask;
    }
    // SAFETY: as above.
    unsafe { (*s.slots.add(hole)).a = 0 };
    s.len -= 1;
    if crate::config::sample_bytes() != 0 {
        filter_of(h).fetch_sub(1, Ordering::Relaxed);
    }
    s.frees += 1;
    Some((found.size(), found.stack()))
}

/// Doubles a stripe's table (or creates it).
fn grow(s: &mut Stripe) -> bool {
    let old_cap = if s.slots.is_null() { 0 } else { s.mask + 1 };
    let cap = if old_cap == 0 {
        INITIAL_SLOTS
    } else {
        old_cap * 2
    };
    let Some(mem) = sys::map_zeroed(cap * core::mem::size_of::<Entry>()) else {
        return false;
    };
    let slots = mem.cast::<Entry>();
    for i in 0..old_cap {
        // SAFETY: `i` < old capacity; the new table is private until stored.
        unsafe {
            let e = *s.slots.add(i);
            if e.a != 0 {
                let mut j = home(hash(e.addr()), cap - 1);
                while (*slots.add(j)).a != 0 {
                    j = (j + 1) & (cap - 1);
                }
                *slots.add(j) = e;
            }
        }
    }
    if old_cap != 0 {
        sys::unmap(s.slots.cast(), old_cap * core::mem::size_of::<Entry>());
    }
    s.slots = slots;
    s.mask = cap - 1;
    true
}

/// Copies every live block, stripe by stripe, and the counters (the peak
/// figures are filled in by the caller).
pub fn snapshot() -> (Vec<Block>, Totals) {
    let mut blocks = Vec::new();
    let mut totals = Totals::default();
    for stripe in STRIPE.iter() {
        let s = stripe.0.lock();
        totals.allocations += s.allocations;
        totals.frees += s.frees;
        totals.bytes_allocated += s.bytes_allocated;
        if s.slots.is_null() {
            continue;
        }
        blocks.reserve(s.len);
        for i in 0..=s.mask {
            // SAFETY: `i` within the locked table.
            let e = unsafe { *s.slots.add(i) };
            if e.a != 0 {
                blocks.push(Block {
                    address: e.addr(),
                    size: e.size(),
                    stack: e.stack(),
                });
            }
        }
    }
    (blocks, totals)
}

/// Takes every stripe lock (before fork).
pub fn lock_all() {
    for s in STRIPE.iter() {
        s.0.lock_raw();
    }
}

/// Releases what `lock_all` took.
pub fn unlock_all() {
    for s in STRIPE.iter() {
        s.0.unlock_raw();
    }
}

#[cfg(test)]
mod tests {
    use super::Entry;

    #[test]
    fn entries_pack_every_field() {
        for (addr, size, stack) in [
            (0x7fff_ffff_fff8u64, 0u64, 0u32),
            (0x5555_0000_1230, super::MAX_SIZE, u32::MAX),
            (0x10, 24, 0x7ffff),
            (0x18, 1 << 40, 0x80000),
        ] {
            let e = Entry::new(addr, size, stack);
            assert_eq!((e.addr(), e.size(), e.stack()), (addr, size, stack));
            assert_ne!(e.a, 0);
        }
    }
}
