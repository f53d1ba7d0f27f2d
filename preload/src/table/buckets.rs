//! One stripe's hash table: buckets of four entries, a cache line each.
//!
//! An address hashes to a home bucket and its entry goes into the first
//! free slot from there on, at most [`HOPS`] buckets further. Each home
//! bucket keeps a mask of the later buckets that hold entries of its own
//! (the neighbourhood bitmap of hopscotch hashing, without its moves), so a
//! lookup reads the home bucket and only those: nearly always one cache
//! line and four compares, with no probe sequence to follow. A removal
//! clears its slot, and the bucket's bit if no other entry of that home is
//! left there: no tombstones, no entries shifted back. An insert that finds
//! no free slot within reach grows the table.
//!
//! The masks sit apart from the buckets, two bytes each, so that a bucket
//! is exactly a line of four 16-byte entries; they are 1/32 of the table
//! and stay in cache. The table grows by half when 4/5 full, so it is
//! 53–80 % full: a live block costs 21–31 bytes.

use super::entry::{key, Entry, ADDR_MASK};
use crate::sys;

const SLOTS: usize = 4;
/// How far past its home bucket an entry may live: the bits of a mask.
const HOPS: usize = 16;
const INITIAL_BUCKETS: usize = 16;

/// Four entries, their first words together and their second words
/// together, so that one pass of SSE2 compares finds an address and the
/// empty slots (the scalar version was 44 instructions an insert).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    a: [u64; SLOTS],
    b: [u64; SLOTS],
}

impl Bucket {
    #[inline(always)]
    fn get(&self, i: usize) -> Entry {
        Entry {
            a: self.a[i],
            b: self.b[i],
        }
    }

    #[inline(always)]
    fn set(&mut self, i: usize, e: Entry) {
        (self.a[i], self.b[i]) = (e.a, e.b);
    }

    /// Which slots hold the block at `addr` (at most one bit), and which
    /// are empty.
    #[inline(always)]
    fn scan(&self, addr: u64) -> (u32, u32) {
        use core::arch::x86_64::{
            _mm_and_si128, _mm_load_si128, _mm_set1_epi64x, _mm_setzero_si128,
        };
        // SAFETY: SSE2 is part of x86-64; `a` is 16-byte aligned (the
        // bucket is 64-byte aligned and `a` comes first).
        unsafe {
            let lo = _mm_load_si128(self.a.as_ptr().cast());
            let hi = _mm_load_si128(self.a.as_ptr().add(2).cast());
            let mask = _mm_set1_epi64x(ADDR_MASK as i64);
            let k = _mm_set1_epi64x(key(addr) as i64);
            let zero = _mm_setzero_si128();
            let hits = equal(_mm_and_si128(lo, mask), k) | equal(_mm_and_si128(hi, mask), k) << 2;
            let empty = equal(lo, zero) | equal(hi, zero) << 2;
            (hits, empty)
        }
    }

    /// The slot holding the block at `addr`.
    #[inline(always)]
    fn find(&self, addr: u64) -> Option<usize> {
        let (hits, _) = self.scan(addr);
        (hits != 0).then(|| hits.trailing_zeros() as usize)
    }

    /// An empty slot.
    #[inline(always)]
    fn free(&self) -> Option<usize> {
        let (_, empty) = self.scan(0);
        (empty != 0).then(|| empty.trailing_zeros() as usize)
    }
}

/// Which of the two 64-bit lanes of `x` and `y` are equal, as bits 0 and 1
/// (SSE2 compares 32-bit lanes: a 64-bit lane is equal when both halves are).
#[inline(always)]
fn equal(x: core::arch::x86_64::__m128i, y: core::arch::x86_64::__m128i) -> u32 {
    use core::arch::x86_64::{
        _mm_and_si128, _mm_castsi128_pd, _mm_cmpeq_epi32, _mm_movemask_pd, _mm_shuffle_epi32,
    };
    // SAFETY: register-only SSE2 operations, which every x86-64 CPU has.
    unsafe {
        let halves = _mm_cmpeq_epi32(x, y);
        let both = _mm_and_si128(halves, _mm_shuffle_epi32::<0b1011_0001>(halves));
        _mm_movemask_pd(_mm_castsi128_pd(both)) as u32
    }
}

/// A table; all zeros (no buckets) is empty.
pub struct Buckets {
    /// `count + HOPS` buckets: entries of the last homes run on past them
    /// (no wrapping around, so a bucket's distance from a home is a
    /// subtraction).
    buckets: *mut Bucket,
    /// A mask per home bucket, in the same mapping: bit `d - 1` is set
    /// when bucket `home + d` holds an entry of this home.
    hops: *mut u16,
    /// Home buckets.
    count: usize,
    len: usize,
    /// The most entries before the table grows (4/5 of its home slots).
    limit: usize,
}

// SAFETY: the table's memory is its own mapping; the owner serializes use.
unsafe impl Send for Buckets {}

