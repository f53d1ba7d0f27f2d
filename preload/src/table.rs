//! The live-block table: address → (requested size, stack id).
//!
//! Split over `STRIPES` open-addressing tables, each under its own spin lock
//! and chosen by a hash of the address, so threads only meet when they touch
//! the same stripe at the same moment. Linear probing with backward-shift
//! deletion keeps lookups short without tombstones. Each stripe also keeps
//! its own counters, so the hot path writes no shared cache line except for
//! the peak tracking.

use crate::lock::SpinLock;
use crate::sys;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use leaktrace_format::{Block, Totals};

const STRIPES: usize = 512;
const INITIAL_SLOTS: usize = 64;

#[derive(Clone, Copy)]
#[repr(C)]
struct Entry {
    /// 0 marks an empty slot (malloc never returns address 0).
    addr: u64,
    size: u64,
    stack: u32,
    _pad: u32,
}

#[derive(Default, Clone, Copy)]
struct Counters {
    allocations: u64,
    frees: u64,
    bytes_allocated: u64,
}

struct Stripe {
    slots: *mut Entry,
    mask: usize,
    len: usize,
    counters: Counters,
}

// SAFETY: a stripe's memory is only touched under its lock.
unsafe impl Send for Stripe {}

static STRIPE: [SpinLock<Stripe>; STRIPES] = [const {
    SpinLock::new(Stripe {
        slots: core::ptr::null_mut(),
        mask: 0,
        len: 0,
        counters: Counters {
            allocations: 0,
            frees: 0,
            bytes_allocated: 0,
        },
    })
}; STRIPES];

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LIVE_BLOCKS: AtomicI64 = AtomicI64::new(0);
static PEAK_BYTES: AtomicU64 = AtomicU64::new(0);
static PEAK_BLOCKS: AtomicU64 = AtomicU64::new(0);

#[inline]
fn hash(addr: u64) -> u64 {
    (addr >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[inline]
fn stripe_of(h: u64) -> &'static SpinLock<Stripe> {
    &STRIPE[(h >> 55) as usize % STRIPES]
}

#[inline]
fn home(h: u64, mask: usize) -> usize {
    ((h >> 16) as usize) & mask
}

fn account(bytes: i64, blocks: i64) {
    let live = LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed) + bytes;
    let count = LIVE_BLOCKS.fetch_add(blocks, Ordering::Relaxed) + blocks;
    if bytes > 0 && live as u64 > PEAK_BYTES.load(Ordering::Relaxed) {
        PEAK_BYTES.fetch_max(live as u64, Ordering::Relaxed);
    }
    if blocks > 0 && count as u64 > PEAK_BLOCKS.load(Ordering::Relaxed) {
        PEAK_BLOCKS.fetch_max(count as u64, Ordering::Relaxed);
    }
}

/// Records a new block. Returns false if the table could not grow.
pub fn insert(addr: u64, size: u64, stack: u32) -> bool {
    let h = hash(addr);
    let mut s = stripe_of(h).lock();
    if ((s.len + 1) * 4 > (s.mask + 1) * 3 || s.slots.is_null()) && !grow(&mut s) {
        return false;
    }
    s.counters.allocations += 1;
    s.counters.bytes_allocated += size;
    let mut i = home(h, s.mask);
    loop {
        // SAFETY: `i` is masked to the table's size; the table is ours while
        // the stripe is locked.
        let e = unsafe { &mut *s.slots.add(i) };
        if e.addr == 0 {
            *e = Entry {
                addr,
                size,
                stack,
                _pad: 0,
            };
            s.len += 1;
            drop(s);
            account(size as i64, 1);
            return true;
        }
        if e.addr == addr {
            // A free we never saw (freed by a path we do not hook): replace.
            let old = e.size;
            e.size = size;
            e.stack = stack;
            drop(s);
            account(size as i64 - old as i64, 0);
            return true;
        }
        i = (i + 1) & s.mask;
    }
}

/// Forgets a block; returns its size and stack if it was known.
pub fn remove(addr: u64) -> Option<(u64, u32)> {
    let h = hash(addr);
    let mut s = stripe_of(h).lock();
    if s.slots.is_null() {
        return None;
    }
    let mask = s.mask;
    let mut i = home(h, mask);
    let found = loop {
        // SAFETY: masked index into the locked table.
        let e = unsafe { *s.slots.add(i) };
        if e.addr == 0 {
            return None;
        }
        if e.addr == addr {
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
        if e.addr == 0 {
            break;
        }
        let want = home(hash(e.addr), mask);
        // Move `e` if its home is not in the cyclic range (hole, j].
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
    unsafe { (*s.slots.add(hole)).addr = 0 };
    s.len -= 1;
    s.counters.frees += 1;
    drop(s);
    account(-(found.size as i64), -1);
    Some((found.size, found.stack))
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
            if e.addr != 0 {
                let mut j = home(hash(e.addr), cap - 1);
                while (*slots.add(j)).addr != 0 {
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

/// Copies every live block, stripe by stripe, and the counters.
pub fn snapshot() -> (Vec<Block>, Totals) {
    let mut blocks = Vec::with_capacity(LIVE_BLOCKS.load(Ordering::Relaxed).max(0) as usize + 64);
    let mut totals = Totals::default();
    for stripe in STRIPE.iter() {
        let s = stripe.lock();
        totals.allocations += s.counters.allocations;
        totals.frees += s.counters.frees;
        totals.bytes_allocated += s.counters.bytes_allocated;
        if s.slots.is_null() {
            continue;
        }
        for i in 0..=s.mask {
            // SAFETY: `i` within the locked table.
            let e = unsafe { *s.slots.add(i) };
            if e.addr != 0 {
                blocks.push(Block {
                    address: e.addr,
                    size: e.size,
                    stack: e.stack,
                });
            }
        }
    }
    totals.peak_bytes = PEAK_BYTES.load(Ordering::Relaxed);
    totals.peak_blocks = PEAK_BLOCKS.load(Ordering::Relaxed);
    (blocks, totals)
}

/// Takes every stripe lock (before fork).
pub fn lock_all() {
    for s in STRIPE.iter() {
        s.lock_raw();
    }
}

/// Releases what `lock_all` took.
pub fn unlock_all() {
    for s in STRIPE.iter() {
        s.unlock_raw();
    }
}
