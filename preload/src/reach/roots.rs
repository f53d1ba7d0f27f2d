//! Where the scan starts: every readable-writable mapping of the process,
//! as valgrind's leak checker does, so that pointers kept in memory a
//! program maps itself (CPython's object arenas, a JIT, a pool on mmap)
//! hold their blocks; less what holds stale copies of pointers:
//!
//! - glibc malloc's own memory ([`arenas`]): free chunks keep old links
//!   and old contents, and the main arena's state in libc's data points
//!   to chunk headers, which lie inside the blocks before them. Heap blocks are never roots; they are read only
//!   when a pointer reaches them (flood.rs).
//! - the library's own: its module's globals, its mappings
//!   ([`crate::own_maps`]), each thread's leaktrace state, and the stack of
//!   its dump thread.
//! - thread stacks below their stack pointer (dead frames). A stack is
//!   told by the thread descriptor at its top; a stack no live thread owns
//!   is a dead thread's, cached by glibc for the next thread, and is left
//!   out whole, unless some thread could not be stopped and located:
//!   then that thread's stack may be any of them, and all are read whole.
//! - devices and kernel pages (`[vvar]`), which reading may disturb, and
//!   files mapped shared (a database's file, say).
//!
//! Anonymous pages never touched are skipped unread (/proc/self/pagemap).
//!
//! Writable segments of the loaded modules are roots even where RELRO
//! made them read-only since.

use super::arenas;
use super::maps::{self, Mapping, What};
use super::read::SelfMemory;
use super::{contains, is_libc};
use crate::modules;
use crate::own_maps;
use leaktrace_format::Block;

const PAGE: u64 = 4096;

/// The threads as the stop found them.
pub struct Threads {
    /// Stack pointer and, where known, thread descriptor of every live
    /// thread located (stopped, in a system call, or the caller).
    pub live: Vec<(u64, Option<u64>)>,
    /// Each located thread's leaktrace state: `[start, end)`.
    pub states: Vec<(u64, u64)>,
    /// The dump thread's descriptor: its stack is the library's.
    pub spare: Option<u64>,
    /// Threads neither stopped nor located.
    pub unknown: usize,
}

/// The root ranges, sorted and disjoint; `None` when the library's own
/// memory is not known (its registry overflowed), so no scan is sound.
pub fn roots(
    threads: &Threads,
    maps: &[Mapping],
    blocks: &[Block],
    mem: &mut SelfMemory,
    next_is_glibc: bool,
) -> Option<Vec<(u64, u64)>> {
    let own = own_maps::all()?;
    mem.set_files(union(
        maps.iter()
            .filter(|m| m.what == What::File)
            .map(|m| (m.start, m.end))
            .collect(),
    ));
    let own_code = roots as *const () as u64;
    let readable_file = mem.is_open();
    let mut regions: Vec<(u64, u64)> = maps
        .iter()
        .filter(|m| m.readable && m.writable)
        .filter(|m| match m.what {
            What::Anonymous | What::Stack => true,
            // A file shared with others holds no pointers of this
            // process's worth reading (and may be gigabytes of a database).
            What::File => readable_file && !m.shared,
            What::Own | What::Heap | What::Special => false,
        })
        .map(|m| (m.start, m.end))
        .collect();
    // Never roots, however they are mapped.
    let mut cut: Vec<(u64, u64)> = Vec::new();
    let mut libc_data = Vec::new();
    for m in modules::registry().iter().filter(|m| !m.unloaded) {
        let own_module = contains(m, own_code);
        let is_libc = is_libc(m);
        for s in m.segments.iter().filter(|s| s.flags & 2 != 0) {
            let start = m.bias.wrapping_add(s.vaddr);
            let end = start + s.memsz;
            if own_module {
                cut.push((start, end));
            } else {
                let parts = maps::readable_parts(maps, start, end);
                if is_libc {
                    libc_data.extend_from_slice(&parts);
                }
                regions.extend(parts);
            }
        }
    }
    if next_is_glibc {
        cut.extend(arenas::main_arena(&libc_data, mem));
    }

    // Stacks: the live part of each located thread's, none of the dump
    // thread's, none of dead threads'.
    let mut live_stacks = Vec::new();
    let mut stack_blocks = Vec::new();
    for &(sp, descriptor) in &threads.live {
        let Some(m) = maps::containing(maps, sp) else {
            continue;
        };
        let top = match descriptor {
            Some(d) if d >= m.start && d < m.end => stack_top(d).min(m.end),
            _ => m.end,
        };
        stack_blocks.push((m.start, top));
        live_stacks.push((sp, top));
    }
    if let Some(d) = threads.spare {
        if let Some(m) = maps::containing(maps, d) {
            stack_blocks.push((m.start, stack_top(d).min(m.end)));
        }
    }
    if threads.unknown == 0 {
        for (i, m) in maps.iter().enumerate() {
            let guarded = i > 0 && maps[i - 1].end == m.start && !maps[i - 1].readable;
            let known = stack_blocks.iter().any(|&(s, e)| s < m.end && e > m.start);
            if guarded && !known && m.what == What::Anonymous && m.readable && m.writable {
                if let Some(top) = descriptor_top(m, mem) {
                    cut.push((m.start, top));
                }
            }
        }
    }
    cut.extend_from_slice(&stack_blocks);
    cut.extend(arenas::thread_heaps(maps, &own, mem));
    if !next_is_glibc {
        // Another allocator's memory is not known by its shape: leave out
        // every anonymous mapping holding one of its blocks.
        for m in maps.iter().filter(|m| m.what == What::Anonymous) {
            let i = blocks.partition_point(|b| b.address < m.start);
            if blocks.get(i).is_some_and(|b| b.address < m.end) {
                cut.push((m.start, m.end));
            }
        }
    }
    let mut roots = subtract(&union(regions), &union(cut));
    // Blocks are sorted and apart already: cut without a copy of millions.
    roots = subtract_by(&roots, blocks.len(), |i| {
        let b = &blocks[i];
        (b.address, b.address + b.size.max(1))
    });
    roots.extend(live_stacks);
    let mut never = own;
    never.extend_from_slice(&threads.states);
    Some(subtract(&union(roots), &union(never)))
}