/// Where an entry went.
pub enum Placed {
    New,
    /// Over the entry of the same address, which it returns.
    Replaced(Entry),
    /// The table could not grow: nowhere.
    OutOfMemory,
}

impl Buckets {
    pub const fn new() -> Buckets {
        Buckets {
            buckets: core::ptr::null_mut(),
            hops: core::ptr::null_mut(),
            count: 0,
            len: 0,
            limit: 0,
        }
    }

    /// Blocks in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    fn home(&self, h: u64) -> usize {
        // Bits 16..48 of the hash scaled to the bucket count (a multiply,
        // not a power-of-two mask, so that tables can grow by half). Not
        // the top bits: a stripe's blocks share them.
        ((((h >> 16) & 0xffff_ffff) * self.count as u64) >> 32) as usize
    }

    #[inline(always)]
    fn bucket(&mut self, b: usize) -> &mut Bucket {
        debug_assert!(b < self.count + HOPS);
        // SAFETY: there are `count + HOPS` buckets in the mapping.
        unsafe { &mut *self.buckets.add(b) }
    }

    #[inline(always)]
    fn hops(&mut self, home: usize) -> &mut u16 {
        debug_assert!(home < self.count);
        // SAFETY: there are `count` masks in the mapping.
        unsafe { &mut *self.hops.add(home) }
    }

    /// The bucket and slot of the block at `addr`, whose home is `home`.
    #[inline(always)]
    fn find(&mut self, home: usize, addr: u64) -> Option<(usize, usize)> {
        if let Some(i) = self.bucket(home).find(addr) {
            return Some((home, i));
        }
        self.find_away(home, addr)
    }

    /// As `find`, in the buckets past `home` that its mask names.
    #[inline(always)]
    fn find_away(&mut self, home: usize, addr: u64) -> Option<(usize, usize)> {
        let mut hops = *self.hops(home);
        while hops != 0 {
            let b = home + 1 + hops.trailing_zeros() as usize;
            if let Some(i) = self.bucket(b).find(addr) {
                return Some((b, i));
            }
            hops &= hops - 1;
        }
        None
    }

    /// Puts `entry`, the block at `addr` hashed `h`, into the table.
    #[inline]
    pub fn insert(&mut self, h: u64, addr: u64, entry: Entry) -> Placed {
        if self.len >= self.limit && !self.grow() {
            return Placed::OutOfMemory;
        }
        loop {
            if let Some(placed) = self.place(h, addr, entry) {
                return placed;
            }
            if !self.grow() {
                return Placed::OutOfMemory;
            }
        }
    }

    /// Puts `entry` in the table, or `None` when it holds no free slot
    /// within reach of the home bucket.
    #[inline(always)]
    fn place(&mut self, h: u64, addr: u64, entry: Entry) -> Option<Placed> {
        let home = self.home(h);
        let (hits, empty) = self.bucket(home).scan(addr);
        let found = match hits {
            0 => self.find_away(home, addr),
            hits => Some((home, hits.trailing_zeros() as usize)),
        };
        if let Some((b, i)) = found {
            let old = self.bucket(b).get(i);
            self.bucket(b).set(i, entry);
            return Some(Placed::Replaced(old));
        }
        let i = match empty {
            0 => return self.put_away(home, entry).then_some(Placed::New),
            empty => empty.trailing_zeros() as usize,
        };
        self.bucket(home).set(i, entry);
        self.len += 1;
        Some(Placed::New)
    }

    /// Puts `entry`, of an address not in the table, into the first free
    /// slot within reach of `home`; false if there is none.
    #[inline]
    fn put_away(&mut self, home: usize, entry: Entry) -> bool {
        for b in home..=home + HOPS {
            if let Some(i) = self.bucket(b).free() {
                self.bucket(b).set(i, entry);
                if b != home {
                    *self.hops(home) |= 1 << (b - home - 1);
                }
                self.len += 1;
                return true;
            }
        }
        false
    }

    /// Takes the block at `addr` (hashed `h`) out of the table.
    #[inline(always)]
    pub fn remove(&mut self, h: u64, addr: u64) -> Option<Entry> {
        if self.count == 0 {
            return None;
        }
        let home = self.home(h);
        let (b, i) = self.find(home, addr)?;
        let found = self.bucket(b).get(i);
        self.bucket(b).set(i, Entry::EMPTY);
        self.len -= 1;
        if b != home {
            let left = *self.bucket(b);
            let mut shares_home = false;
            for i in 0..SLOTS {
                let e = left.get(i);
                shares_home |= e.a != 0 && self.home(super::hash(e.addr())) == home;
            }
            if !shares_home {
                *self.hops(home) &= !(1 << (b - home - 1));
            }
        }
        Some(found)
    }

    /// Every entry, in table order.
    pub fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        let buckets = if self.count == 0 {
            0
        } else {
            self.count + HOPS
        };
        (0..buckets)
            .flat_map(move |b| {
                // SAFETY: `b` < `count + HOPS`, the buckets in the mapping.
                let bucket = unsafe { *self.buckets.add(b) };
                (0..SLOTS).map(move |i| bucket.get(i))
            })
            .filter(|e| e.a != 0)
    }

    /// Bytes of the mapping for `count` home buckets.
    fn bytes_for(count: usize) -> usize {
        (count + HOPS) * core::mem::size_of::<Bucket>() + count * 2
    }

    /// A new empty table of `count` home buckets.
    fn with_buckets(count: usize) -> Option<Buckets> {
        let mem = sys::map_zeroed(Self::bytes_for(count))?;
        Some(Buckets {
            buckets: mem.cast(),
            // SAFETY: the masks follow the buckets inside the mapping.
            hops: unsafe {
                mem.cast::<u8>()
                    .add((count + HOPS) * core::mem::size_of::<Bucket>())
                    .cast()
            },
            count,
            len: 0,
            limit: count * SLOTS * 4 / 5,
        })
    }

    /// Grows the table by half (or creates it), and more if an entry
    /// would not be within reach of its home.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) -> bool {
        let mut count = match self.count {
            0 => INITIAL_BUCKETS,
            n => n + n / 2,
        };
        let bigger = loop {
            let Some(mut bigger) = Self::with_buckets(count) else {
                return false;
            };
            // Each address is in the table once: no need to look for it.
            let fits = self
                .entries()
                .all(|e| bigger.put_away(bigger.home(super::hash(e.addr())), e));
            if fits {
                break bigger;
            }
            bigger.release();
            count += count / 2;
        };
        let mut old = core::mem::replace(self, bigger);
        old.release();
        true
    }

    /// Returns the mapping (the table is then empty).
    fn release(&mut self) {
        if self.count != 0 {
            sys::unmap(self.buckets.cast(), Self::bytes_for(self.count));
        }
        *self = Buckets::new();
    }
}

