//! Whether another module defines the malloc family ahead of the library:
//! the program itself (rustc's jemalloc, a bump allocator), or a library
//! preloaded before it. The loader then binds the program's calls to that
//! module, they never reach the hooks, and a dump would say "0
//! allocations" with no word why. Found once at start (the constructor):
//! said on stderr in one line, and recorded in every dump (the `ALLOCATOR`
//! record) so that the report says it too.

use crate::lock::SpinLock;
use core::ffi::CStr;
use leaktrace_format::OtherMalloc;

static FOUND: SpinLock<Option<OtherMalloc>> = SpinLock::new(None);

/// The functions whose definition decides where the program's allocations
/// go.
const FAMILY: [&CStr; 4] = [c"malloc", c"free", c"calloc", c"realloc"];

/// Looks the family up as the program's own references are bound (global
/// scope, in load order) and notes a module other than ours that defines
/// any of them. Not from a hook: dlsym and dladdr may allocate, and take
/// the loader's lock.
pub fn detect() {
    let Some(ours) = module_of(detect as *const () as *const libc::c_void) else {
        return;
    };
    let mut found: Option<OtherMalloc> = None;
    for name in FAMILY {
        // SAFETY: dlsym with a valid name in the global scope.
        let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
        if f.is_null() {
            continue;
        }
        let Some(module) = module_of(f) else { continue };
        if module.0 == ours.0 {
            continue;
        }
        let o = found.get_or_insert_with(|| OtherMalloc {
            module: module.1.clone(),
            functions: Vec::new(),
        });
        o.functions.push(name.to_string_lossy().into_owned());
    }
    if let Some(o) = &found {
        crate::sys::write_stderr(&format!("leaktrace: {}\n", o.describe()));
    }
    *FOUND.lock() = found;
}

/// What `detect` found, for the dump.
pub fn found() -> Option<OtherMalloc> {
    FOUND.lock().clone()
}

/// The base address and path of the module holding `addr` (the
/// executable's real path for the program itself, which the loader names
/// "" or after argv[0]).
fn module_of(addr: *const libc::c_void) -> Option<(usize, String)> {
    // SAFETY: dladdr fills `info` for an address of a loaded object.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    if unsafe { libc::dladdr(addr, &mut info) } == 0 {
        return None;
    }
    let name = if info.dli_fname.is_null() {
        String::new()
    } else {
        // SAFETY: dladdr returns a NUL-terminated name.
        unsafe { CStr::from_ptr(info.dli_fname) }
            .to_string_lossy()
            .into_owned()
    };
    // SAFETY: the program headers of the executable are mapped in it.
    let exe_phdr = unsafe { libc::getauxval(libc::AT_PHDR) } as *const libc::c_void;
    // SAFETY: as above, into a second out-parameter.
    let mut exe: libc::Dl_info = unsafe { core::mem::zeroed() };
    let is_exe =
        unsafe { libc::dladdr(exe_phdr, &mut exe) } != 0 && exe.dli_fbase == info.dli_fbase;
    let name = if is_exe || name.is_empty() {
        std::fs::read_link("/proc/self/exe")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or(name)
    } else {
        name
    };
    Some((info.dli_fbase as usize, name))
}
