//! The leaktrace dump format, shared by the preload library (which writes it)
//! and `leakreport` (which reads it).
//!
//! A dump is a 16-byte file header followed by *records*. Each record is a
//! tag, a flags word and a byte length, so a reader can step over records it
//! does not know. New information (block ages, leak kinds, process memory)
//! arrives as new record tags: older readers skip them, and only a change of
//! the *major* version makes an older reader refuse a file, with a message
//! that says which version it needs. A record flagged [`FLAG_REQUIRED`] that
//! a reader does not know is refused too, by name of its tag.
//!
//! The last record is [`tag::END`]; a file without it is reported as
//! truncated, so a dump cut short is never mistaken for a small one.
//!
//! Everything is little-endian. The full layout is in `docs/dump-format.md`.
//!
//! The reader never trusts a length from the file: every count is checked
//! against the bytes that remain before anything is allocated.

mod duration;
mod error;
mod model;
mod read;
mod write;

pub use duration::{parse_duration, DURATION_UNITS};
pub use error::FormatError;
pub use model::{
    Block, Dump, Kind, Memory, Module, OtherMalloc, ProcessInfo, Segment, Stack, Totals, Trigger,
    NO_OWNER,
};
pub use read::parse;
pub use write::{block_bytes, write_dump, Encoder, RecordWriter};

/// The eight bytes every dump starts with.
pub const MAGIC: [u8; 8] = *b"LEAKTRC\0";
/// Readers refuse files of another major version.
pub const VERSION_MAJOR: u16 = 1;
/// Minor versions only add records or fill reserved fields; readers accept
/// any minor version. 1.1: block allocation times, the memory and kinds
/// records. 1.2: the owners record. 1.3: the kinds record also in a
/// classified dump with no live blocks; the allocator record.
pub const VERSION_MINOR: u16 = 3;
/// Size of the file header: magic, major, minor, reserved u32.
pub const HEADER_LEN: usize = 16;
/// Size of a record header: tag u32, flags u32, length u64.
pub const RECORD_HEADER_LEN: usize = 16;
/// Size of one entry of the [`tag::BLOCKS`] record.
pub const BLOCK_ENTRY_LEN: usize = 24;
/// A record with this flag must be understood; readers that do not know its
/// tag refuse the file instead of skipping it.
pub const FLAG_REQUIRED: u32 = 1;

/// Record tags.
pub mod tag {
    /// Process identity and the trigger of the dump.
    pub const PROCESS: u32 = 1;
    /// Allocation counters.
    pub const TOTALS: u32 = 2;
    /// Every object loaded during the run.
    pub const MODULES: u32 = 3;
    /// Interned stacks referenced by the blocks.
    pub const STACKS: u32 = 4;
    /// Live blocks: address, requested size, stack id.
    pub const BLOCKS: u32 = 5;
    /// The dump holds a sample: u64 mean bytes between samples. Required,
    /// so that a reader that cannot scale the figures refuses the file
    /// rather than show samples as totals.
    pub const SAMPLING: u32 = 6;
    /// The process's memory at the dump (since 1.1).
    pub const MEMORY: u32 = 7;
    /// Each block's kind (reachable, definite, ...), one byte per block in
    /// the order of the blocks record (since 1.1). Present exactly when the
    /// blocks were classified; since 1.3 also when there are none.
    pub const KINDS: u32 = 8;
    /// Which lost block owns each indirect block: u64 count, then one u32
    /// per block in the order of the blocks record, the index of the
    /// definite block whose loss loses it, `u32::MAX` for none (since 1.2).
    pub const OWNERS: u32 = 9;
    /// The malloc family is defined ahead of the library, so those calls
    /// were not seen: string module, then u32 count and strings, the
    /// functions it defines (since 1.3).
    pub const ALLOCATOR: u32 = 10;
    /// Last record of a complete file.
    pub const END: u32 = 0xFFFF_FFFF;

    /// A human name for a tag, for error messages.
    pub fn name(tag: u32) -> &'static str {
        match tag {
            PROCESS => "process",
            TOTALS => "totals",
            MODULES => "modules",
            STACKS => "stacks",
            BLOCKS => "blocks",
            SAMPLING => "sampling",
            MEMORY => "memory",
            KINDS => "kinds",
            OWNERS => "owners",
            ALLOCATOR => "allocator",
            END => "end",
            _ => "unknown",
        }
    }
}
