//! The library's own mappings: every range it maps from the kernel (tables,
//! stacks, unwind caches, its big Rust allocations) is registered here, so
//! that the heap scan, which treats every other writable mapping of the
//! process as a root, never reads the library's own copies of the
//! program's pointers.
//!
//! A fixed array of atomics, no locks and no allocation: it is updated from
//! inside hooks and read with the other threads stopped. The mappings are
//! also named `[anon:leaktrace]` where the kernel supports it (5.17+), so
//! a user reading /proc/PID/smaps sees which memory is the tracker's.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Mappings the registry holds at once.
const CAPACITY: usize = 4096;

/// `[start, end)` of each registered mapping; start 0 marks a free slot.
static STARTS: [AtomicU64; CAPACITY] = [const { AtomicU64::new(0) }; CAPACITY];
static ENDS: [AtomicU64; CAPACITY] = [const { AtomicU64::new(0) }; CAPACITY];
/// Set for good when a mapping could not be registered: the scan then
/// cannot tell the library's memory from the program's.
static OVERFLOWED: AtomicBool = AtomicBool::new(false);

/// Records a mapping the library made.
pub fn add(start: u64, len: u64) {
    name(start, len);
    for (s, e) in STARTS.iter().zip(&ENDS) {
        if s.load(Ordering::Relaxed) == 0
            && s.compare_exchange(0, u64::MAX, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            e.store(start + len, Ordering::Release);
            s.store(start, Ordering::Release);
            return;
        }
    }
    OVERFLOWED.store(true, Ordering::Release);
}

/// Forgets the mapping that starts at `start`.
pub fn remove(start: u64) {
    for s in &STARTS {
        if s.load(Ordering::Acquire) == start {
            s.store(0, Ordering::Release);
            return;
        }
    }
}

/// Every registered mapping, or `None` if some mapping was never
/// registered (the registry was full).
pub fn all() -> Option<Vec<(u64, u64)>> {
    if OVERFLOWED.load(Ordering::Acquire) {
        return None;
    }
    Some(
        STARTS
            .iter()
            .zip(&ENDS)
            .filter_map(|(s, e)| {
                let start = s.load(Ordering::Acquire);
                (start != 0 && start != u64::MAX).then(|| (start, e.load(Ordering::Acquire)))
            })
            .collect(),
    )
}

/// Names the mapping in /proc/PID/maps; silently nothing on kernels
/// without anonymous mapping names (tried once: a failed call per mapping
/// was one system call too many for short-lived processes).
fn name(start: u64, len: u64) {
    const PR_SET_VMA: i32 = 0x5356_4d41;
    const PR_SET_VMA_ANON_NAME: u64 = 0;
    static UNSUPPORTED: AtomicBool = AtomicBool::new(false);
    if UNSUPPORTED.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: prctl on a range of our own mapping with a static
    // NUL-terminated name; the kernel copies the name.
    let r = unsafe {
        libc::prctl(
            PR_SET_VMA,
            PR_SET_VMA_ANON_NAME,
            start,
            len,
            c"leaktrace".as_ptr() as u64,
        )
    };
    if r != 0 && crate::sys::errno() == libc::EINVAL {
        UNSUPPORTED.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn added_and_removed() {
        super::add(0x1000, 0x2000);
        super::add(0x9000, 0x1000);
        let all = super::all().unwrap();
        assert!(all.contains(&(0x1000, 0x3000)) && all.contains(&(0x9000, 0xa000)));
        super::remove(0x1000);
        let all = super::all().unwrap();
        assert!(!all.contains(&(0x1000, 0x3000)) && all.contains(&(0x9000, 0xa000)));
        super::remove(0x9000);
    }
}
