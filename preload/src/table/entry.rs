//! A live block as the table keeps it: two words.

/// A live block, packed in two words:
/// - `a`: address >> 3 in the low 45 bits (user-space addresses have 48
///   bits, and every allocator returns 8-aligned blocks), the low 19 bits of
///   the stack id above;
/// - `b`: requested size in the low 34 bits ([`LARGE`] for 16 GiB and more,
///   whose size is kept aside, see large.rs), the allocation time in the
///   next 20 ([`time`]), the high 10 bits of the stack id above (ids have
///   29 bits).
///
/// `a == 0` marks an empty slot (no block lives at address 0).
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Entry {
    pub a: u64,
    pub b: u64,
}

const ADDR_BITS: u32 = 45;
/// The bits of `a` that hold the address.
pub const ADDR_MASK: u64 = (1 << ADDR_BITS) - 1;
const SIZE_BITS: u32 = 34;
const SIZE_MASK: u64 = (1 << SIZE_BITS) - 1;
/// The size field of a block of 16 GiB or more.
pub const LARGE: u64 = SIZE_MASK;
const TIME_BITS: u32 = 20;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;
const STACK_LOW_BITS: u32 = 19;

impl Entry {
    pub const EMPTY: Entry = Entry { a: 0, b: 0 };

    #[inline]
    pub fn new(addr: u64, size: u64, stack: u32, time: u32) -> Entry {
        let stack = u64::from(stack);
        Entry {
            a: key(addr) | ((stack & ((1 << STACK_LOW_BITS) - 1)) << ADDR_BITS),
            b: size.min(LARGE)
                | (u64::from(time::pack(time)) << SIZE_BITS)
                | ((stack >> STACK_LOW_BITS) << (SIZE_BITS + TIME_BITS)),
        }
    }
    #[inline]
    pub fn addr(self) -> u64 {
        (self.a & ADDR_MASK) << 3
    }
    /// The size field: the size, or [`LARGE`].
    #[inline]
    pub fn size_field(self) -> u64 {
        self.b & SIZE_MASK
    }
    #[inline]
    pub fn time(self) -> u32 {
        time::unpack(((self.b >> SIZE_BITS) & TIME_MASK) as u32)
    }
    #[inline]
    pub fn stack(self) -> u32 {
        ((self.a >> ADDR_BITS) | ((self.b >> (SIZE_BITS + TIME_BITS)) << STACK_LOW_BITS)) as u32
    }
}

/// What `a & ADDR_MASK` holds for a block at `addr` (never 0: no block
/// lives below address 8).
#[inline(always)]
pub fn key(addr: u64) -> u64 {
    addr >> 3
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

#[cfg(test)]
mod tests {
    use super::{Entry, LARGE};

    #[test]
    fn entries_pack_every_field() {
        for (addr, size, stack, time) in [
            (0x7fff_ffff_fff8u64, 0u64, 0u32, 0u32),
            (0x5555_0000_1230, LARGE - 1, (1 << 29) - 1, 65_535),
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
