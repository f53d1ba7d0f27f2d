//! The content of a dump, as plain owned data.

/// What made the process write the dump.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Trigger {
    /// Normal process end: return from main or exit().
    #[default]
    Exit,
    /// A snapshot requested by a signal.
    Signal,
    /// A periodic snapshot.
    Interval,
    /// Killed by a terminating signal with no handler of its own.
    FatalSignal,
    /// `_exit()` or `_Exit()`.
    ImmediateExit,
    /// A trigger written by a newer writer.
    Other(u8),
}

impl Trigger {
    pub fn to_u8(self) -> u8 {
        match self {
            Trigger::Exit => 1,
            Trigger::Signal => 2,
            Trigger::Interval => 3,
            Trigger::FatalSignal => 4,
            Trigger::ImmediateExit => 5,
            Trigger::Other(n) => n,
        }
    }

    pub fn from_u8(n: u8) -> Trigger {
        match n {
            1 => Trigger::Exit,
            2 => Trigger::Signal,
            3 => Trigger::Interval,
            4 => Trigger::FatalSignal,
            5 => Trigger::ImmediateExit,
            n => Trigger::Other(n),
        }
    }

    /// The name used in reports and JSON.
    pub fn name(self) -> String {
        match self {
            Trigger::Exit => "exit".into(),
            Trigger::Signal => "signal".into(),
            Trigger::Interval => "interval".into(),
            Trigger::FatalSignal => "fatal-signal".into(),
            Trigger::ImmediateExit => "_exit".into(),
            Trigger::Other(n) => format!("unknown-{n}"),
        }
    }
}

/// Who the process was and when the dump was taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    /// Nanoseconds since the Unix epoch when the library loaded.
    pub start_ns: u64,
    /// Nanoseconds since the Unix epoch when the dump was taken.
    pub dump_ns: u64,
    pub trigger: Trigger,
    /// Snapshot number (1, 2, ...); 0 for the final dump.
    pub snapshot: u32,
    pub exe: String,
    pub cmdline: Vec<String>,
}

/// Allocation counters over the whole run, up to the dump.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub allocations: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub peak_bytes: u64,
    pub peak_blocks: u64,
}

/// One loadable segment of a module (a PT_LOAD program header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address in the ELF file (add the module's bias for memory).
    pub vaddr: u64,
    pub memsz: u64,
    /// ELF p_flags: 1 execute, 2 write, 4 read.
    pub flags: u32,
}

/// An object mapped into the process during the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub path: String,
    /// The GNU build-id note, empty when the object has none.
    pub build_id: Vec<u8>,
    /// Load bias: memory address = bias + ELF virtual address.
    pub bias: u64,
    /// True when the object was dlclose()d before the dump.
    pub unloaded: bool,
    pub segments: Vec<Segment>,
}

impl Module {
    /// Whether `pc` lies inside one of this module's segments in memory.
    pub fn contains(&self, pc: u64) -> bool {
        self.segments.iter().any(|s| self.segment_holds(s, pc))
    }

    /// Whether `pc` lies inside one of this module's executable segments
    /// (any segment, for a module whose segment flags are not known): where
    /// a return address can be. Another load of a dlclose()d plugin, a page
    /// further on, has its headers where this one had code.
    pub fn contains_code(&self, pc: u64) -> bool {
        let flags_known = self.segments.iter().any(|s| s.flags & 1 != 0);
        self.segments
            .iter()
            .any(|s| (!flags_known || s.flags & 1 != 0) && self.segment_holds(s, pc))
    }

    fn segment_holds(&self, s: &Segment, pc: u64) -> bool {
        let start = self.bias.wrapping_add(s.vaddr);
        pc >= start && pc - start < s.memsz
    }
}

#[cfg(test)]
mod tests {
    use super::{Module, Segment};

    fn plugin(bias: u64) -> Module {
        Module {
            path: "libplugin.so".into(),
            build_id: Vec::new(),
            bias,
            unloaded: true,
            segments: vec![
                Segment {
                    vaddr: 0,
                    memsz: 0x500,
                    flags: 4,
                },
                Segment {
                    vaddr: 0x1000,
                    memsz: 0x200,
                    flags: 5,
                },
            ],
        }
    }

    #[test]
    fn code_is_told_from_headers() {
        let first = plugin(0x7f00_0000_0000);
        let later = plugin(0x7f00_0000_1000);
        let pc = 0x7f00_0000_113e; // in the first load's code
        assert!(first.contains_code(pc));
        assert!(later.contains(pc) && !later.contains_code(pc));
        let mut unknown = plugin(0x7f00_0000_1000);
        for s in &mut unknown.segments {
            s.flags = 0;
        }
        assert!(unknown.contains_code(pc));
    }
}

/// An interned call stack: return addresses, innermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub id: u32,
    pub pcs: Vec<u64>,
}

/// A live heap block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub address: u64,
    /// The size the program asked for.
    pub size: u64,
    pub stack: u32,
    /// When it was allocated: tenths of a second after the library started
    /// (saturating). Only meaningful when [`Dump::has_block_times`].
    pub allocated_ds: u32,
    /// Whether anything still points to it ([`Kind::Unknown`] unless the
    /// dump was classified).
    pub kind: Kind,
}

