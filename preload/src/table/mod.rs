//! The live-block table: address → (requested size, stack id).
//!
//! Split over `STRIPES` hash tables ([`buckets`]), each under its own spin
//! lock (on its own cache line) and chosen by a hash of the address, so
//! threads only meet when they touch the same stripe at the same moment.
//! An entry is 16 bytes ([`entry`]); a table is 53–80 % full, so a live
//! block costs 21–31 bytes. Each stripe keeps its own counters, updated
//! under its lock, so the hot path shares no counter between threads.

mod buckets;
mod entry;
mod large;

use crate::lock::SpinLock;
use buckets::{Buckets, Placed};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use entry::{Entry, LARGE};
use leaktrace_format::{Block, Kind, Totals};

const STRIPES: usize = 512;

struct Stripe {
    table: Buckets,
    allocations: u64,
    frees: u64,
    bytes_allocated: u64,
}

/// One stripe per cache line, so that two threads working on neighbouring
/// stripes do not slow each other down.
#[repr(align(64))]
struct Padded(SpinLock<Stripe>);

/// When sampling, a counting filter of the recorded blocks by address hash,
/// so that the free of a block that was never recorded (nearly all of them)
/// is decided by one load. Not kept when every block is recorded (it would
/// only add a shared write to each operation), and then not read either.
/// The free fast path in entry.rs computes the same index.
pub(crate) static FILTER: [AtomicU32; FILTER_SIZE] = [const { AtomicU32::new(0) }; FILTER_SIZE];
const FILTER_SIZE: usize = 1 << (64 - FILTER_SHIFT);
/// A counter's index: the top bits of the address times [`HASH_FACTOR`]
/// (the address itself, not its [`hash`]: one instruction less in the
/// free stub; the top bits of the product depend on every address bit).
pub(crate) const FILTER_SHIFT: u32 = 51;
/// The multiplier of [`hash`] and of the filter's index.
pub(crate) const HASH_FACTOR: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline(always)]
fn filter_of(addr: u64) -> &'static AtomicU32 {
    &FILTER[(addr.wrapping_mul(HASH_FACTOR) >> FILTER_SHIFT) as usize]
}

/// Marks `addr` in the filter for good, so that its free always takes the
/// full path (the bootstrap arena's blocks, real.rs).
pub fn keep_in_filter(addr: u64) {
    filter_of(addr).fetch_add(1, Ordering::Relaxed);
}

static STRIPE: [Padded; STRIPES] = [const {
    Padded(SpinLock::new(Stripe {
        table: Buckets::new(),
        allocations: 0,
        frees: 0,
        bytes_allocated: 0,
    }))
}; STRIPES];

