//! Writing dumps. The writer streams: the caller announces each record's
//! length before its payload, so the largest record (the blocks) never has
//! to sit in memory twice.

use crate::model::{Block, Dump, Kind, Memory, Module, OtherMalloc, ProcessInfo, Totals};
use crate::{tag, BLOCK_ENTRY_LEN, FLAG_REQUIRED, MAGIC, VERSION_MAJOR, VERSION_MINOR};
use std::io::{self, Write};

/// Little-endian encoding into a byte buffer.
#[derive(Default)]
pub struct Encoder {
    pub buf: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder::default()
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// A byte string: u32 length, then the bytes.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v);
        self
    }
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    /// The PROCESS record's payload.
    pub fn process(info: &ProcessInfo) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u32(info.pid)
            .u32(info.ppid)
            .u64(info.start_ns)
            .u64(info.dump_ns);
        e.u8(info.trigger.to_u8()).u8(0).u16(0).u32(info.snapshot);
        e.str(&info.exe).u32(info.cmdline.len() as u32);
        for arg in &info.cmdline {
            e.str(arg);
        }
        e.buf
    }

    /// The TOTALS record's payload.
    pub fn totals(t: &Totals) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u64(t.allocations).u64(t.frees).u64(t.bytes_allocated);
        e.u64(t.peak_bytes).u64(t.peak_blocks);
        e.buf
    }

    /// The MODULES record's payload.
    pub fn modules(modules: &[Module]) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u32(modules.len() as u32);
        for m in modules {
            e.str(&m.path).bytes(&m.build_id).u64(m.bias);
            e.u32(u32::from(m.unloaded)).u32(m.segments.len() as u32);
            for s in &m.segments {
                e.u64(s.vaddr).u64(s.memsz).u32(s.flags).u32(0);
            }
        }
        e.buf
    }

    /// The MEMORY record's payload.
    pub fn memory(m: &Memory) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u32(u32::from(m.has_process) | u32::from(m.has_malloc) << 1)
            .u32(0);
        for v in [
            m.vss,
            m.rss,
            m.pss,
            m.uss,
            m.swap,
            m.malloc_arena,
            m.malloc_mmapped,
            m.malloc_in_use,
            m.malloc_free,
        ] {
            e.u64(v);
        }
        e.buf
    }

    /// The OWNERS record's payload: u64 count, then one u32 per block
    /// ([`crate::NO_OWNER`] for none).
    pub fn owners(owners: &[u32]) -> Vec<u8> {
        let mut e = Encoder::new();
        e.buf.reserve(8 + 4 * owners.len());
        e.u64(owners.len() as u64);
        for &o in owners {
            e.u32(o);
        }
        e.buf
    }

    /// The ALLOCATOR record's payload.
    pub fn other_malloc(o: &OtherMalloc) -> Vec<u8> {
        let mut e = Encoder::new();
        e.str(&o.module).u32(o.functions.len() as u32);
        for f in &o.functions {
            e.str(f);
        }
        e.buf
    }

    /// Appends one stack entry of the STACKS record (after its u32 count).
    pub fn stack(&mut self, id: u32, pcs: &[u64]) {
        self.u32(id).u32(pcs.len() as u32);
        for &pc in pcs {
            self.u64(pc);
        }
    }
}

/// One BLOCKS entry, as it is laid out in the file.
pub fn block_bytes(b: &Block) -> [u8; BLOCK_ENTRY_LEN] {
    let mut out = [0u8; BLOCK_ENTRY_LEN];
    out[0..8].copy_from_slice(&b.address.to_le_bytes());
    out[8..16].copy_from_slice(&b.size.to_le_bytes());
    out[16..20].copy_from_slice(&b.stack.to_le_bytes());
    out[20..24].copy_from_slice(&b.allocated_ds.to_le_bytes());
    out
}

/// Writes a dump record by record onto any [`Write`].
pub struct RecordWriter<W: Write> {
    out: W,
    records: u64,
    /// Bytes still owed to the record begun by `begin`.
    pending: u64,
}