#[cfg(test)]
mod tests {
    use super::{Buckets, Entry, Placed, HOPS, SLOTS};
    use crate::table::hash;

    /// `n` addresses with the same home in a table of `count` buckets.
    fn same_home(count: usize, n: usize) -> Vec<u64> {
        let t = Buckets {
            count,
            ..Buckets::new()
        };
        let want = t.home(hash(0x1000));
        (0x1000u64..)
            .step_by(16)
            .filter(|&a| t.home(hash(a)) == want)
            .take(n)
            .collect()
    }

    fn put(t: &mut Buckets, a: u64, size: u64) -> Option<Placed> {
        t.place(hash(a), a, Entry::new(a, size, 1, 0))
    }

    #[test]
    fn masks_lead_lookups_to_the_buckets_holding_a_homes_entries() {
        let mut t = Buckets::with_buckets(64).unwrap();
        let addrs = same_home(64, 9);
        let home = t.home(hash(addrs[0]));
        for (n, &a) in addrs.iter().enumerate() {
            assert!(matches!(put(&mut t, a, n as u64), Some(Placed::New)));
        }
        // Four in the home bucket, four in the next, one in the one after.
        assert_eq!(*t.hops(home), 0b11);
        // Taking the last one clears its bucket's bit.
        let last = addrs[8];
        let e = t.remove(hash(last), last).unwrap();
        assert_eq!((e.addr(), e.size_field()), (last, 8));
        assert_eq!(*t.hops(home), 0b01);
        assert!(t.remove(hash(last), last).is_none());
        // A freed home slot is reused; the entries past it are still found.
        let first = addrs[0];
        assert!(t.remove(hash(first), first).is_some());
        assert!(matches!(put(&mut t, first, 99), Some(Placed::New)));
        for (n, &a) in addrs[1..8].iter().enumerate().rev() {
            let e = t.remove(hash(a), a).unwrap();
            assert_eq!(e.size_field(), n as u64 + 1);
        }
        assert_eq!(*t.hops(home), 0);
        assert_eq!(t.len(), 1);
        // The same address again replaces its entry.
        match put(&mut t, first, 7) {
            Some(Placed::Replaced(old)) => assert_eq!(old.size_field(), 99),
            _ => panic!("not replaced"),
        }
        assert_eq!(t.entries().count(), 1);
        t.release();
    }

    #[test]
    fn an_entry_out_of_reach_asks_for_growth() {
        let mut t = Buckets::with_buckets(64).unwrap();
        let reach = SLOTS * (HOPS + 1);
        let addrs = same_home(64, reach + 1);
        for &a in &addrs[..reach] {
            assert!(matches!(put(&mut t, a, 1), Some(Placed::New)));
        }
        assert!(put(&mut t, addrs[reach], 1).is_none());
        // Growing places everything again, within reach.
        let h = hash(addrs[reach]);
        assert!(matches!(
            t.insert(h, addrs[reach], Entry::new(addrs[reach], 1, 1, 0)),
            Placed::New
        ));
        assert!(t.count > 64);
        for &a in &addrs {
            assert!(t.remove(hash(a), a).is_some());
        }
        assert_eq!(t.len(), 0);
        t.release();
    }
}
