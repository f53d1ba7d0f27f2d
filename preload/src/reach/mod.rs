//! Telling leaks from memory still in use, as LeakSanitizer does: a
//! conservative scan for pointers into the live blocks.
//!
//! Roots: the writable segments of every loaded module (data, bss, GOT),
//! and each thread's live stack with its registers and its static TLS and
//! thread descriptor (which holds pthread keys; dynamic TLS and the second
//! level of keys are heap blocks reached from there). The library's own
//! memory is never a root: its module, its mappings and each thread's
//! leaktrace state are left out. Other threads are stopped meanwhile
//! ([`world`]); [`flood`] does the marking; [`maps`] says what is readable.
//!
//! The thread that writes the exit dump scans its stack only from the
//! first frame outside libc and the library (the function that called
//! `exit`, or `_start` after `main` returned): the frames below hold stale
//! copies of pointers that would keep dead blocks "reachable".

mod flood;
mod heap;
pub(crate) mod maps;
mod world;

use crate::guard::ThreadState;
use crate::modules;
use leaktrace_format::{Block, Kind, Module};
pub use world::{park, signal, stop, World};

/// Direct reads of this process's memory (all ranges are mapped: roots are
/// checked against /proc/self/maps, blocks are live while threads stop).
struct Direct;

impl flood::Memory for Direct {
    fn words(&self, start: u64, end: u64, mut f: impl FnMut(u64)) {
        let mut a = (start + 7) & !7;
        while a + 8 <= end {
            // SAFETY: `a` is an aligned word of a readable mapping or of a
            // live heap block, which nothing frees while threads are stopped.
            f(unsafe { (a as *const u64).read_volatile() });
            a += 8;
        }
    }
}

/// Sets the kind of every block. `own_stack_from`: where the calling
/// thread's live stack starts (`None` for the library's own thread, whose
/// stack holds nothing of the program's). The blocks end sorted by
/// address.
pub fn classify(world: &World, blocks: &mut [Block], own_stack_from: Option<u64>) {
    blocks.sort_unstable_by_key(|b| b.address);
    let heap = heap::Heap::new(blocks);
    let maps = maps::read();
    let roots = roots(world, &maps, own_stack_from, &heap.span());
    let kinds = flood::classify(&heap, &roots, &Direct);
    for (b, k) in blocks.iter_mut().zip(kinds) {
        b.kind = k;
    }
}

fn roots(
    world: &World,
    maps: &[maps::Mapping],
    own_stack_from: Option<u64>,
    heap: &(u64, u64),
) -> Vec<(u64, u64)> {
    let own_code = roots as *const () as u64;
    let mut ranges = Vec::new();
    for m in modules::registry().iter().filter(|m| !m.unloaded) {
        if contains(m, own_code) {
            continue; // the library's own globals
        }
        for s in m.segments.iter().filter(|s| s.flags & 2 != 0) {
            let start = m.bias.wrapping_add(s.vaddr);
            ranges.extend(maps::readable_parts(maps, start, start + s.memsz));
        }
    }
    let mut states = Vec::new();
    let thread = |sp: u64, descriptor: Option<u64>, ranges: &mut Vec<(u64, u64)>| {
        let Some(stack) = maps::containing(maps, sp) else {
            return;
        };
        ranges.push((sp, stack.end));
        // The main thread's descriptor and static TLS lie outside its stack.
        if let Some(m) = descriptor.and_then(|d| maps::containing(maps, d)) {
            if m.start != stack.start && m.readable && m.writable {
                let d = descriptor.unwrap_or(0);
                // Never a whole heap region as a root.
                let (lo, hi) = if m.start < heap.1 && m.end > heap.0 {
                    (
                        m.start.max(d.saturating_sub(256 << 10)),
                        m.end.min(d + (8 << 10)),
                    )
                } else {
                    (m.start, m.end)
                };
                ranges.push((lo, hi));
            }
        }
    };
    for t in &world.stopped {
        thread(t.sp, Some(t.descriptor), &mut ranges);
        states.push(t.state);
    }
    for &sp in &world.unstopped_sps {
        thread(sp, None, &mut ranges);
    }
    if let Some(from) = own_stack_from {
        // SAFETY: pthread_self only reads the thread pointer.
        let descriptor = unsafe { libc::pthread_self() } as u64;
        thread(from, Some(descriptor), &mut ranges);
        states.push(crate::guard::with_state(|s| s as *mut ThreadState as u64));
    }
    let size = core::mem::size_of::<ThreadState>() as u64;
    let holes: Vec<(u64, u64)> = states.iter().map(|&s| (s, s + size)).collect();
    subtract(ranges, &holes)
}

fn contains(m: &Module, addr: u64) -> bool {
    m.segments.iter().any(|s| {
        let start = m.bias.wrapping_add(s.vaddr);
        addr >= start && addr < start + s.memsz
    })
}

/// `ranges` without the `holes`.
fn subtract(ranges: Vec<(u64, u64)>, holes: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for (start, end) in ranges {
        let mut pieces = vec![(start, end)];
        for &(hs, he) in holes {
            pieces = pieces
                .into_iter()
                .flat_map(|(s, e)| {
                    if he <= s || hs >= e {
                        vec![(s, e)]
                    } else {
                        [(s, hs), (he, e)]
                            .into_iter()
                            .filter(|(a, b)| a < b)
                            .collect()
                    }
                })
                .collect();
        }
        out.extend(pieces);
    }
    out
}

/// Where the calling thread's live stack starts, seen from `caller` (the
/// frame that called into the library): the first frame outside libc and
/// the library. Frames in between are exit's and ours.
pub fn live_stack_start(state: &mut ThreadState, caller: crate::unwind::Caller) -> u64 {
    crate::unwind::capture_walked(state, crate::unwind::REMEMBERED, caller);
    let (pcs, sps) = crate::unwind::last_capture(state);
    let registry = modules::registry();
    let own_code = live_stack_start as *const () as u64;
    let runtime: Vec<&Module> = registry
        .iter()
        .filter(|m| {
            contains(m, own_code)
                || m.path
                    .rsplit('/')
                    .next()
                    .is_some_and(|f| f.starts_with("libc.so"))
        })
        .collect();
    for (i, &pc) in pcs.iter().enumerate() {
        if !runtime.iter().any(|m| contains(m, pc)) {
            return sps[i];
        }
    }
    caller.sp
}

/// Whether the kinds are worth computing for this dump: never for a
/// sampled run, whose unrecorded blocks would break every chain of
/// pointers through them.
pub fn wanted() -> bool {
    crate::config::sample_bytes() == 0
}

/// Whether any block was classified (the kinds record is written then).
pub fn kinds_known(blocks: &[Block]) -> bool {
    blocks.iter().any(|b| b.kind != Kind::Unknown)
}

#[cfg(test)]
mod tests {
    #[test]
    fn holes_are_cut_out() {
        assert_eq!(
            super::subtract(vec![(0, 100), (200, 300)], &[(50, 60), (250, 400)]),
            vec![(0, 50), (60, 100), (200, 250)]
        );
    }
}
