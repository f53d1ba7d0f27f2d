//! Return addresses → frames.
//!
//! Per object, opened lazily once for the whole run ([`ObjectCache`], shared
//! by every dump reported): the binary on disk (checked against the
//! build-id recorded in the dump), its separate debug file if any, an
//! addr2line context over whichever has DWARF, and a symbol table
//! ([`crate::symtab`]) as the fallback. Every unique address of an object
//! is resolved once and cached by its offset in the file, so the same libc
//! code in a thousand processes is looked up once.

use crate::objects::{find_debug_file, hex, ElfFile};
use crate::symtab::SymbolTable;
use addr2line::Context;
use gimli::{EndianSlice, RunTimeEndian};
use leaktrace_format::Module;
use object::Object as _;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

type Reader = EndianSlice<'static, RunTimeEndian>;

/// A name shared by every frame that carries it: frames are copied into
/// every site and every dump of a run, their names only counted.
pub type Text = std::sync::Arc<str>;

/// One frame of a symbolized stack. A return address inside inlined code
/// gives several frames: the inlined functions first, then the function
/// they were inlined into (`inlined: false`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub function: Option<Text>,
    pub file: Option<Text>,
    pub line: Option<u32>,
    pub inlined: bool,
    /// Path of the module, or "?" when no module maps the address.
    pub module: Text,
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

/// Everything known about one object's code.
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

/// One object (a binary or library, named by path and build-id), opened
/// once for the whole run.
struct OpenObject {
    info: Option<ModuleInfo>,
    /// What went wrong opening it, if anything.
    warning: Option<String>,
    /// Whether `warning` was handed out already.
    warned: bool,
    /// Frames by offset in the file, with `address` of the first process
    /// that asked (callers put their own in).
    frames: HashMap<u64, Vec<Frame>>,
}

/// The objects of every dump of a run, each opened and parsed once: a
/// thousand dumps of processes that share libc open libc once, and what is
/// kept grows with the distinct objects and addresses, not with the dumps.
pub struct ObjectCache {
    debug_roots: Vec<PathBuf>,
    index: HashMap<(String, Vec<u8>), usize>,
    objects: Vec<OpenObject>,
}

impl ObjectCache {
    /// `debug_roots`: where separate debug files are searched.
    pub fn new(debug_roots: Vec<PathBuf>) -> ObjectCache {
        ObjectCache {
            debug_roots,
            index: HashMap::new(),
            objects: Vec::new(),
        }
    }

    /// How many distinct objects were opened.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    fn find(&self, m: &Module) -> Option<usize> {
        self.index
            .get(&(m.path.clone(), m.build_id.clone()))
            .copied()
    }

    fn insert(&mut self, m: &Module, opened: Opened) -> usize {
        let n = self.objects.len();
        self.objects.push(OpenObject {
            info: opened.info,
            warning: opened.warning,
            warned: false,
            frames: HashMap::new(),
        });
        self.index.insert((m.path.clone(), m.build_id.clone()), n);
        n
    }
}

/// Symbolizes the addresses of one dump, through the run's [`ObjectCache`].
pub struct Symbolizer<'c> {
    modules: Vec<Module>,
    cache: &'c mut ObjectCache,
    /// This dump's addresses, resolved.
    resolved: HashMap<u64, Vec<Frame>>,
    /// One line per problem met (missing binary, build-id mismatch), each
    /// said once per run.
    pub warnings: Vec<String>,
    /// True when a module whose frames are reported could not be read.
    pub incomplete: bool,
}

