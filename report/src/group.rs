//! Merging blocks into call sites.
//!
//! `stack`: one site per distinct allocation stack. `function`: one site per
//! innermost frame outside the allocator and the C, C++ and Rust runtimes —
//! so a leak through `strdup`, `operator new`, a `std::string` or a `Vec`
//! lands on the program's function that asked for it.

use crate::symbolize::{Frame, Symbolizer};
use leaktrace_format::{Dump, Kind};
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    Stack,
    Function,
}

/// Weighted sums while grouping.
struct Tally {
    bytes: f64,
    blocks: f64,
    recorded: u64,
    times: Times,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            bytes: 0.0,
            blocks: 0.0,
            recorded: 0,
            times: Times::NONE,
        }
    }
}

/// When a site's blocks were allocated: the earliest and the latest, in
/// tenths of a second after the process started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Times {
    pub first_ds: u32,
    pub last_ds: u32,
}

impl Times {
    const NONE: Times = Times {
        first_ds: u32::MAX,
        last_ds: 0,
    };

    fn add(&mut self, other: Times) {
        self.first_ds = self.first_ds.min(other.first_ds);
        self.last_ds = self.last_ds.max(other.last_ds);
    }
}

/// Leaked memory attributed to one place.
#[derive(Clone, Debug)]
pub struct Site {
    /// Requested bytes (an estimate in a sampled dump).
    pub bytes: u64,
    /// Blocks (an estimate in a sampled dump).
    pub blocks: u64,
    /// Blocks actually recorded (equal to `blocks` unless sampled).
    pub recorded: u64,
    /// Innermost first; with `--group-by function`, the stack of the
    /// site's largest contributor.
    pub frames: Vec<Frame>,
    /// The frame the site is named after (index into `frames`).
    pub key_frame: usize,
    /// When its blocks were allocated, if the dump says.
    pub times: Option<Times>,
    /// What the exit scan found: a stack whose blocks differ in kind gives
    /// one site per kind.
    pub kind: Kind,
    /// For a definite site, when the dump says which lost block owns each
    /// indirect one: the indirect bytes and blocks its blocks own (lost
    /// with them), as valgrind charges a loss record. 0 otherwise.
    pub indirect_bytes: u64,
    pub indirect_blocks: u64,
    /// For an indirect site: the site (index into the same list) that owns
    /// most of its bytes, when the dump says.
    pub owner: Option<usize>,
}

impl Site {
    /// Its own bytes and the indirect bytes it owns: what sites are
    /// ranked by (valgrind's "240 (240 direct, 40,000 indirect) bytes").
    pub fn total_bytes(&self) -> u64 {
        self.bytes.saturating_add(self.indirect_bytes)
    }
}

/// Module file names of the C and C++ runtimes.
const RUNTIME_MODULES: &[&str] = &[
    "libc.so",
    "libstdc++.so",
    "libgcc_s.so",
    "ld-linux",
    "libc++.so",
    "libc++abi.so",
];
/// Function name prefixes of allocator and runtime code.
const RUNTIME_FUNCTIONS: &[&str] = &[
    "operator new",
    "operator delete",
    "malloc",
    "calloc",
    "realloc",
    "reallocarray",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "__libc_",
    "std::",
    "__gnu_cxx::",
    "__cxa_",
    // Rust's allocation path: std, alloc and core, and the allocator shims.
    "alloc::",
    "core::",
    "<alloc::",
    "<core::",
    "<std::",
    "__rust_",
    "__rdl_",
];

/// True for frames of the allocator or the language runtime.
pub fn is_runtime(frame: &Frame) -> bool {
    let file = frame.module.rsplit('/').next().unwrap_or("");
    if RUNTIME_MODULES.iter().any(|m| file.starts_with(m)) {
        return true;
    }
    // Inline functions of the system headers (glibc's getline wrapper).
    if frame
        .file
        .as_deref()
        .is_some_and(|f| f.starts_with("/usr/include/"))
    {
        return true;
    }
    match &frame.function {
        Some(f) => RUNTIME_FUNCTIONS.iter().any(|p| f.starts_with(p)) || is_runtime_trait_impl(f),
        None => false,
    }
}

