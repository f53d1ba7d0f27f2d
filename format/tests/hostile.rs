//! Hostile input, the stable-toolchain part of the fuzzing (the cargo-fuzz
//! target in fuzz/ runs for longer): many random mutations of a real dump,
//! each parsed under a counting allocator. Whatever the bytes say, the
//! reader allocates at most a small multiple of the file's size.

use leaktrace_format::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the bytes allocated since the last reset (this test binary only).
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts on the way.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new, Ordering::Relaxed);
        System.realloc(ptr, layout, new)
    }
}

#[global_allocator]
static A: Counting = Counting;

fn dump() -> Vec<u8> {
    let stacks: Vec<Stack> = (1..20)
        .map(|id| Stack {
            id,
            pcs: (0..id as u64).map(|i| 0x5555_0000_0000 + i * 16).collect(),
        })
        .collect();
    let blocks: Vec<Block> = (0..200)
        .map(|i| Block {
            address: 0x1000 + i * 64,
            size: i,
            stack: (i % 19) as u32 + 1,
            allocated_ds: i as u32,
            kind: Kind::from_u8((i % 5) as u8).unwrap(),
        })
        .collect();
    let d = Dump {
        version_minor: VERSION_MINOR,
        process: ProcessInfo {
            pid: 1,
            ppid: 0,
            start_ns: 1,
            dump_ns: 2,
            trigger: Trigger::Exit,
            snapshot: 0,
            exe: "/bin/x".into(),
            cmdline: vec!["x".into(), "-v".into()],
        },
        totals: Totals::default(),
        modules: vec![Module {
            path: "/bin/x".into(),
            build_id: vec![1; 20],
            bias: 0x5555_0000_0000,
            unloaded: false,
            segments: vec![Segment {
                vaddr: 0,
                memsz: 0x10000,
                flags: 5,
            }],
        }],
        stacks,
        // Every indirect block owned by the first definite one before it.
        owners: (0..200)
            .map(|i: usize| match i % 5 {
                2 => (i - 1) as u32,
                _ => NO_OWNER,
            })
            .collect(),
        blocks,
        sample_bytes: None,
        memory: Some(Memory::default()),
        classified: true,
        other_malloc: Some(OtherMalloc {
            module: "/bin/x".into(),
            functions: vec!["malloc".into(), "free".into()],
        }),
    };
    write_dump(&d, Vec::new()).unwrap()
}

/// xorshift: deterministic, so a failure repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_mutations_never_panic_or_allocate_much() {
    let original = dump();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..100_000 {
        let mut b = original.clone();
        for _ in 0..1 + rng.below(4) {
            match rng.below(5) {
                // A byte, a little-endian word set to a huge or random value,
                // a cut, an insertion.
                0 => {
                    let i = rng.below(b.len());
                    b[i] = rng.next() as u8;
                }
                1 | 2 => {
                    let i = rng.below(b.len().saturating_sub(8).max(1));
                    let v = if rng.below(2) == 0 {
                        u64::MAX >> rng.below(40)
                    } else {
                        rng.next()
                    };
                    let n = (b.len() - i).min(8);
                    b[i..i + n].copy_from_slice(&v.to_le_bytes()[..n]);
                }
                3 => b.truncate(rng.below(b.len() + 1)),
                _ => {
                    let i = rng.below(b.len() + 1);
                    b.insert(i, rng.next() as u8);
                }
            }
            if b.is_empty() {
                break;
            }
        }
        ALLOCATED.store(0, Ordering::Relaxed);
        let result = std::panic::catch_unwind(|| parse(&b).map(|_| ()));
        let used = ALLOCATED.load(Ordering::Relaxed);
        assert!(result.is_ok(), "round {round}: the reader panicked");
        assert!(
            used <= 64 * b.len() + (1 << 16),
            "round {round}: {used} bytes allocated for a {}-byte file",
            b.len()
        );
    }
}