/// What a pointer scan found about a block (the `KINDS` record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Not classified (a snapshot, a sampled run, or an older file).
    #[default]
    Unknown,
    /// Nothing points to it: lost.
    Definite,
    /// Pointed to only from lost blocks: lost with them.
    Indirect,
    /// Reached only through pointers into its middle.
    Possible,
    /// Pointed to from a root (globals, stacks, registers, TLS) or from a
    /// reachable block: still in use.
    Reachable,
}

impl Kind {
    pub fn to_u8(self) -> u8 {
        match self {
            Kind::Unknown => 0,
            Kind::Definite => 1,
            Kind::Indirect => 2,
            Kind::Possible => 3,
            Kind::Reachable => 4,
        }
    }

    pub fn from_u8(n: u8) -> Option<Kind> {
        Some(match n {
            0 => Kind::Unknown,
            1 => Kind::Definite,
            2 => Kind::Indirect,
            3 => Kind::Possible,
            4 => Kind::Reachable,
            _ => return None,
        })
    }

    /// The name used in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Unknown => "unclassified",
            Kind::Definite => "definite",
            Kind::Indirect => "indirect",
            Kind::Possible => "possible",
            Kind::Reachable => "reachable",
        }
    }
}

/// The process's memory when the dump was taken, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// From /proc/self/smaps_rollup (or smaps): the figures below are valid.
    pub has_process: bool,
    /// Virtual size (VSS), resident (RSS), proportional (PSS), unique (USS:
    /// private clean + private dirty) and swapped-out bytes.
    pub vss: u64,
    pub rss: u64,
    pub pss: u64,
    pub uss: u64,
    pub swap: u64,
    /// From glibc's mallinfo2: the figures below are valid.
    pub has_malloc: bool,
    /// Bytes glibc's arenas obtained with brk/mmap for small blocks.
    pub malloc_arena: u64,
    /// Bytes in blocks glibc mapped one by one (large allocations).
    pub malloc_mmapped: u64,
    /// Bytes in use in the arenas (not counting `malloc_mmapped`).
    pub malloc_in_use: u64,
    /// Free bytes kept in the arenas.
    pub malloc_free: u64,
}

/// A whole dump. (`Default` is an empty dump, for building dumps in
/// tests: `Dump { blocks, ..Dump::default() }`.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dump {
    pub version_minor: u16,
    pub process: ProcessInfo,
    pub totals: Totals,
    pub modules: Vec<Module>,
    pub stacks: Vec<Stack>,
    pub blocks: Vec<Block>,
    /// `Some(mean)` when only a sample of allocations was recorded: each
    /// allocation of `size` bytes was kept with probability
    /// `1 - exp(-size / mean)` (see [`Dump::weight`]).
    pub sample_bytes: Option<u64>,
    /// The process's memory at the dump (written since 1.1).
    pub memory: Option<Memory>,
    /// The `OWNERS` record (since 1.2), parallel to `blocks`: for each
    /// indirect block, the index in `blocks` of the definite block whose
    /// loss loses it; [`NO_OWNER`] for the others and where it is unknown.
    /// Empty when the dump has no such record. The reader keeps only owners
    /// that are definite blocks named by indirect ones (see [`Dump::owner`]).
    pub owners: Vec<u32>,
    /// Whether the pointer scan classified the blocks: the dump has a
    /// `KINDS` record. Since 1.3 the record is written whenever the scan
    /// ran, also for a dump with no live blocks; an older dump without
    /// blocks says nothing either way (false).
    pub classified: bool,
    /// The malloc family was defined ahead of the library (the program's
    /// own allocator, or one preloaded before it): the calls that went
    /// there were not seen (the `ALLOCATOR` record, since 1.3).
    pub other_malloc: Option<OtherMalloc>,
}

/// Allocation functions another module defines ahead of the library, so
/// that the program's calls to them never reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtherMalloc {
    /// The module that defines them (the first one found).
    pub module: String,
    /// Which of malloc, free, calloc and realloc it defines.
    pub functions: Vec<String>,
}

impl OtherMalloc {
    /// One line saying so, for the library's start and for reports.
    pub fn describe(&self) -> String {
        format!(
            "{} defines {} ahead of libleaktrace.so: the allocations made through {} are not traced",
            self.module,
            self.functions.join(", "),
            if self.functions.len() == 1 { "it" } else { "them" }
        )
    }
}

/// An entry of [`Dump::owners`] that names no block.
pub const NO_OWNER: u32 = u32::MAX;

impl Dump {
    /// Whether the blocks carry allocation times (files of 1.1 and later).
    pub fn has_block_times(&self) -> bool {
        self.version_minor >= 1
    }

    /// The index of the definite block that owns block `i` (an indirect
    /// block), if the dump says.
    pub fn owner(&self, i: usize) -> Option<usize> {
        match self.owners.get(i) {
            Some(&o) if o != NO_OWNER => Some(o as usize),
            _ => None,
        }
    }

    /// How many blocks of `size` bytes one recorded block stands for: 1 for
    /// a full recording, `1 / p(size)` for a sampled one.
    pub fn weight(&self, size: u64) -> f64 {
        match self.sample_bytes {
            Some(mean) if mean > 0 && size > 0 => {
                let p = -(-(size as f64) / mean as f64).exp_m1();
                if p > 0.0 {
                    1.0 / p
                } else {
                    1.0
                }
            }
            _ => 1.0,
        }
    }
}