impl<W: Write> RecordWriter<W> {
    /// Writes the file header.
    pub fn new(mut out: W) -> io::Result<RecordWriter<W>> {
        let mut header = Vec::with_capacity(crate::HEADER_LEN);
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&VERSION_MAJOR.to_le_bytes());
        header.extend_from_slice(&VERSION_MINOR.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        out.write_all(&header)?;
        Ok(RecordWriter {
            out,
            records: 0,
            pending: 0,
        })
    }

    /// Starts a record of `len` payload bytes, to be written with [`Self::raw`].
    pub fn begin(&mut self, tag: u32, flags: u32, len: u64) -> io::Result<()> {
        if self.pending != 0 {
            return Err(io::Error::other("previous record not complete"));
        }
        let mut h = [0u8; crate::RECORD_HEADER_LEN];
        h[0..4].copy_from_slice(&tag.to_le_bytes());
        h[4..8].copy_from_slice(&flags.to_le_bytes());
        h[8..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&h)?;
        self.records += 1;
        self.pending = len;
        Ok(())
    }

    /// Payload bytes of the current record.
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let n = bytes.len() as u64;
        if n > self.pending {
            return Err(io::Error::other("record payload longer than announced"));
        }
        self.pending -= n;
        self.out.write_all(bytes)
    }

    /// A whole record at once.
    pub fn record(&mut self, tag: u32, flags: u32, payload: &[u8]) -> io::Result<()> {
        self.begin(tag, flags, payload.len() as u64)?;
        self.raw(payload)
    }

    /// Writes the END record and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        let count = self.records;
        self.record(tag::END, FLAG_REQUIRED, &count.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Serializes a whole [`Dump`]; the preload library streams instead, but
/// tests and tools that rewrite dumps use this.
pub fn write_dump<W: Write>(dump: &Dump, out: W) -> io::Result<W> {
    let mut w = RecordWriter::new(out)?;
    w.record(
        tag::PROCESS,
        FLAG_REQUIRED,
        &Encoder::process(&dump.process),
    )?;
    w.record(tag::TOTALS, 0, &Encoder::totals(&dump.totals))?;
    w.record(
        tag::MODULES,
        FLAG_REQUIRED,
        &Encoder::modules(&dump.modules),
    )?;
    if let Some(mean) = dump.sample_bytes {
        w.record(tag::SAMPLING, FLAG_REQUIRED, &mean.to_le_bytes())?;
    }
    if let Some(m) = &dump.memory {
        w.record(tag::MEMORY, 0, &Encoder::memory(m))?;
    }
    if let Some(o) = &dump.other_malloc {
        w.record(tag::ALLOCATOR, 0, &Encoder::other_malloc(o))?;
    }
    let mut e = Encoder::new();
    e.u32(dump.stacks.len() as u32);
    for s in &dump.stacks {
        e.stack(s.id, &s.pcs);
    }
    w.record(tag::STACKS, FLAG_REQUIRED, &e.buf)?;
    let len = 8 + (dump.blocks.len() * BLOCK_ENTRY_LEN) as u64;
    w.begin(tag::BLOCKS, FLAG_REQUIRED, len)?;
    w.raw(&(dump.blocks.len() as u64).to_le_bytes())?;
    for b in &dump.blocks {
        w.raw(&block_bytes(b))?;
    }
    if dump.classified || dump.blocks.iter().any(|b| b.kind != Kind::Unknown) {
        w.begin(tag::KINDS, 0, 8 + dump.blocks.len() as u64)?;
        w.raw(&(dump.blocks.len() as u64).to_le_bytes())?;
        let kinds: Vec<u8> = dump.blocks.iter().map(|b| b.kind.to_u8()).collect();
        w.raw(&kinds)?;
    }
    if !dump.owners.is_empty() {
        w.record(tag::OWNERS, 0, &Encoder::owners(&dump.owners))?;
    }
    w.finish()
}