/// Where the stack block of the thread whose descriptor is at `d` ends:
/// the descriptor sits at the block's top, within its last page (glibc
/// x86_64, where the thread pointer's block lies above the TLS).
fn stack_top(d: u64) -> u64 {
    (d / PAGE + 1) * PAGE
}

/// If `m` holds a thread descriptor in its last two pages (a word that is
/// its own address, with the same again two words on: `tcb` and `self`
/// of glibc's `tcbhead_t`), the end of that thread's stack block.
fn descriptor_top(m: &Mapping, mem: &mut SelfMemory) -> Option<u64> {
    let from = m.end.saturating_sub(2 * PAGE).max(m.start);
    let mut words = Vec::with_capacity(1024);
    mem.words(from, m.end, |w| words.push(w));
    (0..words.len().saturating_sub(2)).find_map(|i| {
        let at = from + 8 * i as u64;
        (words[i] == at && words[i + 2] == at).then(|| stack_top(at).min(m.end))
    })
}

/// `ranges` sorted, with overlapping and touching ones merged.
pub fn union(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.retain(|&(s, e)| s < e);
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// `ranges` without `holes`; both sorted and disjoint (see [`union`]).
pub fn subtract(ranges: &[(u64, u64)], holes: &[(u64, u64)]) -> Vec<(u64, u64)> {
    subtract_by(ranges, holes.len(), |i| holes[i])
}

/// `ranges` without the `n` holes `hole(0..n)`, sorted and disjoint.
fn subtract_by(
    ranges: &[(u64, u64)],
    n: usize,
    hole: impl Fn(usize) -> (u64, u64),
) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut h = 0;
    for &(start, end) in ranges {
        let mut at = start;
        while h < n && hole(h).1 <= at {
            h += 1;
        }
        let mut k = h;
        while at < end && k < n && hole(k).0 < end {
            if hole(k).0 > at {
                out.push((at, hole(k).0));
            }
            at = at.max(hole(k).1);
            k += 1;
        }
        if at < end {
            out.push((at, end));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_merged_and_cut() {
        assert_eq!(
            union(vec![(5, 9), (0, 2), (2, 3), (8, 12), (20, 20)]),
            vec![(0, 3), (5, 12)]
        );
        assert_eq!(
            subtract(&[(0, 100), (200, 300)], &[(50, 60), (250, 400)]),
            vec![(0, 50), (60, 100), (200, 250)]
        );
        assert_eq!(
            subtract(&[(0, 10), (20, 30), (40, 50)], &[(5, 25), (45, 46)]),
            vec![(0, 5), (25, 30), (40, 45), (46, 50)]
        );
        assert_eq!(subtract(&[(0, 10)], &[(0, 10)]), vec![]);
    }

    #[test]
    fn a_thread_stack_is_told_by_its_descriptor() {
        // This test thread's own stack: its descriptor is in its last page.
        // SAFETY: pthread_self only reads the thread pointer.
        let me = unsafe { libc::pthread_self() } as u64;
        let maps = maps::read();
        let m = maps::containing(&maps, me).unwrap();
        if m.start
            == maps::containing(&maps, &me as *const u64 as u64)
                .unwrap()
                .start
        {
            assert_eq!(
                descriptor_top(m, &mut SelfMemory::open()),
                Some(stack_top(me).min(m.end))
            );
        }
    }
}
