//! Return addresses → frames.
//!
//! Per module, opened lazily once: the binary on disk (checked against the
//! build-id recorded in the dump), its separate debug file if any, an
//! addr2line context over whichever has DWARF, and a symbol table as the
//! fallback. Every unique address is resolved once and cached.

use crate::objects::{find_debug_file, hex, ElfFile};
use addr2line::Context;
use gimli::{EndianSlice, RunTimeEndian};
use leaktrace_format::Module;
use object::{Object, ObjectSymbol, SymbolKind};
use std::collections::HashMap;
use std::path::Path;

type Reader = EndianSlice<'static, RunTimeEndian>;

/// One frame of a symbolized stack. A return address inside inlined code
/// gives several frames: the inlined functions first, then the function
/// they were inlined into (`inlined: false`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub inlined: bool,
    /// Path of the module, or "?" when no module maps the address.
    pub module: String,
    /// The return address in the traced process.
    pub address: u64,
    /// The address in the module's ELF file (address − load bias).
    pub offset: u64,
}

/// Function symbols of one file, sorted by address.
struct SymbolTable {
    entries: Vec<(u64, u64, String)>,
}

impl SymbolTable {
    fn new(elf: &ElfFile) -> SymbolTable {
        let mut entries: Vec<(u64, u64, String)> = elf
            .object
            .symbols()
            .chain(elf.object.dynamic_symbols())
            .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
            .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
            .collect();
        entries.sort_by_key(|e| (e.0, std::cmp::Reverse(e.1)));
        entries.dedup_by_key(|e| e.0);
        SymbolTable { entries }
    }

    fn lookup(&self, addr: u64) -> Option<&str> {
        let i = self
            .entries
            .partition_point(|e| e.0 <= addr)
            .checked_sub(1)?;
        let (start, size, name) = &self.entries[i];
        (*size == 0 || addr < start + size).then_some(name.as_str())
    }
}

/// Everything known about one module's code.
struct ModuleInfo {
    dwarf: Option<Context<Reader>>,
    symbols: Vec<SymbolTable>,
}

/// Modules that exist only in memory.
fn is_pseudo(path: &str) -> bool {
    path.is_empty()
        || path.starts_with("linux-vdso")
        || path.starts_with("linux-gate")
        || path.starts_with('[')
}

pub struct Symbolizer {
    modules: Vec<Module>,
    debug_roots: Vec<std::path::PathBuf>,
    loaded: Vec<Option<Option<ModuleInfo>>>,
    cache: HashMap<u64, Vec<Frame>>,
    /// One line per problem met (missing binary, build-id mismatch).
    pub warnings: Vec<String>,
    /// True when a module whose frames are reported could not be read.
    pub incomplete: bool,
}

impl Symbolizer {
    /// `debug_roots`: where separate debug files are searched.
    pub fn new(modules: &[Module], debug_roots: Vec<std::path::PathBuf>) -> Symbolizer {
        Symbolizer {
            modules: modules.to_vec(),
            debug_roots,
            loaded: modules.iter().map(|_| None).collect(),
            cache: HashMap::new(),
            warnings: Vec::new(),
            incomplete: false,
        }
    }

    /// The module mapping `pc`: a loaded one first, else the latest
    /// dlclose()d one.
    fn module_of(&self, pc: u64) -> Option<usize> {
        let mut found = None;
        for (i, m) in self.modules.iter().enumerate() {
            if m.contains(pc) {
                if !m.unloaded {
                    return Some(i);
                }
                found = Some(i);
            }
        }
        found
    }

    fn load(&mut self, i: usize) -> Option<&ModuleInfo> {
        if self.loaded[i].is_none() {
            let info = self.open(i);
            self.loaded[i] = Some(info);
        }
        self.loaded[i].as_ref().and_then(Option::as_ref)
    }

