//! The libc functions the library interposes besides the allocator
//! (`dlclose`, `sigaction`, `signal`, `_exit`), reached with
//! `dlsym(RTLD_NEXT)` on first use and cached.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicPtr, Ordering};

static DLCLOSE: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static SIGACTION: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static SIGNAL: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static EXIT: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// The next definition of `name`, looked up once. Null if there is none.
fn lookup(slot: &AtomicPtr<c_void>, name: &core::ffi::CStr) -> *mut c_void {
    let f = slot.load(Ordering::Acquire);
    if !f.is_null() {
        return f;
    }
    let f = crate::real::next(name);
    slot.store(f, Ordering::Release);
    f
}

/// Looks every function up now, so that signal handlers never call dlsym.
pub fn resolve() {
    lookup(&SIGACTION, c"sigaction");
    lookup(&SIGNAL, c"signal");
    lookup(&EXIT, c"_exit");
}

pub unsafe fn dlclose(handle: *mut c_void) -> c_int {
    let f = lookup(&DLCLOSE, c"dlclose");
    if f.is_null() {
        return -1;
    }
    // SAFETY: dlsym found `dlclose`, which has this type.
    let f: unsafe extern "C" fn(*mut c_void) -> c_int = core::mem::transmute(f);
    f(handle)
}

pub unsafe fn sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    let f = lookup(&SIGACTION, c"sigaction");
    if f.is_null() {
        crate::sys::set_errno(libc::ENOSYS);
        return -1;
    }
    // SAFETY: dlsym found `sigaction`, which has this type.
    let f: unsafe extern "C" fn(c_int, *const libc::sigaction, *mut libc::sigaction) -> c_int =
        core::mem::transmute(f);
    f(sig, act, old)
}

pub unsafe fn signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    let f = lookup(&SIGNAL, c"signal");
    if f.is_null() {
        crate::sys::set_errno(libc::ENOSYS);
        return libc::SIG_ERR;
    }
    // SAFETY: dlsym found `signal`, which has this type.
    let f: unsafe extern "C" fn(c_int, libc::sighandler_t) -> libc::sighandler_t =
        core::mem::transmute(f);
    f(sig, handler)
}

pub unsafe fn exit_now(status: c_int) -> ! {
    let f = lookup(&EXIT, c"_exit");
    if !f.is_null() {
        // SAFETY: dlsym found `_exit`, which has this type.
        let f: unsafe extern "C" fn(c_int) -> ! = core::mem::transmute(f);
        f(status);
    }
    libc::syscall(libc::SYS_exit_group, status);
    // SAFETY: exit_group never returns.
    core::hint::unreachable_unchecked()
}