impl<'c> Symbolizer<'c> {
    pub fn new(modules: &[Module], cache: &'c mut ObjectCache) -> Symbolizer<'c> {
        Symbolizer {
            modules: modules.to_vec(),
            cache,
            resolved: HashMap::new(),
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

    /// The cache's object for module `i`, opened now if it is new.
    fn object(&mut self, i: usize) -> usize {
        let m = &self.modules[i];
        let n = match self.cache.find(m) {
            Some(n) => n,
            None => {
                let opened = open_module(m, &self.cache.debug_roots);
                self.cache.insert(m, opened)
            }
        };
        self.note_problem(n);
        n
    }

    fn note_problem(&mut self, n: usize) {
        let object = &mut self.cache.objects[n];
        if let Some(w) = &object.warning {
            self.incomplete = true;
            if !object.warned {
                object.warned = true;
                self.warnings.push(w.clone());
            }
        }
    }

    /// Resolves many addresses at once. Objects not yet opened are opened
    /// one per thread: reading an object's files and parsing its DWARF is
    /// the expensive part, and objects are independent. Later `frames`
    /// calls hit the cache.
    pub fn prefetch(&mut self, pcs: &[u64]) {
        let mut new_objects: HashMap<(String, Vec<u8>), (usize, Vec<u64>)> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for &pc in pcs {
            if self.resolved.contains_key(&pc) || !seen.insert(pc) {
                continue;
            }
            if let Some(i) = self.module_of(pc) {
                let m = &self.modules[i];
                if self.cache.find(m).is_none() && !is_pseudo(&m.path) {
                    let key = (m.path.clone(), m.build_id.clone());
                    let (first, pcs) = new_objects.entry(key).or_insert((i, Vec::new()));
                    // The same object loaded again elsewhere (dlclose, then
                    // dlopen) has another bias: `frames` resolves those.
                    if *first == i {
                        pcs.push(pc);
                    }
                }
            }
        }
        let mut work: Vec<(usize, Vec<u64>)> = new_objects.into_values().collect();
        work.sort_by_key(|w| w.0); // warnings in module order
        if work.is_empty() {
            return;
        }
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(work.len());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done = std::sync::Mutex::new(Vec::new());
        let (modules, roots) = (&self.modules, &self.cache.debug_roots);
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
        done.sort_by_key(|d| d.0);
        for (i, opened, frames) in done {
            let n = self.cache.insert(&self.modules[i], opened);
            self.note_problem(n);
            let bias = self.modules[i].bias;
            let object = &mut self.cache.objects[n];
            for (pc, f) in frames {
                object.frames.insert(pc.wrapping_sub(bias), f.clone());
                self.resolved.insert(pc, f);
            }
        }
    }

    /// The frames of return address `pc` (several when code was inlined).
    pub fn frames(&mut self, pc: u64) -> &[Frame] {
        if !self.resolved.contains_key(&pc) {
            let frames = self.resolve(pc);
            self.resolved.insert(pc, frames);
        }
        &self.resolved[&pc]
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
        let n = self.object(i);
        let m = &self.modules[i];
        let offset = pc.wrapping_sub(m.bias);
        let object = &mut self.cache.objects[n];
        if let Some(known) = object.frames.get(&offset) {
            let mut frames = known.clone();
            for f in &mut frames {
                f.address = pc;
            }
            return frames;
        }
        let frames = resolve_in(object.info.as_ref(), m, pc);
        object.frames.insert(offset, frames.clone());
        frames
    }
}

/// A module's files, opened; `warning` says what went wrong, if anything.
struct Opened {
    info: Option<ModuleInfo>,
    warning: Option<String>,
}

/// Opens the binary of `m` (checking its build-id) and its debug file.
fn open_module(m: &Module, roots: &[PathBuf]) -> Opened {
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
        let table = SymbolTable::of(elf);
        if !table.is_empty() {
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
        module: m.path.as_str().into(),
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
                    function: function.map(Text::from),
                    file: file.map(Text::from),
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
            frames[outer].function = Some(addr2line::demangle_auto(name.into(), None).into());
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

#[cfg(test)]
mod tests {
    use super::*;
    use leaktrace_format::Segment;
    use object::ObjectSymbol;

    #[inline(never)]
    fn a_function_to_find() -> u32 {
        std::hint::black_box(7)
    }

    /// Where `a_function_to_find` is in this test binary's file.
    fn vaddr_of_the_function() -> (String, u64) {
        std::hint::black_box(a_function_to_find as fn() -> u32);
        let exe = std::env::current_exe().unwrap();
        let elf = ElfFile::open(&exe).unwrap();
        let vaddr = elf
            .object
            .symbols()
            .find(|s| s.name().is_ok_and(|n| n.contains("a_function_to_find")))
            .expect("the function's symbol")
            .address();
        (exe.to_str().unwrap().to_string(), vaddr)
    }

    /// One object loaded twice in one process (dlclose, then dlopen at
    /// another address): each load's addresses are resolved with its own
    /// bias, whether the object was opened before or not.
    #[test]
    fn an_object_loaded_twice_resolves_with_each_bias() {
        let (path, vaddr) = vaddr_of_the_function();
        let module = |bias: u64, unloaded: bool| Module {
            path: path.clone(),
            build_id: Vec::new(),
            bias,
            unloaded,
            segments: vec![Segment {
                vaddr: vaddr & !0xfff,
                memsz: 0x10000,
                flags: 5,
            }],
        };
        let modules = [module(0x1000_0000, true), module(0x4000_0000, false)];
        let pcs = [0x1000_0000 + vaddr + 1, 0x4000_0000 + vaddr + 1];
        for prefetched in [true, false] {
            let mut cache = ObjectCache::new(Vec::new());
            let mut symbols = Symbolizer::new(&modules, &mut cache);
            if prefetched {
                symbols.prefetch(&pcs);
            }
            for pc in pcs {
                let frames = symbols.frames(pc);
                let outer = frames.last().unwrap();
                assert_eq!(outer.offset, vaddr + 1, "{frames:?}");
                let name = outer.function.as_deref().unwrap_or("");
                assert!(name.contains("a_function_to_find"), "{frames:?}");
            }
            assert_eq!(cache.len(), 1, "one object, opened once");
        }
    }
}