    fn open(&mut self, i: usize) -> Option<ModuleInfo> {
        let m = &self.modules[i];
        if is_pseudo(&m.path) {
            return None;
        }
        let path = Path::new(&m.path);
        let binary = match ElfFile::open(path) {
            Ok(b) => Some(b),
            Err(e) => {
                self.warnings.push(format!(
                    "cannot read {}: {e}; its frames are shown as module+offset",
                    m.path
                ));
                self.incomplete = true;
                None
            }
        };
        if let Some(b) = &binary {
            if let Some(id) = b.build_id() {
                if !m.build_id.is_empty() && id != m.build_id {
                    self.warnings.push(format!(
                        "{} has build-id {} but the traced program ran build-id {}: it was rebuilt or \
                         replaced since; its frames are shown as module+offset",
                        m.path,
                        hex(&id),
                        hex(&m.build_id)
                    ));
                    self.incomplete = true;
                    return None;
                }
            }
        }
        let debug = find_debug_file(path, &m.build_id, binary.as_ref(), &self.debug_roots);
        let mut symbols = Vec::new();
        let mut dwarf = None;
        for elf in debug.iter().chain(binary.iter()) {
            if dwarf.is_none() && elf.has_dwarf() {
                dwarf = dwarf_context(elf);
            }
            let table = SymbolTable::new(elf);
            if !table.entries.is_empty() {
                symbols.push(table);
            }
        }
        if binary.is_none() && debug.is_none() {
            return None;
        }
        Some(ModuleInfo { dwarf, symbols })
    }

    /// The frames of return address `pc` (several when code was inlined).
    pub fn frames(&mut self, pc: u64) -> &[Frame] {
        if !self.cache.contains_key(&pc) {
            let frames = self.resolve(pc);
            self.cache.insert(pc, frames);
        }
        &self.cache[&pc]
    }

    fn resolve(&mut self, pc: u64) -> Vec<Frame> {
        let Some(i) = self.module_of(pc) else {
            return vec![Frame {
                function: None,
                file: None,
                line: None,
                inlined: false,
                module: "?".into(),
                address: pc,
                offset: pc,
            }];
        };
        let module = self.modules[i].path.clone();
        let offset = pc.wrapping_sub(self.modules[i].bias);
        let base = Frame {
            function: None,
            file: None,
            line: None,
            inlined: false,
            module,
            address: pc,
            offset,
        };
        // A return address points after the call: look up the call itself.
        let probe = offset.saturating_sub(1);
        let Some(info) = self.load(i) else {
            return vec![base];
        };
        let mut frames = Vec::new();
        if let Some(ctx) = &info.dwarf {
            if let Ok(mut iter) = ctx.find_frames(probe).skip_all_loads() {
                while let Ok(Some(f)) = iter.next() {
                    let function = f
                        .function
                        .as_ref()
                        .and_then(|n| n.demangle().ok())
                        .map(|n| n.into_owned());
                    let (file, line) = match f.location {
                        Some(l) => (l.file.map(str::to_string), l.line),
                        None => (None, None),
                    };
                    frames.push(Frame {
                        function,
                        file,
                        line,
                        inlined: true,
                        ..base.clone()
                    });
                }
            }
        }
        if let Some(last) = frames.last_mut() {
            last.inlined = false;
        } else {
            frames.push(base);
        }
        // DWARF without a name (or no DWARF at all): the symbol table.
        let outer = frames.len() - 1;
        if frames[outer].function.is_none() {
            if let Some(name) = info.symbols.iter().find_map(|t| t.lookup(probe)) {
                frames[outer].function =
                    Some(addr2line::demangle_auto(name.into(), None).into_owned());
            }
        }
        frames
    }
}

fn dwarf_context(elf: &ElfFile) -> Option<Context<Reader>> {
    let endian = if elf.object.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let dwarf = gimli::Dwarf::load(|id| -> Result<Reader, ()> {
        Ok(EndianSlice::new(elf.section(id.name()), endian))
    })
    .ok()?;
    Context::from_dwarf(dwarf).ok()
}
