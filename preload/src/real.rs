//! The next allocator in the chain, found with `dlsym(RTLD_NEXT)`.
//!
//! `dlsym` itself may allocate (its error buffer) before the real functions
//! are known; such early requests are served from a small static bump arena
//! ([`Bootstrap`]) whose blocks are never freed or tracked.

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type CallocFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type MemalignFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type PosixMemalignFn = unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> i32;
type UsableSizeFn = unsafe extern "C" fn(*mut c_void) -> usize;

/// `MALLOC` and `REALLOC` are also read by the sampling fast paths in
/// entry.rs.
pub(crate) static MALLOC: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static FREE: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
/// Where the free stub (entry.rs) jumps for a block the filter rules out:
/// the next allocator's free once known, the hook until then.
pub(crate) static FREE_FAST: AtomicPtr<c_void> = AtomicPtr::new(FREE_HOOK);
#[cfg(not(test))]
const FREE_HOOK: *mut c_void = crate::hooks::free as *const () as *mut c_void;
#[cfg(test)] // (unit tests export no allocation functions)
const FREE_HOOK: *mut c_void = core::ptr::null_mut();
static CALLOC: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
pub(crate) static REALLOC: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static MEMALIGN: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static POSIX_MEMALIGN: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static ALIGNED_ALLOC: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static USABLE_SIZE: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

extern "C" {
    // glibc's own entry points, used only if dlsym finds no next allocator.
    fn __libc_malloc(size: usize) -> *mut c_void;
    fn __libc_free(p: *mut c_void);
    fn __libc_calloc(n: usize, size: usize) -> *mut c_void;
    fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void;
    fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
}

pub fn next(name: &core::ffi::CStr) -> *mut c_void {
    // SAFETY: dlsym with a valid NUL-terminated name; RTLD_NEXT finds the
    // definition after this library in the lookup order.
    unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) }
}

/// Looks up every function. Called once, with the thread marked busy.
pub fn resolve() {
    let pick = |slot: &AtomicPtr<c_void>, name: &core::ffi::CStr, fallback: *mut c_void| {
        let f = next(name);
        slot.store(if f.is_null() { fallback } else { f }, Ordering::Release);
    };
    pick(&MALLOC, c"malloc", __libc_malloc as *mut c_void);
    pick(&FREE, c"free", __libc_free as *mut c_void);
    FREE_FAST.store(FREE.load(Ordering::Acquire), Ordering::Release);
    pick(&CALLOC, c"calloc", __libc_calloc as *mut c_void);
    pick(&REALLOC, c"realloc", __libc_realloc as *mut c_void);
    pick(&MEMALIGN, c"memalign", __libc_memalign as *mut c_void);
    pick(&POSIX_MEMALIGN, c"posix_memalign", core::ptr::null_mut());
    pick(&ALIGNED_ALLOC, c"aligned_alloc", core::ptr::null_mut());
    pick(&USABLE_SIZE, c"malloc_usable_size", core::ptr::null_mut());
}

/// Whether the next allocator is glibc's own malloc (not another one
/// preloaded after the library), whose memory the heap scan knows.
pub fn next_is_glibc() -> bool {
    MALLOC.load(Ordering::Acquire) == __libc_malloc as *mut c_void
}

macro_rules! load {
    ($slot:expr, $ty:ty) => {{
        let f = $slot.load(Ordering::Acquire);
        if f.is_null() {
            None
        } else {
            // SAFETY: the slot only ever holds a function of this type,
            // found by dlsym under the matching name.
            Some(unsafe { core::mem::transmute::<*mut c_void, $ty>(f) })
        }
    }};
}

pub unsafe fn malloc(size: usize) -> *mut c_void {
    match load!(MALLOC, MallocFn) {
        Some(f) => f(size),
        None => Bootstrap::alloc(size, 16),
    }
}

