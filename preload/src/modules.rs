//! The objects loaded into the process.
//!
//! Two views, rebuilt together from `dl_iterate_phdr`:
//! - the *code ranges* the unwinder searches on every cache miss: executable
//!   segments with the location of their `.eh_frame_hdr` and `.eh_frame`,
//!   published as an immutable sorted list behind an atomic pointer, so
//!   lookups take no lock;
//! - the *registry* written into dumps: every object seen during the run,
//!   kept after it is dlclose()d (marked unloaded) so that its frames can
//!   still be symbolized.
//!
//! `dl_iterate_phdr` takes the loader's lock, so it is never called while the
//! library holds a lock of its own: a thread inside `dlopen` may be calling
//! malloc at that moment.

use crate::lock::SpinLock;
use crate::sys;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use gimli::{BaseAddresses, EhFrameHdr, NativeEndian, Pointer};
use leaktrace_format::{Module, Segment};

/// An executable segment and where its unwind tables are.
pub struct CodeRange {
    pub start: u64,
    pub end: u64,
    /// `.eh_frame_hdr` in memory (0 when the module has none).
    pub eh_frame_hdr: u64,
    pub eh_frame_hdr_len: u64,
    /// `.eh_frame` in memory, bounded by the end of its segment.
    pub eh_frame: u64,
    pub eh_frame_end: u64,
}

static RANGES: AtomicPtr<Vec<CodeRange>> = AtomicPtr::new(core::ptr::null_mut());
static REGISTRY: SpinLock<Vec<Module>> = SpinLock::new(Vec::new());
/// Serializes refreshes; held only around our own bookkeeping.
static REFRESHING: SpinLock<()> = SpinLock::new(());
/// Set by dlclose: the next lookup must rebuild the ranges.
static DIRTY: AtomicBool = AtomicBool::new(false);
static LAST_REFRESH_NS: AtomicU64 = AtomicU64::new(0);
static EXE_PATH: SpinLock<String> = SpinLock::new(String::new());

/// Unknown PCs (JIT code, say) may trigger a rescan at most this often.
const RESCAN_INTERVAL_NS: u64 = 10_000_000;

/// Remembers the executable's path; the loader reports it as "".
pub fn init() {
    if let Ok(p) = std::fs::read_link("/proc/self/exe") {
        *EXE_PATH.lock() = p.to_string_lossy().into_owned();
    }
    // SAFETY: dlsym with a valid name; a null result means "not available".
    let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"_dl_find_object".as_ptr()) };
    FIND_OBJECT.store(f, Ordering::Relaxed);
    refresh();
}

/// The executable's path, as read at start (an image keeps its path).
pub fn exe_path() -> String {
    EXE_PATH.lock().clone()
}

/// The code range holding `pc`, if any module maps it.
#[inline]
pub fn find(pc: u64) -> Option<&'static CodeRange> {
    let list = RANGES.load(Ordering::Acquire);
    if list.is_null() {
        return None;
    }
    // SAFETY: published lists are never freed (see `refresh`).
    let list: &'static Vec<CodeRange> = unsafe { &*list };
    let i = list.partition_point(|r| r.start <= pc);
    let r = list.get(i.checked_sub(1)?)?;
    (pc < r.end).then_some(r)
}

/// Called when a PC is in no known module. Asks the loader whether some
/// object maps it (a dlopen since the last scan) and rescans if so. Without
/// `_dl_find_object` (glibc < 2.35) rescans at most every 10 ms instead.
/// Returns true when the ranges were rebuilt.
pub fn on_unknown_pc(pc: u64) -> bool {
    if DIRTY.load(Ordering::Relaxed) {
        return refresh();
    }
    match loader_knows(pc) {
        Some(true) => refresh(),
        Some(false) => false,
        None => {
            let now = sys::monotonic_ns();
            if now.saturating_sub(LAST_REFRESH_NS.load(Ordering::Relaxed)) < RESCAN_INTERVAL_NS {
                return false;
            }
            refresh()
        }
    }
}

/// glibc's `struct dl_find_object` (x86_64 layout).
#[repr(C)]
struct DlFindObject {
    flags: u64,
    map_start: *mut libc::c_void,
    map_end: *mut libc::c_void,
    link_map: *mut libc::c_void,
    eh_frame: *mut libc::c_void,
    reserved: [u64; 7],
}

