//! Telling leaks from memory still in use, as valgrind does: a
//! conservative scan for pointers into the live blocks.
//!
//! Roots: every readable-writable mapping of the process but glibc
//! malloc's own memory, the library's own, and dead stack ([`roots`]);
//! each stopped thread's registers are in the signal frame on its stack.
//! Blocks are read only when a pointer reaches them, and only their
//! requested bytes. Other threads are stopped meanwhile ([`world`]);
//! [`flood`] does the marking; [`maps`] says what is mapped.
//!
//! The thread that writes the exit dump scans its stack only from the
//! first frame outside libc and the library (the function that called
//! `exit`, or `_start` after `main` returned): the frames below hold stale
//! copies of pointers that would keep dead blocks "reachable".

mod arenas;
mod flood;
mod heap;
pub(crate) mod maps;
mod read;
mod roots;
mod world;

use crate::guard::ThreadState;
use crate::modules;
use leaktrace_format::{Block, Module};
pub use world::{park, signal, stop, World};

/// Direct reads of live blocks (nothing frees them while threads are
/// stopped), and reads of roots through /proc/self/mem, which skip what
/// cannot be read.
struct Direct {
    roots: core::cell::RefCell<read::SelfMemory>,
}

impl flood::Memory for Direct {
    fn words(&self, start: u64, end: u64, mut f: impl FnMut(u64)) {
        let mut a = (start + 7) & !7;
        while a + 8 <= end {
            // SAFETY: `a` is an aligned word of a live heap block, which
            // nothing frees while threads are stopped.
            f(unsafe { (a as *const u64).read_volatile() });
            a += 8;
        }
    }

    fn root_words(&self, start: u64, end: u64, f: impl FnMut(u64)) {
        self.roots.borrow_mut().words(start, end, f)
    }
}

/// Sets the kind of every block and returns, for each, the index of the
/// definite block that owns it (`u32::MAX` if none); `None` (kinds
/// left unknown) if the scan cannot be sound. `own_stack_from`: where the
/// calling thread's live stack starts (`None` for the library's own
/// thread, whose stack holds nothing of the program's); `spare`: the dump
/// thread's descriptor. The blocks end sorted by address.
pub fn classify(
    world: &World,
    blocks: &mut [Block],
    own_stack_from: Option<u64>,
    spare: Option<u64>,
) -> Option<Vec<u32>> {
    blocks.sort_unstable_by_key(|b| b.address);
    if blocks.is_empty() {
        return Some(Vec::new());
    }
    let maps = maps::read();
    let mut mem = read::SelfMemory::open();
    let state_size = core::mem::size_of::<ThreadState>() as u64;
    let mut threads = roots::Threads {
        live: Vec::new(),
        states: Vec::new(),
        spare,
        unknown: world.unknown,
    };
    for t in &world.stopped {
        threads.live.push((t.sp, Some(t.descriptor)));
        threads.states.push((t.state, t.state + state_size));
    }
    threads
        .live
        .extend(world.unstopped_sps.iter().map(|&sp| (sp, None)));
    if let Some(from) = own_stack_from {
        // SAFETY: pthread_self only reads the thread pointer.
        let descriptor = unsafe { libc::pthread_self() } as u64;
        threads.live.push((from, Some(descriptor)));
        let state = crate::guard::with_state(|s| s as *mut ThreadState as u64);
        threads.states.push((state, state + state_size));
    }
    let Some(roots) = roots::roots(
        &threads,
        &maps,
        blocks,
        &mut mem,
        crate::real::next_is_glibc(),
    ) else {
        crate::sys::write_stderr(
            "leaktrace: too many mappings of its own to tell them from the program's; leaks not classified\n",
        );
        return None;
    };
    let heap = heap::Heap::new(blocks);
    let direct = Direct {
        roots: core::cell::RefCell::new(mem),
    };
    let found = flood::classify(&heap, &roots, &direct);
    for (b, k) in blocks.iter_mut().zip(found.kinds) {
        b.kind = k;
    }
    Some(found.owners)
}

/// Whether `m` is glibc's libc.so.
fn is_libc(m: &Module) -> bool {
    m.path
        .rsplit('/')
        .next()
        .is_some_and(|f| f.starts_with("libc.so"))
}

fn contains(m: &Module, addr: u64) -> bool {
    m.segments.iter().any(|s| {
        let start = m.bias.wrapping_add(s.vaddr);
        addr >= start && addr < start + s.memsz
    })
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
        .filter(|m| contains(m, own_code) || is_libc(m))
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