pub unsafe fn free(p: *mut c_void) {
    if Bootstrap::owns(p) {
        return;
    }
    if let Some(f) = load!(FREE, FreeFn) {
        f(p)
    }
}

pub unsafe fn calloc(n: usize, size: usize) -> *mut c_void {
    match load!(CALLOC, CallocFn) {
        Some(f) => f(n, size),
        // The arena is zeroed and never reused.
        None => match n.checked_mul(size) {
            Some(total) => Bootstrap::alloc(total, 16),
            None => core::ptr::null_mut(),
        },
    }
}

pub unsafe fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if Bootstrap::owns(p) {
        // Move an early block into the real heap.
        let new = malloc(size);
        if !new.is_null() {
            let old = Bootstrap::size_of(p).min(size);
            core::ptr::copy_nonoverlapping(p.cast::<u8>(), new.cast::<u8>(), old);
        }
        return new;
    }
    match load!(REALLOC, ReallocFn) {
        Some(f) => f(p, size),
        None => Bootstrap::alloc(size, 16),
    }
}

pub unsafe fn memalign(align: usize, size: usize) -> *mut c_void {
    match load!(MEMALIGN, MemalignFn) {
        Some(f) => f(align, size),
        None => Bootstrap::alloc(size, align),
    }
}

pub unsafe fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    match load!(ALIGNED_ALLOC, MemalignFn) {
        Some(f) => f(align, size),
        None => memalign(align, size),
    }
}

pub unsafe fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    match load!(POSIX_MEMALIGN, PosixMemalignFn) {
        Some(f) => f(out, align, size),
        None => {
            let p = memalign(align, size);
            if p.is_null() {
                return libc::ENOMEM;
            }
            *out = p;
            0
        }
    }
}

pub unsafe fn malloc_usable_size(p: *mut c_void) -> usize {
    if Bootstrap::owns(p) {
        return Bootstrap::size_of(p);
    }
    match load!(USABLE_SIZE, UsableSizeFn) {
        Some(f) => f(p),
        None => 0,
    }
}

/// Static arena for allocations made before the real allocator is known.
struct Bootstrap;

const BOOTSTRAP_SIZE: usize = 256 * 1024;

#[repr(C, align(4096))]
struct Arena([u8; BOOTSTRAP_SIZE]);

static mut ARENA: Arena = Arena([0; BOOTSTRAP_SIZE]);
static ARENA_TOP: AtomicUsize = AtomicUsize::new(0);

impl Bootstrap {
    fn base() -> usize {
        core::ptr::addr_of!(ARENA) as usize
    }

    fn owns(p: *mut c_void) -> bool {
        // One unsigned comparison: addresses below the base wrap around.
        (p as usize).wrapping_sub(Self::base()) < BOOTSTRAP_SIZE
    }

    /// Each block is preceded by its size, in a 16-byte header.
    fn alloc(size: usize, align: usize) -> *mut c_void {
        let align = align.max(16);
        let Some(need) = size.checked_add(align + 16) else {
            return core::ptr::null_mut();
        };
        let start = ARENA_TOP.fetch_add(need, Ordering::Relaxed);
        if start.saturating_add(need) > BOOTSTRAP_SIZE {
            return core::ptr::null_mut();
        }
        let base = Self::base();
        let user = (base + start + 16).next_multiple_of(align);
        // SAFETY: `user - 8 .. user + size` lies inside the reserved range
        // `start .. start + need` of the arena, which no one else received.
        unsafe { ((user - 8) as *mut usize).write(size) };
        // Its free must reach `Bootstrap::owns`, not the next allocator:
        // the sampling fast path of free passes over what the filter rules out.
        crate::table::keep_in_filter(user as u64);
        user as *mut c_void
    }

    fn size_of(p: *mut c_void) -> usize {
        // SAFETY: `p` came from `alloc`, which wrote its size just before it.
        unsafe { ((p as usize - 8) as *const usize).read() }
    }
}
