//! glibc malloc's own memory, which is never a root: its free chunks hold
//! stale pointers (list links, old contents) that would keep lost blocks
//! "reachable". The main arena lives in the brk heap (`[heap]` in the
//! maps); every other arena lives in heaps of its own: regions aligned to
//! their maximum size (64 MiB on 64-bit), each starting with a `heap_info`
//! header: the arena's address, the previous heap, and the sizes in use
//! and made writable. The main arena's own state (`main_arena`, in libc's
//! data) points to the top chunk and to free chunks: their headers lie in
//! the last bytes of the blocks before them, so it would make blocks
//! "possibly" reached; it is told by its bins (below).

use super::maps::{Mapping, What};
use super::read::SelfMemory;

/// glibc's `HEAP_MAX_SIZE` on 64-bit (2 × the largest mmap threshold).
const HEAP_MAX: u64 = 64 << 20;
const PAGE: u64 = 4096;

/// The ranges of the thread arenas' heaps found in `maps`, outside the
/// library's own mappings `own` (its 4 GiB reserve for stacks alone held
/// 64 aligned addresses, each a read of /proc/self/pagemap: 0.14 ms of
/// every classified dump where the kernel does not name our mappings).
pub fn thread_heaps(maps: &[Mapping], own: &[(u64, u64)], mem: &mut SelfMemory) -> Vec<(u64, u64)> {
    let mut heaps = Vec::new();
    for m in maps
        .iter()
        .filter(|m| m.readable && m.writable && m.what == What::Anonymous)
    {
        // Mappings merge in the maps listing: look at every aligned
        // address inside, not only at the start.
        let mut at = m.start.div_ceil(HEAP_MAX) * HEAP_MAX;
        while at < m.end {
            if own.iter().any(|&(s, e)| at >= s && at < e) {
                at += HEAP_MAX;
                continue;
            }
            if let Some(len) = heap_at(at, mem) {
                heaps.push((at, (at + len).min(m.end)));
            }
            at += HEAP_MAX;
        }
    }
    heaps
}

/// Size of glibc's `struct malloc_state` on x86_64 (2.26 and later), and
/// where its bins end in it: `bins` starts at 112 and holds 254 pointers.
const ARENA_SIZE: u64 = 2200;
const BINS_END: u64 = 112 + 254 * 8;

/// Where the main arena's state lies among libc's writable `segments`.
/// An empty bin is a pair of list heads pointing to the pair's address
/// less 16 (the bin is read as a chunk whose links are at 16 and 24):
/// most bins are empty, the last ones nearly always, so the last such
/// pair in libc's data ends the bins.
pub fn main_arena(segments: &[(u64, u64)], mem: &mut SelfMemory) -> Option<(u64, u64)> {
    let mut last_empty_bin = None;
    for &(start, end) in segments {
        let start = (start + 7) & !7;
        let mut words = Vec::new();
        mem.words(start, end, |w| words.push(w));
        let at = |i: usize| start + 8 * i as u64;
        let empty = |i: usize| {
            i + 1 < words.len() && words[i] == at(i).wrapping_sub(16) && words[i + 1] == words[i]
        };
        for i in 0..words.len() {
            // Four empty bins in a row: not a chance match.
            if (0..4).all(|k| empty(i + 2 * k)) {
                last_empty_bin = Some(at(i + 6));
            }
        }
    }
    let bins_end = last_empty_bin? + 16;
    Some((bins_end - BINS_END, bins_end - BINS_END + ARENA_SIZE))
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
            let heaps = thread_heaps(&maps, &[], &mut SelfMemory::open());
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

    #[test]
    fn the_main_arena_is_found_in_libc() {
        // The main arena's top chunk pointer is 96 bytes into the state.
        // SAFETY: malloc/free of a block, so the main arena is set up.
        unsafe { libc::free(libc::malloc(10)) };
        crate::modules::refresh();
        let maps = crate::reach::maps::read();
        let libc_data: Vec<(u64, u64)> = crate::modules::registry()
            .iter()
            .filter(|m| m.path.contains("libc.so"))
            .flat_map(|m| {
                m.segments
                    .iter()
                    .filter(|s| s.flags & 2 != 0)
                    .map(|s| (m.bias + s.vaddr, m.bias + s.vaddr + s.memsz))
                    .collect::<Vec<_>>()
            })
            .flat_map(|(s, e)| crate::reach::maps::readable_parts(&maps, s, e))
            .collect();
        let mut mem = SelfMemory::open();
        let (start, end) = main_arena(&libc_data, &mut mem).expect("found");
        assert_eq!(end - start, ARENA_SIZE);
        // Its `next` (a circular list of arenas) points to an arena: itself
        // when this process has no other.
        let next = mem.word(start + BINS_END + 16).unwrap();
        assert!(next != 0 && next.is_multiple_of(8), "{next:#x}");
        let top = mem.word(start + 96).unwrap();
        assert!(maps
            .iter()
            .any(|m| m.what == What::Heap && top >= m.start && top < m.end));
    }
}
