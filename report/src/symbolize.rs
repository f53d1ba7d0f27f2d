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

/// A progress bar on stderr while symbolizing many addresses, when stderr
/// is a terminal; hidden otherwise (and for small dumps, which are done
/// before it would be seen).
fn progress_bar(total: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if total < 20_000 || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "symbolizing {bar:40} {pos}/{len} addresses ({eta} left)",
    ) {
        bar.set_style(style);
    }
    bar
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

    /// The module whose code holds the call before return address `pc`: a
    /// loaded one first, else the latest dlclose()d one.
    fn module_of(&self, pc: u64) -> Option<usize> {
        let mut found = None;
        for (i, m) in self.modules.iter().enumerate() {
            if m.contains_code(pc.wrapping_sub(1)) {
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
            let opened = open_module(&self.modules[i], &self.debug_roots);
            self.take_warning(&opened);
            self.loaded[i] = Some(opened.info);
        }
        self.loaded[i].as_ref().and_then(Option::as_ref)
    }

    fn take_warning(&mut self, opened: &Opened) {
        if let Some(w) = &opened.warning {
            self.warnings.push(w.clone());
            self.incomplete = true;
        }
    }

    /// Resolves many addresses at once, one module per thread: opening a
    /// module's files and parsing its DWARF is the expensive part, and
    /// modules are independent. Later `frames` calls hit the cache.
    pub fn prefetch(&mut self, pcs: &[u64]) {
        let mut by_module: Vec<Vec<u64>> = vec![Vec::new(); self.modules.len()];
        let mut seen = std::collections::HashSet::new();
        for &pc in pcs {
            if self.cache.contains_key(&pc) || !seen.insert(pc) {
                continue;
            }
            if let Some(i) = self.module_of(pc) {
                if self.loaded[i].is_none() {
                    by_module[i].push(pc);
                }
            }
        }
        let work: Vec<(usize, Vec<u64>)> = by_module
            .into_iter()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        if work.is_empty() {
            return;
        }
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(work.len());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done = std::sync::Mutex::new(Vec::new());
        let (modules, roots) = (&self.modules, &self.debug_roots);
        let total: usize = work.iter().map(|(_, pcs)| pcs.len()).sum();
        let progress = progress_bar(total as u64);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((i, pcs)) = work.get(k) else { break };
                    let module = &modules[*i];
                    let opened = open_module(module, roots);
                    let frames: Vec<(u64, Vec<Frame>)> = pcs
                        .iter()
                        .map(|&pc| {
                            progress.inc(1);
                            (pc, resolve_in(opened.info.as_ref(), module, pc))
                        })
                        .collect();
                    if let Ok(mut d) = done.lock() {
                        d.push((*i, opened, frames));
                    }
                });
            }
        });
        progress.finish_and_clear();
        let mut done = done.into_inner().unwrap_or_default();
        done.sort_by_key(|d| d.0); // warnings in module order
        for (i, opened, frames) in done {
            self.take_warning(&opened);
            self.loaded[i] = Some(opened.info);
            self.cache.extend(frames);
        }
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
        self.load(i);
        let info = self.loaded[i].as_ref().and_then(Option::as_ref);
        resolve_in(info, &self.modules[i], pc)
    }
}

/// A module's files, opened; `warning` says what went wrong, if anything.
struct Opened {
    info: Option<ModuleInfo>,
    warning: Option<String>,
}

/// Opens the binary of `m` (checking its build-id) and its debug file.
fn open_module(m: &Module, roots: &[std::path::PathBuf]) -> Opened {
    let none = |warning: Option<String>| Opened {
        info: None,
        warning,
    };
    if is_pseudo(&m.path) {
        return none(None);
    }
    let path = Path::new(&m.path);
    let (binary, warning) = match ElfFile::open(path) {
        Ok(b) => (Some(b), None),
        Err(e) => (
            None,
            Some(format!(
                "cannot read {}: {e}; its frames are shown as module+offset",
                m.path
            )),
        ),
    };
    if let Some(id) = binary.as_ref().and_then(ElfFile::build_id) {
        if !m.build_id.is_empty() && id != m.build_id {
            return none(Some(format!(
                "{} has build-id {} but the traced program ran build-id {}: it was rebuilt or \
                 replaced since; its frames are shown as module+offset",
                m.path,
                hex(&id),
                hex(&m.build_id)
            )));
        }
    }
    let debug = find_debug_file(path, &m.build_id, binary.as_ref(), roots);
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
        return none(warning);
    }
    Opened {
        info: Some(ModuleInfo { dwarf, symbols }),
        warning,
    }
}

/// The frames of `pc` in module `m`, from what is known of it.
fn resolve_in(info: Option<&ModuleInfo>, m: &Module, pc: u64) -> Vec<Frame> {
    let offset = pc.wrapping_sub(m.bias);
    let base = Frame {
        function: None,
        file: None,
        line: None,
        inlined: false,
        module: m.path.clone(),
        address: pc,
        offset,
    };
    // A return address points after the call: look up the call itself.
    let probe = offset.saturating_sub(1);
    let Some(info) = info else {
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
            frames[outer].function = Some(addr2line::demangle_auto(name.into(), None).into_owned());
        }
    }
    frames
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
