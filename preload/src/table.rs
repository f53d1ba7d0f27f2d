//! The live-block table: address → (requested size, stack id).
//!
//! Split over `STRIPES` open-addressing tables, each under its own spin lock
//! (on its own cache line) and chosen by a hash of the address, so threads
//! only meet when they touch the same stripe at the same moment. Linear
//! probing with backward-shift deletion keeps lookups short without
//! tombstones; probing never wraps around (a few slots of slack follow the
//! last home slot), so that the deletion's "may this entry move back?" is
//! one comparison. An entry is 16 bytes (see [`Entry`]). A table grows by half
//! when it is 3/4 full, so it is always between half and 3/4 full: a live
//! block costs 21–32 bytes, and an insert probes about 8 slots at worst on
//! average (linear probing degrades fast past that: at 7/8 full, growing
//! by doubling, a live set that happened to sit near the top cost 30 % more
//! per operation). Each stripe keeps its own counters, updated under its
//! lock, so the hot path shares no counter between threads.

use crate::lock::SpinLock;
use crate::sys;
use core::sync::atomic::{AtomicU32, Ordering};
use leaktrace_format::{Block, Kind, Totals};

const STRIPES: usize = 512;
const INITIAL_SLOTS: usize = 64;

/// A live block, packed in two words:
/// - `a`: address >> 3 in the low 45 bits (user-space addresses have 48
///   bits, and every allocator returns 8-aligned blocks), the low 19 bits of
///   the stack id above;
/// - `b`: requested size in the low 34 bits ([`LARGE`] for 16 GiB and more,
///   whose size is kept in [`large`]), the allocation time in the next 20
///   ([`time`]), the high 10 bits of the stack id above (ids have 29 bits).
///
/// `a == 0` marks an empty slot (no block lives at address 0).
#[derive(Clone, Copy)]
#[repr(C)]
struct Entry {
    a: u64,
    b: u64,
}

const ADDR_BITS: u32 = 45;
const SIZE_BITS: u32 = 34;
const SIZE_MASK: u64 = (1 << SIZE_BITS) - 1;
/// The size field of a block of 16 GiB or more: see [`large`].
const LARGE: u64 = SIZE_MASK;
const TIME_BITS: u32 = 20;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;
const STACK_LOW_BITS: u32 = 19;

impl Entry {
    #[inline]
    fn new(addr: u64, size: u64, stack: u32, time: u32) -> Entry {
        let stack = u64::from(stack);
        Entry {
            a: (addr >> 3) | ((stack & ((1 << STACK_LOW_BITS) - 1)) << ADDR_BITS),
            b: size.min(LARGE)
                | (u64::from(time::pack(time)) << SIZE_BITS)
                | ((stack >> STACK_LOW_BITS) << (SIZE_BITS + TIME_BITS)),
        }
    }
    #[inline]
    fn addr(self) -> u64 {
        (self.a & ((1 << ADDR_BITS) - 1)) << 3
    }
    /// The size field: the size, or [`LARGE`].
    #[inline]
    fn size_field(self) -> u64 {
        self.b & SIZE_MASK
    }
    /// The size, looking large blocks up (the stripe must be locked).
    fn size(self) -> u64 {
        match self.size_field() {
            LARGE => large::get(self.addr()),
            size => size,
        }
    }
    #[inline]
    fn time(self) -> u32 {
        time::unpack(((self.b >> SIZE_BITS) & TIME_MASK) as u32)
    }
    #[inline]
    fn stack(self) -> u32 {
        ((self.a >> ADDR_BITS) | ((self.b >> (SIZE_BITS + TIME_BITS)) << STACK_LOW_BITS)) as u32
    }
}

/// Allocation times in 20 bits: a small float of tenths of a second since
/// the library started, exact for the first 6,553 s (1.8 h), then to 1 part
/// in 32,768 of the time since start (13 s after 5 days), up to 6 years.
mod time {
    const MANTISSA: u32 = 16;

    pub fn pack(ds: u32) -> u32 {
        let bits = 32 - ds.leading_zeros();
        if bits <= MANTISSA {
            return ds;
        }
        let exp = bits - MANTISSA; // 1..=16; 15 is the most that fits
        if exp > 15 {
            return (15 << MANTISSA) | 0xffff;
        }
        (exp << MANTISSA) | (ds >> exp)
    }

    pub fn unpack(packed: u32) -> u32 {
        let exp = packed >> MANTISSA;
        let mantissa = packed & 0xffff;
        mantissa << exp
    }
}

/// Sizes of the few blocks of 16 GiB and more, which the entries cannot
/// hold: a fixed array (no allocation), locked after a stripe lock.
mod large {
    use crate::lock::SpinLock;

    static BLOCKS: SpinLock<[(u64, u64); 64]> = SpinLock::new([(0, 0); 64]);

    pub fn put(addr: u64, size: u64) {
        let mut blocks = BLOCKS.lock();
        if let Some(slot) = blocks.iter_mut().find(|b| b.0 == 0 || b.0 == addr) {
            *slot = (addr, size);
        }
    }

