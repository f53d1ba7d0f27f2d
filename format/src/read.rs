//! Reading dumps. Every length and count from the file is checked against
//! the bytes that remain before it is used, so hostile input yields an
//! error, never a panic or a huge allocation.

use crate::error::FormatError;
use crate::model::{
    Block, Dump, Kind, Memory, Module, OtherMalloc, ProcessInfo, Segment, Stack, Totals, Trigger,
    NO_OWNER,
};
use crate::{
    tag, BLOCK_ENTRY_LEN, FLAG_REQUIRED, HEADER_LEN, MAGIC, RECORD_HEADER_LEN, VERSION_MAJOR,
};

/// A bounds-checked little-endian reader over a byte slice.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of `data` in the file, for error messages.
    base: u64,
    /// What is being read, for error messages.
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8], base: u64, what: &'static str) -> Cursor<'a> {
        Cursor {
            data,
            pos: 0,
            base,
            what,
        }
    }

    fn at(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn corrupt(&self, what: String) -> FormatError {
        FormatError::Corrupt {
            at: self.at(),
            what,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end {
            Some(end) => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.corrupt(format!("{} record is shorter than its content", self.what))),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn bytes(&mut self) -> Result<&'a [u8], FormatError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Result<String, FormatError> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }
    /// A count of items of at least `min_item` bytes each, checked against
    /// what remains so that a forged count cannot make us allocate.
    fn count(&mut self, n: u64, min_item: usize) -> Result<usize, FormatError> {
        let remaining = (self.data.len() - self.pos) as u64;
        if n.saturating_mul(min_item as u64) > remaining {
            return Err(self.corrupt(format!(
                "{} claims {n} entries but holds only {remaining} bytes",
                self.what
            )));
        }
        Ok(n as usize)
    }
    fn count32(&mut self, min_item: usize) -> Result<usize, FormatError> {
        let n = self.u32()?;
        self.count(u64::from(n), min_item)
    }
}

/// Parses a whole dump.
pub fn parse(data: &[u8]) -> Result<Dump, FormatError> {
    if data.len() < MAGIC.len() || data[..MAGIC.len()] != MAGIC {
        return Err(if data.len() < MAGIC.len() && MAGIC.starts_with(data) {
            FormatError::Truncated {
                at: data.len() as u64,
                what: "the file header",
            }
        } else {
            FormatError::NotADump
        });
    }
    if data.len() < HEADER_LEN {
        return Err(FormatError::Truncated {
            at: data.len() as u64,
            what: "the file header",
        });
    }
    let major = u16::from_le_bytes([data[8], data[9]]);
    let minor = u16::from_le_bytes([data[10], data[11]]);
    if major != VERSION_MAJOR {
        return Err(FormatError::UnsupportedVersion { major, minor });
    }

    let mut process = None;
    let mut totals = None;
    let mut modules = None;
    let mut stacks = None;
    let mut blocks = None;
    let mut sample_bytes = None;
    let mut memory = None;
    let mut kinds: Option<(&[u8], u64)> = None;
    let mut owners: Option<(&[u8], u64)> = None;
    let mut other_malloc = None;
    let mut records = 0u64;
    let mut pos = HEADER_LEN;
    loop {
        if data.len() - pos < RECORD_HEADER_LEN {
            return Err(FormatError::Truncated {
                at: data.len() as u64,
                what: "a record header (the end record is missing)",
            });
        }
        let h = &data[pos..pos + RECORD_HEADER_LEN];
        let tag = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let flags = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let len = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
        let start = pos + RECORD_HEADER_LEN;
        let available = (data.len() - start) as u64;
        if len > available {
            return Err(FormatError::Truncated {
                at: data.len() as u64,
                what: record_name(tag),
            });
        }
        let payload = &data[start..start + len as usize];
        let mut c = Cursor::new(payload, start as u64, record_name(tag));
        match tag {
            tag::PROCESS => process = Some(read_process(&mut c)?),
            tag::TOTALS => totals = Some(read_totals(&mut c)?),
            tag::MODULES => modules = Some(read_modules(&mut c)?),
            tag::STACKS => stacks = Some(read_stacks(&mut c)?),
            tag::BLOCKS => blocks = Some(read_blocks(&mut c)?),
            tag::SAMPLING => sample_bytes = Some(c.u64()?),
            tag::MEMORY => memory = Some(read_memory(&mut c)?),
            tag::KINDS => {
                let n = c.u64()?;
                let n = c.count(n, 1)?;
                kinds = Some((c.take(n)?, start as u64));
            }
            tag::OWNERS => {
                let n = c.u64()?;
                let n = c.count(n, 4)?;
                owners = Some((c.take(n * 4)?, start as u64));
            }
            tag::ALLOCATOR => {
                let module = c.string()?;
                let n = c.count32(4)?;
                let mut functions = Vec::with_capacity(n);
                for _ in 0..n {
                    functions.push(c.string()?);
                }
                other_malloc = Some(OtherMalloc { module, functions });
            }
            tag::END => {
                let count = c.u64()?;
                if count != records {
                    return Err(c.corrupt(format!(
                        "end record counts {count} records, the file has {records}"
                    )));
                }
                break;
            }
            other if flags & FLAG_REQUIRED != 0 => {
                return Err(FormatError::UnknownRequired { tag: other })
            }
            _ => {}
        }
        records += 1;
        pos = start + len as usize;
    }

    let missing = |what: &str| FormatError::Corrupt {
        at: pos as u64,
        what: format!("the {what} record is missing"),
    };
    let process = process.ok_or_else(|| missing("process"))?;
    let modules = modules.ok_or_else(|| missing("modules"))?;
    let stacks = stacks.ok_or_else(|| missing("stacks"))?;
    let mut blocks = blocks.ok_or_else(|| missing("blocks"))?;
    let classified = kinds.is_some();
    if let Some((bytes, at)) = kinds {
        let corrupt = |what: String| FormatError::Corrupt { at, what };
        if bytes.len() != blocks.len() {
            return Err(corrupt(format!(
                "the kinds record has {} entries for {} blocks",
                bytes.len(),
                blocks.len()
            )));
        }
        for (b, &k) in blocks.iter_mut().zip(bytes) {
            b.kind = Kind::from_u8(k).ok_or_else(|| corrupt(format!("unknown block kind {k}")))?;
        }
    }
    let owners = match owners {
        Some((bytes, at)) => {
            read_owners(bytes, &blocks).map_err(|what| FormatError::Corrupt { at, what })?
        }
        None => Vec::new(),
    };
    Ok(Dump {
        version_minor: minor,
        process,
        totals: totals.unwrap_or_default(),
        modules,
        stacks,
        blocks,
        sample_bytes,
        memory,
        owners,
        classified,
        other_malloc,
    })
}

/// The owners record's entries (`bytes`: 4 per entry), checked against the
/// blocks: an entry that is out of range, names a block that is not
/// definite, or belongs to a block that is not indirect, means no owner.
/// A bad cross-reference loses an attribution, not a figure, so it does not
/// refuse the file; a count other than the blocks' does.
fn read_owners(bytes: &[u8], blocks: &[Block]) -> Result<Vec<u32>, String> {
    let n = bytes.len() / 4;
    if n != blocks.len() {
        return Err(format!(
            "the owners record has {n} entries for {} blocks",
            blocks.len()
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .zip(blocks)
        .map(|(e, b)| {
            let o = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
            let owner_is_definite = blocks
                .get(o as usize)
                .is_some_and(|ob| ob.kind == Kind::Definite);
            if b.kind == Kind::Indirect && owner_is_definite {
                o
            } else {
                NO_OWNER
            }
        })
        .collect())
}

fn read_memory(c: &mut Cursor) -> Result<Memory, FormatError> {
    let flags = c.u32()?;
    let _reserved = c.u32()?;
    Ok(Memory {
        has_process: flags & 1 != 0,
        vss: c.u64()?,
        rss: c.u64()?,
        pss: c.u64()?,
        uss: c.u64()?,
        swap: c.u64()?,
        has_malloc: flags & 2 != 0,
        malloc_arena: c.u64()?,
        malloc_mmapped: c.u64()?,
        malloc_in_use: c.u64()?,
        malloc_free: c.u64()?,
    })
}

fn record_name(tag: u32) -> &'static str {
    match tag {
        tag::PROCESS => "the process record",
        tag::TOTALS => "the totals record",
        tag::MODULES => "the modules record",
        tag::STACKS => "the stacks record",
        tag::BLOCKS => "the blocks record",
        tag::SAMPLING => "the sampling record",
        tag::MEMORY => "the memory record",
        tag::KINDS => "the kinds record",
        tag::OWNERS => "the owners record",
        tag::ALLOCATOR => "the allocator record",
        tag::END => "the end record",
        _ => "a record of a newer format",
    }
}

fn read_process(c: &mut Cursor) -> Result<ProcessInfo, FormatError> {
    let pid = c.u32()?;
    let ppid = c.u32()?;
    let start_ns = c.u64()?;
    let dump_ns = c.u64()?;
    let trigger = Trigger::from_u8(c.u8()?);
    c.u8()?;
    c.u16()?;
    let snapshot = c.u32()?;
    let exe = c.string()?;
    let n = c.count32(4)?;
    let mut cmdline = Vec::with_capacity(n);
    for _ in 0..n {
        cmdline.push(c.string()?);
    }
    Ok(ProcessInfo {
        pid,
        ppid,
        start_ns,
        dump_ns,
        trigger,
        snapshot,
        exe,
        cmdline,
    })
}

fn read_totals(c: &mut Cursor) -> Result<Totals, FormatError> {
    Ok(Totals {
        allocations: c.u64()?,
        frees: c.u64()?,
        bytes_allocated: c.u64()?,
        peak_bytes: c.u64()?,
        peak_blocks: c.u64()?,
    })
}

fn read_modules(c: &mut Cursor) -> Result<Vec<Module>, FormatError> {
    // The smallest entry: empty path and build-id, bias, flags, no segment.
    let n = c.count32(24)?;
    let mut modules = Vec::with_capacity(n);
    for _ in 0..n {
        let path = c.string()?;
        let build_id = c.bytes()?.to_vec();
        let bias = c.u64()?;
        let flags = c.u32()?;
        let nseg = c.count32(24)?;
        let mut segments = Vec::with_capacity(nseg);
        for _ in 0..nseg {
            let vaddr = c.u64()?;
            let memsz = c.u64()?;
            let flags = c.u32()?;
            c.u32()?;
            segments.push(Segment {
                vaddr,
                memsz,
                flags,
            });
        }
        modules.push(Module {
            path,
            build_id,
            bias,
            unloaded: flags & 1 != 0,
            segments,
        });
    }
    Ok(modules)
}

fn read_stacks(c: &mut Cursor) -> Result<Vec<Stack>, FormatError> {
    let n = c.count32(8)?;
    let mut stacks = Vec::with_capacity(n);
    for _ in 0..n {
        let id = c.u32()?;
        let depth = c.count32(8)?;
        let mut pcs = Vec::with_capacity(depth);
        for _ in 0..depth {
            pcs.push(c.u64()?);
        }
        stacks.push(Stack { id, pcs });
    }
    Ok(stacks)
}

fn read_blocks(c: &mut Cursor) -> Result<Vec<Block>, FormatError> {
    let n = c.u64()?;
    let n = c.count(n, BLOCK_ENTRY_LEN)?;
    let mut blocks = Vec::with_capacity(n);
    for _ in 0..n {
        let e = c.take(BLOCK_ENTRY_LEN)?;
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&e[i..i + 8]);
            u64::from_le_bytes(b)
        };
        blocks.push(Block {
            address: word(0),
            size: word(8),
            stack: u32::from_le_bytes([e[16], e[17], e[18], e[19]]),
            allocated_ds: u32::from_le_bytes([e[20], e[21], e[22], e[23]]),
            kind: Kind::Unknown,
        });
    }
    Ok(blocks)
}