/// A runtime trait implemented for a runtime or primitive type, such as
/// `<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem`; the
/// program's own impls (`<app::Foo as core::clone::Clone>::clone`) are not.
fn is_runtime_trait_impl(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('<') else {
        return false;
    };
    let Some((self_type, tail)) = rest.split_once(" as ") else {
        return false;
    };
    let runtime_trait = ["alloc::", "core::", "std::"]
        .iter()
        .any(|p| tail.starts_with(p));
    let runtime_type = !self_type.contains("::")
        || ["alloc::", "core::", "std::"]
            .iter()
            .any(|p| self_type.starts_with(p));
    runtime_trait && runtime_type
}

/// Index of the innermost frame of the program's own code.
pub fn key_frame(frames: &[Frame]) -> usize {
    frames.iter().position(|f| !is_runtime(f)).unwrap_or(0)
}

/// A name for grouping by function.
fn function_key(frame: Option<&Frame>) -> String {
    match frame {
        Some(Frame {
            function: Some(f), ..
        }) => f.to_string(),
        Some(f) => format!("{}+{:#x}", f.module, f.offset),
        None => "(no stack)".into(),
    }
}

/// Groups the live blocks of `dump` into sites, biggest first.
pub fn sites(dump: &Dump, symbols: &mut Symbolizer, by: GroupBy) -> Vec<Site> {
    // Bytes and blocks per stack id; in a sampled dump each recorded block
    // stands for `weight` blocks.
    let mut per_id: HashMap<(u32, Kind), Tally> = HashMap::new();
    for b in &dump.blocks {
        let w = dump.weight(b.size);
        let e = per_id.entry((b.stack, b.kind)).or_default();
        e.bytes += b.size as f64 * w;
        e.blocks += w;
        e.recorded += 1;
        e.times.add(Times {
            first_ds: b.allocated_ds,
            last_ds: b.allocated_ds,
        });
    }
    let pcs_of: HashMap<u32, &[u64]> = dump
        .stacks
        .iter()
        .map(|s| (s.id, s.pcs.as_slice()))
        .collect();

    // Identical stacks stored under different ids merge here.
    let mut per_stack: HashMap<(&[u64], Kind), Tally> = HashMap::new();
    for ((id, kind), t) in per_id {
        let pcs = pcs_of.get(&id).copied().unwrap_or(&[]);
        let e = per_stack.entry((pcs, kind)).or_default();
        e.bytes += t.bytes;
        e.blocks += t.blocks;
        e.recorded += t.recorded;
        e.times.add(t.times);
    }
    let all_pcs: Vec<u64> = per_stack
        .keys()
        .flat_map(|(pcs, _)| pcs.iter().copied())
        .collect();
    symbols.prefetch(&all_pcs);
    let stack_sites: Vec<Site> = per_stack
        .into_iter()
        .map(|((pcs, kind), t)| {
            let frames: Vec<Frame> = pcs
                .iter()
                .flat_map(|&pc| symbols.frames(pc).to_vec())
                .collect();
            let key_frame = key_frame(&frames);
            Site {
                bytes: t.bytes.round() as u64,
                blocks: t.blocks.round() as u64,
                recorded: t.recorded,
                frames,
                key_frame,
                times: (dump.has_block_times() && t.recorded > 0).then_some(t.times),
                kind,
                indirect_bytes: 0,
                indirect_blocks: 0,
                owner: None,
            }
        })
        .collect();
    // Stacks that differ only in return addresses on the same source lines
    // (an unrolled loop, say) are one site to a reader.
    let stack_sites = merge_by(stack_sites, |s| site_key(s, GroupBy::Stack));
    let sites = if by == GroupBy::Stack {
        stack_sites
    } else {
        merge_by(stack_sites, |s| site_key(s, GroupBy::Function))
    };
    if (0..dump.blocks.len()).all(|i| dump.owner(i).is_none()) {
        return sites;
    }
    let of_block = site_of_blocks(dump, symbols, &sites, by);
    crate::owners::attach(dump, sites, &of_block)
}