    pub fn get(addr: u64) -> u64 {
        let blocks = BLOCKS.lock();
        blocks
            .iter()
            .find(|b| b.0 == addr)
            .map_or(super::LARGE, |b| b.1)
    }

    pub fn take(addr: u64) -> u64 {
        let mut blocks = BLOCKS.lock();
        match blocks.iter_mut().find(|b| b.0 == addr) {
            Some(slot) => core::mem::take(slot).1,
            None => super::LARGE,
        }
    }

    pub fn lock_raw() {
        BLOCKS.lock_raw();
    }

    pub fn unlock_raw() {
        BLOCKS.unlock_raw();
    }
}

struct Stripe {
    slots: *mut Entry,
    /// Slots in the table (any number: see [`home`]).
    cap: usize,
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
        slots: core::ptr::null_mut(),
        cap: 0,
        len: 0,
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

#[inline]
fn home(h: u64, cap: usize) -> usize {
    // Bits 16..48 of the hash scaled to the capacity (a multiply, not a
    // power-of-two mask, so that tables can grow by half). Not the top
    // bits: a stripe's blocks share them.
    ((((h >> 16) & 0xffff_ffff) * cap as u64) >> 32) as usize
}

/// Slots after the last home slot, where a cluster that reaches the end
/// runs on: probing never wraps around, so that a slot's distance from its
/// home is a subtraction. A cluster that would run past them makes the
/// table grow.
const SLACK: usize = 64;

/// Slots allocated for a table of `cap` home slots.
#[inline]
fn slots_for(cap: usize) -> usize {
    cap + SLACK
}

/// Where an entry went.
enum Placed {
    New,
    /// Over an entry of the same address, which it returns.
    Replaced(Entry),
    /// Its cluster reached the end of the slack: grow and try again.
    Full,
}

/// Puts `entry` (for `addr`, hashed `h`) into the table at `slots` with
/// `cap` home slots.
///
/// # Safety
/// `slots` holds `slots_for(cap)` entries, which the caller owns.
#[inline]
unsafe fn place(slots: *mut Entry, cap: usize, h: u64, addr: u64, entry: Entry) -> Placed {
    for i in home(h, cap)..slots_for(cap) {
        // SAFETY: `i` is below `slots_for(cap)`; the caller owns the table.
        let e = unsafe { &mut *slots.add(i) };
        if e.a == 0 {
            *e = entry;
            return Placed::New;
        }
        if e.addr() == addr {
            return Placed::Replaced(core::mem::replace(e, entry));
        }
    }
    Placed::Full
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
    let index = stripe_index(addr, h);
    let mut s = STRIPE[index].0.lock();
    if ((s.len + 1) * 4 > s.cap * 3 || s.slots.is_null()) && !grow(&mut s) {
        return Inserted::OutOfMemory;
    }
    s.allocations += 1;
    s.bytes_allocated += size;
    let entry = Entry::new(addr, size, stack, time);
    if entry.size_field() == LARGE {
        large::put(addr, size);
    }
    loop {
        // SAFETY: the table has `slots_for(s.cap)` entries and is ours while
        // the stripe is locked.
        match unsafe { place(s.slots, s.cap, h, addr, entry) } {
            Placed::New => {
                s.len += 1;
                if crate::config::sample_bytes() != 0 {
                    filter_of(addr).fetch_add(1, Ordering::Relaxed);
                }
                return Inserted::New;
            }
            Placed::Replaced(e) => {
                let old = match e.size_field() {
                    LARGE if entry.size_field() != LARGE => large::take(addr),
                    LARGE => size, // `put` above replaced it: the old size is lost
                    small => small,
                };
                return Inserted::Replaced(old);
            }
            Placed::Full => {
                if !grow(&mut s) {
                    return Inserted::OutOfMemory;
                }
            }
        }
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
#[inline]
pub fn remove(addr: u64) -> Option<Recorded> {
    if !may_hold(addr) {
        return None;
    }
    let h = hash(addr);
    let mut s = STRIPE[stripe_index(addr, h)].0.lock();
    if s.slots.is_null() {
        return None;
    }
    let end = slots_for(s.cap);
    let mut i = home(h, s.cap);
    let found = loop {
        if i == end {
            return None;
        }
        // SAFETY: `i` is below the table's length; the table is locked.
        let e = unsafe { *s.slots.add(i) };
        if e.a == 0 {
            return None;
        }
        if e.addr() == addr {
            break e;
        }
        i += 1;
    };
    // Backward-shift deletion: pull later entries of the cluster into the hole.
    let mut hole = i;
    for j in i + 1..end {
        // SAFETY: as above.
        let e = unsafe { *s.slots.add(j) };
        if e.a == 0 {
            break;
        }
        // `e` moves into the hole if the hole lies on its probe path, which
        // starts at its home and never wraps.
        let moves = home(hash(e.addr()), s.cap) <= hole;
        // Written either way (what the hole holds is dead), so that the
        // loop's only unpredictable branch is its end.
        // SAFETY: as above.
        unsafe { *s.slots.add(hole) = e };
        hole = if moves { j } else { hole };
    }
    // SAFETY: as above.
    unsafe { (*s.slots.add(hole)).a = 0 };
    s.len -= 1;
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

/// Grows a stripe's table by half (or creates it), and more if a cluster
/// would not fit.
fn grow(s: &mut Stripe) -> bool {
    let old_slots = if s.slots.is_null() {
        0
    } else {
        slots_for(s.cap)
    };
    let mut cap = if s.slots.is_null() {
        INITIAL_SLOTS
    } else {
        s.cap + s.cap / 2
    };
    let slots = loop {
        let bytes = slots_for(cap) * core::mem::size_of::<Entry>();
        let Some(mem) = sys::map_zeroed(bytes) else {
            return false;
        };
        let slots = mem.cast::<Entry>();
        let fits = (0..old_slots).all(|i| {
            // SAFETY: `i` < the old table's length; the new table is
            // private until stored.
            unsafe {
                let e = *s.slots.add(i);
                e.a == 0 || !matches!(place(slots, cap, hash(e.addr()), e.addr(), e), Placed::Full)
            }
        });
        if fits {
            break slots;
        }
        sys::unmap(mem, bytes);
        cap += cap / 2;
    };
    if old_slots != 0 {
        sys::unmap(s.slots.cast(), old_slots * core::mem::size_of::<Entry>());
    }
    s.slots = slots;
    s.cap = cap;
    true
}

/// Copies every live block, stripe by stripe, and the counters (the peak
/// figures are filled in by the caller).
pub fn snapshot() -> (Vec<Block>, Totals) {
    // Room for all blocks at once: growing a vector of millions of blocks
    // copies it and faults its pages in again.
    let estimate: usize = STRIPE.iter().map(|s| s.0.lock().len).sum();
    let mut blocks = Vec::with_capacity(estimate + estimate / 16 + 64);
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
        for i in 0..slots_for(s.cap) {
            // SAFETY: `i` within the locked table.
            let e = unsafe { *s.slots.add(i) };
            if e.a != 0 {
                blocks.push(Block {
                    address: e.addr(),
                    size: e.size(),
                    stack: e.stack(),
                    allocated_ds: e.time(),
                    kind: Kind::Unknown,
                });
            }
        }
    }
    (blocks, totals)
}

/// Takes every lock of the table (before fork).
pub fn lock_all() {
    for s in STRIPE.iter() {
        s.0.lock_raw();
    }
    large::lock_raw();
}

/// Releases what `lock_all` took.
pub fn unlock_all() {
    large::unlock_raw();
    for s in STRIPE.iter() {
        s.0.unlock_raw();
    }
}

#[cfg(test)]
mod tests {
    use super::Entry;

    #[test]
    fn entries_pack_every_field() {
        for (addr, size, stack, time) in [
            (0x7fff_ffff_fff8u64, 0u64, 0u32, 0u32),
            (0x5555_0000_1230, super::LARGE - 1, (1 << 29) - 1, 65_535),
            (0x10, 24, 0x7ffff, 1),
            (0x18, 1 << 33, 0x80000, 40_000),
        ] {
            let e = Entry::new(addr, size, stack, time);
            assert_eq!(
                (e.addr(), e.size_field(), e.stack(), e.time()),
                (addr, size, stack, time)
            );
            assert_ne!(e.a, 0);
        }
    }

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
        // Addresses of one region share 8 stripes: long clusters, many
        // backward shifts, growth.
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

    #[test]
    fn a_cluster_past_the_slack_asks_for_growth() {
        use super::{hash, place, slots_for, Placed};
        let cap = 4;
        let mut slots = vec![Entry { a: 0, b: 0 }; slots_for(cap)];
        let mut placed = 0;
        for n in 1..=slots_for(cap) as u64 + 1 {
            let addr = n * 16;
            let e = Entry::new(addr, 1, 1, 0);
            // SAFETY: `slots` has `slots_for(cap)` entries.
            match unsafe { place(slots.as_mut_ptr(), cap, hash(addr), addr, e) } {
                Placed::New => placed += 1,
                Placed::Replaced(_) => unreachable!(),
                Placed::Full => break,
            }
        }
        // Every slot from the first home on is used, and no more.
        assert!(placed >= slots_for(cap) - cap && placed <= slots_for(cap));
        assert!(slots[slots_for(cap) - 1].a != 0);
    }

    #[test]
    fn times_are_exact_then_relative() {
        use super::time::{pack, unpack};
        for t in [0, 1, 65_535] {
            assert_eq!(unpack(pack(t)), t);
        }
        for t in [65_536u32, 1_000_000, 4_320_000, u32::MAX >> 1] {
            let back = unpack(pack(t));
            assert!(back <= t && t - back <= t >> 15, "{t} -> {back}");
            assert!(pack(t) < 1 << 20);
        }
        assert!(pack(u32::MAX) < 1 << 20);
    }
}