#[inline]
fn hash(addr: u64) -> u64 {
    (addr >> 3).wrapping_mul(HASH_FACTOR)
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

/// A block as recorded: its size, stack id and allocation time.
#[derive(Clone, Copy)]
pub struct Recorded {
    pub size: u64,
    pub stack: u32,
    /// Tenths of a second after start (see [`time`]).
    pub time: u32,
}

/// Records a new block allocated `time` tenths of a second after start.
#[inline]
pub fn insert(addr: u64, size: u64, stack: u32, time: u32) -> Inserted {
    let h = hash(addr);
    let mut s = STRIPE[stripe_index(addr, h)].0.lock();
    let entry = Entry::new(addr, size, stack, time);
    if entry.size_field() == LARGE {
        large::put(addr, size);
    }
    let placed = s.table.insert(h, addr, entry);
    if !matches!(placed, Placed::OutOfMemory) {
        s.allocations += 1;
        s.bytes_allocated += size;
    }
    match placed {
        Placed::New => {
            if crate::config::sample_bytes() != 0 {
                filter_of(addr).fetch_add(1, Ordering::Relaxed);
            }
            Inserted::New
        }
        Placed::Replaced(old) => Inserted::Replaced(match old.size_field() {
            LARGE if entry.size_field() != LARGE => large::take(addr),
            LARGE => size, // `put` above replaced it: the old size is lost
            small => small,
        }),
        Placed::OutOfMemory => Inserted::OutOfMemory,
    }
}

/// False when the block cannot be in the table: lets a free skip all work,
/// the common case when sampling. A block is inserted before its address is
/// handed out, so its own free sees it counted.
#[inline(always)]
pub fn may_hold(addr: u64) -> bool {
    crate::config::sample_bytes() == 0 || filter_of(addr).load(Ordering::Relaxed) != 0
}

/// Forgets a block; returns what was recorded of it, if anything.
#[inline(always)]
pub fn remove(addr: u64) -> Option<Recorded> {
    if !may_hold(addr) {
        return None;
    }
    let h = hash(addr);
    let mut s = STRIPE[stripe_index(addr, h)].0.lock();
    let found = s.table.remove(h, addr)?;
    if crate::config::sample_bytes() != 0 {
        filter_of(addr).fetch_sub(1, Ordering::Relaxed);
    }
    s.frees += 1;
    let size = match found.size_field() {
        LARGE => large::take(addr),
        size => size,
    };
    Some(Recorded {
        size,
        stack: found.stack(),
        time: found.time(),
    })
}

/// Held while every stripe is walked (a snapshot, `is_empty`): the only
/// way a stripe lock is held by a thread that is not the program's. A fork
/// by a process's only program thread takes this lock instead of the 512
/// stripe locks ([`lock_all`]).
static WALK: SpinLock<()> = SpinLock::new(());
/// Whether the last [`lock_all`] took every stripe lock.
static LOCKED_ALL: AtomicBool = AtomicBool::new(false);

/// Copies every live block, stripe by stripe, and the counters (the peak
/// figures are filled in by the caller).
pub fn snapshot() -> (Vec<Block>, Totals) {
    let _walk = WALK.lock();
    // Room for all blocks at once: growing a vector of millions of blocks
    // copies it and faults its pages in again.
    let estimate: usize = STRIPE.iter().map(|s| s.0.lock().table.len()).sum();
    let mut blocks = Vec::with_capacity(estimate + estimate / 16 + 64);
    let mut totals = Totals::default();
    for stripe in STRIPE.iter() {
        let s = stripe.0.lock();
        totals.allocations += s.allocations;
        totals.frees += s.frees;
        totals.bytes_allocated += s.bytes_allocated;
        blocks.reserve(s.table.len());
        for e in s.table.entries() {
            blocks.push(Block {
                address: e.addr(),
                size: match e.size_field() {
                    LARGE => large::get(e.addr()),
                    size => size,
                },
                stack: e.stack(),
                allocated_ds: e.time(),
                kind: Kind::Unknown,
            });
        }
    }
    (blocks, totals)
}

/// Whether no block is live (each stripe looked at in turn).
pub fn is_empty() -> bool {
    let _walk = WALK.lock();
    STRIPE.iter().all(|s| s.0.lock().table.len() == 0)
}

/// Makes sure no lock of the table is held across fork by another thread,
/// so that the child never inherits one held by a thread that does not
/// exist there. When the forking thread is the only program thread
/// (`only_thread`), only the library's own thread can hold a stripe lock,
/// and only while it walks them all: waiting for that walk to end is
/// enough. Taking and releasing all 512 stripe locks instead wrote 8 pages
/// that parent and child then each copied (copy-on-write): about 40 page
/// faults per fork of a shell.
pub fn lock_all(only_thread: bool) {
    WALK.lock_raw();
    LOCKED_ALL.store(!only_thread, Ordering::Relaxed);
    if !only_thread {
        for s in STRIPE.iter() {
            s.0.lock_raw();
        }
        large::lock_raw();
    }
}

/// Releases what `lock_all` took.
pub fn unlock_all() {
    if LOCKED_ALL.load(Ordering::Relaxed) {
        large::unlock_raw();
        for s in STRIPE.iter() {
            s.0.unlock_raw();
        }
    }
    WALK.unlock_raw();
}

#[cfg(test)]
mod tests {
    #[test]
    fn large_sizes_are_kept_aside() {
        let addr = 0x7000_0000_0000;
        assert!(matches!(
            super::insert(addr, 40 << 30, 5, 0),
            super::Inserted::New
        ));
        let r = super::remove(addr).unwrap();
        assert_eq!((r.size, r.stack), (40 << 30, 5));
        assert!(super::remove(addr).is_none());
    }

    #[test]
    fn churn_matches_a_model() {
        // Addresses of one region share 8 stripes: full buckets, entries
        // past their home, growth.
        let base = 0x6000_0000_0000u64;
        let mut model = std::collections::HashMap::new();
        let mut r = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..200_000u64 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            let addr = base + (r % 50_000) * 16;
            if let Some(size) = model.remove(&addr) {
                let got = super::remove(addr).expect("recorded block found");
                assert_eq!(got.size, size, "step {step}");
            } else {
                let size = step % 1000;
                assert!(matches!(
                    super::insert(addr, size, 7, 0),
                    super::Inserted::New
                ));
                model.insert(addr, size);
            }
        }
        for (&addr, &size) in &model {
            assert_eq!(super::remove(addr).map(|r| r.size), Some(size));
        }
        assert!(super::remove(base).is_none());
    }
}