type FindObjectFn = unsafe extern "C" fn(*mut libc::c_void, *mut DlFindObject) -> i32;
static FIND_OBJECT: AtomicPtr<libc::c_void> = AtomicPtr::new(core::ptr::null_mut());

/// Whether the loader maps `pc` (`None`: cannot tell). `_dl_find_object`
/// takes no lock and does not allocate.
fn loader_knows(pc: u64) -> Option<bool> {
    let f = FIND_OBJECT.load(Ordering::Relaxed);
    if f.is_null() {
        return None;
    }
    // SAFETY: the pointer was found by dlsym under this name, whose
    // signature glibc documents; `out` is a valid out-parameter.
    unsafe {
        let f = core::mem::transmute::<*mut libc::c_void, FindObjectFn>(f);
        let mut out: DlFindObject = core::mem::zeroed();
        Some(f(pc as *mut libc::c_void, &mut out) == 0)
    }
}

/// dlclose() happened: addresses may now belong to another object.
pub fn mark_dirty() {
    DIRTY.store(true, Ordering::Release);
}

/// True when dlclose() ran since the last scan.
#[inline]
pub fn is_dirty() -> bool {
    DIRTY.load(Ordering::Relaxed)
}

/// Every module seen during the run, for the dump.
pub fn registry() -> Vec<Module> {
    REGISTRY.lock().clone()
}

/// What one `dl_iterate_phdr` entry told us.
struct Found {
    module: Module,
    ranges: Vec<CodeRange>,
}

/// Rescans the loaded objects. Returns true when it ran.
pub fn refresh() -> bool {
    let Some(_only_one) = REFRESHING.try_lock() else {
        return false;
    };
    LAST_REFRESH_NS.store(sys::monotonic_ns(), Ordering::Relaxed);
    let was_dirty = DIRTY.swap(false, Ordering::AcqRel);
    let exe = EXE_PATH.lock().clone();
    let mut found: Vec<Found> = Vec::new();
    let mut ctx = (&mut found, exe.as_str());
    // SAFETY: the callback only reads the headers the loader hands it and
    // writes into `ctx`, which outlives the call.
    unsafe {
        libc::dl_iterate_phdr(
            Some(on_object),
            (&mut ctx as *mut (&mut Vec<Found>, &str)).cast(),
        )
    };

    let mut ranges: Vec<CodeRange> = Vec::new();
    let mut added = false;
    {
        let mut registry = REGISTRY.lock();
        for m in registry.iter_mut() {
            m.unloaded = true;
        }
        for f in found {
            ranges.extend(f.ranges);
            match registry
                .iter_mut()
                .find(|m| m.bias == f.module.bias && m.path == f.module.path)
            {
                Some(m) => m.unloaded = false,
                None => {
                    registry.push(f.module);
                    added = true;
                }
            }
        }
    }
    ranges.sort_by_key(|r| r.start);
    // The old list is leaked on purpose: another thread may be reading it,
    // and scans are rare (startup, dlopen, dlclose).
    let list = Box::into_raw(Box::new(ranges));
    RANGES.store(list, Ordering::Release);
    if was_dirty {
        crate::unwind::clear_cache();
    } else if added {
        // A return address no module held was stepped by the frame-pointer
        // fallback; it may now have CFI. Remembered and cached stacks that
        // went through it must be walked again (cached rules still hold).
        crate::unwind::rules_changed();
    }
    true
}

