//! The records a thread's cache of recurring stacks checks, each kept once.
//!
//! A record is two words: a frame-pointer link (a saved RBP and a return
//! address, as they lie on the stack) or a word's address and the value it
//! must hold. Entries of the cache name records by 2-byte [`Slot`]s. The
//! pool is part of the thread's [`Cache`](super::cache::Cache) and, like
//! it, all zeros is empty.

/// Records a thread keeps, shared by its entries; when they are all taken,
/// the cache starts afresh.
pub(super) const POOL_RECORDS: usize = 8192;
/// Slots of the pool's index at most, and at first: powers of two.
const POOL_INDEX: usize = 2 * POOL_RECORDS;
const FIRST_INDEX: usize = 128;
/// Records the pool holds before it uses its index (searched one by one).
const UNINDEXED: usize = 32;

/// A record's place in the [`Pool`]: twice its index, so that its address
/// is the pool's plus eight times this, one addressing mode.
pub(super) type Slot = u16;

/// Two words: a link's saved RBP and return address, as they lie on the
/// stack, or a word's address and value.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(16))]
pub(super) struct Record(pub(super) [u64; 2]);

/// The records of a thread's entries, each kept once.
///
/// Stacks that recur share their outer frames: the 50 stacks of the churn
/// benchmark run through the same 30 levels of calls. Kept once, the
/// records a lookup compares are mostly in the L1 cache already, and an
/// entry is two cache lines; with the records in the entries, the cache
/// misses that tracking added to a churn pair were 9.2 (cachegrind), now
/// 4.2. Naming a record costs one load.
#[repr(C)]
pub(super) struct Pool {
    pub(super) used: u32,
    /// The index slots in use; 0 while the records are few.
    slots: u32,
    record: [Record; POOL_RECORDS],
    /// Open addressing by content: a record's index plus 1, 0 for none.
    /// Not used for the first [`UNINDEXED`] records, then only its first
    /// `slots`, doubled as the pool fills: a thread with few stacks
    /// touches none of its pages.
    index: [u16; POOL_INDEX],
}

impl Pool {
    /// The slot of a record holding `r`, added if new; `None` when the
    /// pool is full.
    pub(super) fn intern(&mut self, r: Record) -> Option<Slot> {
        let n = self.used as usize;
        let found = match self.slots {
            0 => self.record[..n].iter().position(|&k| k == r),
            _ => self.find(r),
        };
        if let Some(k) = found {
            return Some(2 * k as Slot);
        }
        if n == POOL_RECORDS {
            return None;
        }
        self.record[n] = r;
        self.used += 1;
        match self.slots as usize {
            0 if n < UNINDEXED => {}
            0 => self.reindex(FIRST_INDEX),
            slots if 2 * (n + 1) > slots => self.reindex(2 * slots),
            _ => self.place(n),
        }
        Some(2 * n as Slot)
    }

    /// Where the search for `r` starts in the index.
    fn home(&self, r: Record) -> usize {
        let [a, b] = r.0;
        let bits = self.slots.trailing_zeros();
        ((a ^ b.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
    }

    /// The index of the record holding `r`, by the index.
    fn find(&self, r: Record) -> Option<usize> {
        let mut i = self.home(r);
        loop {
            match self.index[i] as usize {
                0 => return None,
                k if self.record[k - 1] == r => return Some(k - 1),
                _ => i = (i + 1) % self.slots as usize,
            }
        }
    }

    /// Enters record `n` in the index.
    fn place(&mut self, n: usize) {
        let mut i = self.home(self.record[n]);
        while self.index[i] != 0 {
            i = (i + 1) % self.slots as usize;
        }
        self.index[i] = (n + 1) as u16;
    }

    /// Rebuilds the index with `slots` slots.
    fn reindex(&mut self, slots: usize) {
        self.slots = slots as u32;
        self.index[..slots].fill(0);
        for n in 0..self.used as usize {
            self.place(n);
        }
    }

    /// The record in `slot`.
    ///
    /// # Safety
    /// `slot` is one [`Pool::intern`] gave since the pool was last cleared.
    #[inline(always)]
    pub(super) unsafe fn get(&self, slot: Slot) -> &Record {
        // SAFETY: such a slot is twice the index of a record in the array.
        unsafe { &*self.record.as_ptr().cast::<u64>().add(slot as usize).cast() }
    }

    /// The address of the record in `slot` (from [`Pool::intern`]).
    pub(super) fn address(&self, slot: Slot) -> u64 {
        &self.record[slot as usize / 2] as *const Record as u64
    }

    pub(super) fn clear(&mut self) {
        self.index[..self.slots as usize].fill(0);
        (self.used, self.slots) = (0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_keeps_each_record_once() {
        // SAFETY: all zeros is an empty pool.
        let mut pool: Box<Pool> = unsafe { Box::new(core::mem::zeroed()) };
        let a = pool.intern(Record([1, 2])).unwrap();
        let b = pool.intern(Record([2, 1])).unwrap();
        assert_ne!(a, b);
        assert_eq!(pool.intern(Record([1, 2])), Some(a));
        assert_eq!(pool.intern(Record([2, 1])), Some(b));
        // SAFETY: slots from `intern`.
        assert_eq!(unsafe { pool.get(b) }.0, [2, 1]);
        assert_eq!(pool.address(b), unsafe { pool.get(b) } as *const Record
            as u64);
        assert_eq!(pool.used, 2);
        pool.clear();
        assert_eq!(pool.used, 0);
        assert_eq!(pool.intern(Record([2, 1])), Some(a), "the first slot again");

        // Past the first records, through the index as it grows.
        pool.clear();
        let slots: Vec<Slot> = (0..1000u64)
            .map(|i| pool.intern(Record([i, i * 3])).unwrap())
            .collect();
        assert_eq!(pool.slots, 2048, "doubled from 128 while filling");
        for (i, &slot) in (0..1000u64).zip(&slots) {
            assert_eq!(pool.intern(Record([i, i * 3])), Some(slot));
        }
        assert_eq!(pool.used, 1000);
    }
}
