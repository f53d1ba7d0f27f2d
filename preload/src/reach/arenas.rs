//! glibc malloc's own memory, which is never a root: its free chunks hold
//! stale pointers (list links, old contents) that would keep lost blocks
//! "reachable". The main arena lives in the brk heap (`[heap]` in the
//! maps); every other arena lives in heaps of its own: regions aligned to
//! their maximum size (64 MiB on 64-bit), each starting with a `heap_info`
//! header: the arena's address, the previous heap, and the sizes in use
//! and made writable.

use super::maps::{Mapping, What};
use super::read::SelfMemory;

/// glibc's `HEAP_MAX_SIZE` on 64-bit (2 × the largest mmap threshold).
const HEAP_MAX: u64 = 64 << 20;
const PAGE: u64 = 4096;

/// The ranges of the thread arenas' heaps found in `maps`.
pub fn thread_heaps(maps: &[Mapping], mem: &mut SelfMemory) -> Vec<(u64, u64)> {
    let mut heaps = Vec::new();
    for m in maps
        .iter()
        .filter(|m| m.readable && m.writable && m.what == What::Anonymous)
    {
        // Mappings merge in the maps listing: look at every aligned
        // address inside, not only at the start.
        let mut at = m.start.div_ceil(HEAP_MAX) * HEAP_MAX;
        while at < m.end {
            if let Some(len) = heap_at(at, mem) {
                heaps.push((at, (at + len).min(m.end)));
            }
            at += HEAP_MAX;
        }
    }
    heaps
}

/// The writable length of the heap whose `heap_info` is at `at`, if one is.
fn heap_at(at: u64, mem: &mut SelfMemory) -> Option<u64> {
    let arena = mem.word(at)?;
    let prev = mem.word(at + 8)?;
    let size = mem.word(at + 16)?;
    let protected = mem.word(at + 24)?;
    let first_heap = arena > at && arena < at + PAGE && prev == 0;
    let later_heap = prev != 0 && prev % HEAP_MAX == 0 && arena % 8 == 0 && arena != 0;
    let sizes = size > 0
        && size <= HEAP_MAX
        && size % PAGE == 0
        && protected >= size
        && protected <= HEAP_MAX
        && protected % PAGE == 0;
    (sizes && (first_heap || later_heap)).then_some(protected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_arena_is_found() {
        // A thread's first malloc gives it an arena of its own (or the main
        // one, when glibc has made as many as it allows).
        let (p, in_brk, heaps) = std::thread::spawn(|| {
            // SAFETY: plain malloc/free of a small block.
            let p = unsafe { libc::malloc(100) } as u64;
            let maps = crate::reach::maps::read();
            let in_brk = maps
                .iter()
                .any(|m| m.what == What::Heap && p >= m.start && p < m.end);
            let heaps = thread_heaps(&maps, &mut SelfMemory::open());
            // SAFETY: as above.
            unsafe { libc::free(p as *mut libc::c_void) };
            (p, in_brk, heaps)
        })
        .join()
        .unwrap();
        assert!(
            in_brk || heaps.iter().any(|&(s, e)| p >= s && p < e),
            "{p:#x} not in {heaps:x?}"
        );
        // Nothing else is taken for a heap: each starts aligned.
        assert!(heaps.iter().all(|&(s, _)| s % HEAP_MAX == 0));
    }
}