/// The index in `sites` (as [`sites`] built them) of each block's site.
fn site_of_blocks(
    dump: &Dump,
    symbols: &mut Symbolizer,
    sites: &[Site],
    by: GroupBy,
) -> Vec<usize> {
    let index: HashMap<String, usize> = sites
        .iter()
        .enumerate()
        .map(|(i, s)| (site_key(s, by), i))
        .collect();
    let pcs_of: HashMap<u32, &[u64]> = dump
        .stacks
        .iter()
        .map(|s| (s.id, s.pcs.as_slice()))
        .collect();
    let mut of_id: HashMap<(u32, Kind), usize> = HashMap::new();
    dump.blocks
        .iter()
        .map(|b| {
            *of_id.entry((b.stack, b.kind)).or_insert_with(|| {
                let frames: Vec<Frame> = pcs_of
                    .get(&b.stack)
                    .copied()
                    .unwrap_or(&[])
                    .iter()
                    .flat_map(|&pc| symbols.frames(pc).to_vec())
                    .collect();
                let key = key_of(b.kind, &frames, key_frame(&frames), by);
                // Every block's key is one of the sites' (they were made
                // from the same blocks); 0 only guards against a bug.
                index.get(&key).copied().unwrap_or(0)
            })
        })
        .collect()
}

/// What makes two sites one: their kind, and their symbolized frames (by
/// source line where known) or their innermost own function.
pub fn site_key(s: &Site, by: GroupBy) -> String {
    key_of(s.kind, &s.frames, s.key_frame, by)
}

fn key_of(kind: Kind, frames: &[Frame], key_frame: usize, by: GroupBy) -> String {
    format!("{}\0{}", kind.name(), place_key_of(frames, key_frame, by))
}

/// Where a site is, whatever its kind: matches a site across the dumps of
/// one process (growth, `--diff`), classified or not.
pub fn place_key(s: &Site, by: GroupBy) -> String {
    place_key_of(&s.frames, s.key_frame, by)
}

fn place_key_of(frames: &[Frame], key_frame: usize, by: GroupBy) -> String {
    match by {
        GroupBy::Stack => {
            // One string, written in place: every site of every dump is
            // keyed, so this runs for each frame of a run.
            use std::fmt::Write;
            let mut key = String::with_capacity(64 * frames.len());
            for (i, f) in frames.iter().enumerate() {
                if i > 0 {
                    key.push('\n');
                }
                let _ = match &f.function {
                    Some(name) => write!(key, "{name}\0{:?}\0{:?}\0{}", f.file, f.line, f.module),
                    None => write!(key, "{}+{:#x}", f.module, f.offset),
                };
            }
            key
        }
        GroupBy::Function => function_key(frames.get(key_frame)),
    }
}

/// Merges sites with equal keys; each merged site keeps the frames of its
/// largest member. The result is sorted biggest first.
fn merge_by(mut sites: Vec<Site>, key: impl Fn(&Site) -> String) -> Vec<Site> {
    sort(&mut sites);
    // Sites are sorted, so the first member of each key is its largest.
    let mut sites: Vec<Site> = crate::collate::group_in_order(sites, key)
        .into_iter()
        .filter_map(|group| {
            let mut members = group.into_iter();
            let mut m = members.next()?;
            for site in members {
                // Saturating: a dump from elsewhere may claim any size.
                m.bytes = m.bytes.saturating_add(site.bytes);
                m.blocks = m.blocks.saturating_add(site.blocks);
                m.recorded = m.recorded.saturating_add(site.recorded);
                if let (Some(t), Some(other)) = (m.times.as_mut(), site.times) {
                    t.add(other);
                }
            }
            Some(m)
        })
        .collect();
    sort(&mut sites);
    sites
}

fn sort(sites: &mut [Site]) {
    sites.sort_by(rank);
}

/// The order of the report, biggest first: by total bytes (a definite
/// site's own and the indirect ones it owns, as valgrind orders its loss
/// records, which it prints smallest first), then blocks, then kind
/// (definite before the indirect blocks it may own), then address.
pub fn rank(a: &Site, b: &Site) -> std::cmp::Ordering {
    b.total_bytes()
        .cmp(&a.total_bytes())
        .then(b.blocks.cmp(&a.blocks))
        .then(a.kind.cmp(&b.kind))
        .then_with(|| {
            a.frames
                .first()
                .map(|f| f.address)
                .cmp(&b.frames.first().map(|f| f.address))
        })
}