/// `dl_iterate_phdr` callback: records one object.
unsafe extern "C" fn on_object(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut libc::c_void,
) -> i32 {
    // SAFETY: `data` is the context passed by `refresh`; `info` is valid for
    // the duration of the callback.
    let (found, exe) = &mut *(data.cast::<(&mut Vec<Found>, &str)>());
    let info = &*info;
    let bias = info.dlpi_addr;
    let name = if info.dlpi_name.is_null() {
        String::new()
    } else {
        core::ffi::CStr::from_ptr(info.dlpi_name)
            .to_string_lossy()
            .into_owned()
    };
    let path = if name.is_empty() {
        exe.to_string()
    } else {
        name
    };
    let phdrs: &[libc::Elf64_Phdr] = if info.dlpi_phdr.is_null() {
        &[]
    } else {
        core::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum))
    };

    let mut segments = Vec::new();
    let mut build_id = Vec::new();
    let mut eh_hdr = (0u64, 0u64);
    for ph in phdrs {
        match ph.p_type {
            libc::PT_LOAD => segments.push(Segment {
                vaddr: ph.p_vaddr,
                memsz: ph.p_memsz,
                flags: ph.p_flags,
            }),
            libc::PT_NOTE if build_id.is_empty() => {
                build_id = read_build_id(bias + ph.p_vaddr, ph.p_memsz);
            }
            libc::PT_GNU_EH_FRAME => eh_hdr = (bias + ph.p_vaddr, ph.p_memsz),
            _ => {}
        }
    }
    let segment_end = |addr: u64| {
        segments.iter().find_map(|s| {
            let start = bias + s.vaddr;
            (addr >= start && addr < start + s.memsz).then_some(start + s.memsz)
        })
    };
    let (eh_frame, eh_frame_end) = match eh_frame_of(eh_hdr.0, eh_hdr.1) {
        Some(f) => (f, segment_end(f).unwrap_or(f)),
        None => (0, 0),
    };
    let ranges = segments
        .iter()
        .filter(|s| s.flags & libc::PF_X != 0)
        .map(|s| CodeRange {
            start: bias + s.vaddr,
            end: bias + s.vaddr + s.memsz,
            eh_frame_hdr: eh_hdr.0,
            eh_frame_hdr_len: eh_hdr.1,
            eh_frame,
            eh_frame_end,
        })
        .collect();
    found.push(Found {
        module: Module {
            path,
            build_id,
            bias,
            unloaded: false,
            segments,
        },
        ranges,
    });
    0
}

/// Reads the start of `.eh_frame` from the `.eh_frame_hdr` at `addr`.
fn eh_frame_of(addr: u64, len: u64) -> Option<u64> {
    if addr == 0 || len < 4 {
        return None;
    }
    // SAFETY: PT_GNU_EH_FRAME lies inside a loaded segment of a module that
    // the loader keeps mapped while its callback runs.
    let bytes = unsafe { core::slice::from_raw_parts(addr as *const u8, len as usize) };
    let bases = BaseAddresses::default().set_eh_frame_hdr(addr);
    let parsed = EhFrameHdr::new(bytes, NativeEndian).parse(&bases, 8).ok()?;
    match parsed.eh_frame_ptr() {
        Pointer::Direct(p) => Some(p),
        // SAFETY: an indirect pointer points at a word of the same module.
        Pointer::Indirect(p) => Some(unsafe { (p as *const u64).read_unaligned() }),
    }
}

/// Finds the NT_GNU_BUILD_ID note in a PT_NOTE segment in memory.
fn read_build_id(addr: u64, len: u64) -> Vec<u8> {
    // SAFETY: PT_NOTE lies inside a loaded segment, mapped during the callback.
    let notes = unsafe { core::slice::from_raw_parts(addr as *const u8, len as usize) };
    let mut pos = 0usize;
    let word = |at: usize| -> Option<usize> {
        let b = notes.get(at..at + 4)?;
        Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    while let (Some(namesz), Some(descsz), Some(kind)) = (word(pos), word(pos + 4), word(pos + 8)) {
        let name_at = pos + 12;
        let desc_at = name_at + namesz.next_multiple_of(4);
        let next = desc_at + descsz.next_multiple_of(4);
        if next > notes.len() {
            break;
        }
        if kind == 3 && notes.get(name_at..name_at + namesz) == Some(b"GNU\0") {
            return notes[desc_at..desc_at + descsz].to_vec();
        }
        pos = next;
    }
    Vec::new()
}

/// Takes the module locks (before fork).
pub fn lock_all() {
    REFRESHING.lock_raw();
    REGISTRY.lock_raw();
    EXE_PATH.lock_raw();
}

/// Releases what `lock_all` took.
pub fn unlock_all() {
    EXE_PATH.unlock_raw();
    REGISTRY.unlock_raw();
    REFRESHING.unlock_raw();
}
