//! The malloc family, as the program sees it.
//!
//! The allocation functions and `free` are entered through the stubs of
//! [`entry`](crate::entry), which add where the program called from (`sp`,
//! `bp`); `malloc_usable_size` and `dlclose` are exported from here. Every
//! hook forwards to the next allocator and returns exactly what it
//! returned, with the same errno. Recording happens with the thread's guard
//! held and under `catch_unwind`; errno is saved around it.

use crate::guard::{self, Busy};
use crate::table::Inserted;
use crate::unwind::Caller;
use crate::{config, lifecycle, modules, real, sampler, stacks, stats, sys, table, unwind};
use core::ffi::c_void;

/// Whether an allocation of `size` bytes is to be recorded: always, unless
/// sampling (`LEAKTRACE_SAMPLE`) passes over it. Decided before the
/// allocation, without entering the library, so that an allocation passed
/// over costs a countdown and nothing else. Touches no errno.
#[inline(always)]
fn chosen(size: usize) -> bool {
    let mean = config::sample_bytes();
    mean == 0 || guard::with_state(|state| sampler::take(state, size, mean))
}

/// Records a successful allocation (out of line: the hooks but `malloc`).
#[inline(never)]
fn after_alloc(busy: &mut Busy, p: *mut c_void, size: usize, caller: Caller) {
    record_alloc(busy, p, size, caller);
}

/// Records a successful allocation.
#[inline(always)]
fn record_alloc(busy: &mut Busy, p: *mut c_void, size: usize, caller: Caller) {
    let errno_slot = busy.errno_slot();
    // SAFETY: the thread's own errno.
    let errno = unsafe { *errno_slot };
    // (`move`: the closure holds the values, not pointers to them.)
    let state = busy.state();
    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let depth = config::depth();
        let id = match unwind::recurring(state, depth, caller) {
            Some(id) => id,
            None => captured_id(state, depth, caller),
        };
        let size = size as u64;
        match table::insert(p as u64, size, id, lifecycle::now_ds()) {
            Inserted::New => stats::change(state, size as i64, 1),
            Inserted::Replaced(old) => stats::change(state, size as i64 - old as i64, 0),
            Inserted::OutOfMemory => lifecycle::fail("out of memory for the block table"),
        }
    }));
    if ok.is_err() {
        lifecycle::fail("internal error while recording an allocation");
    }
    // SAFETY: as above.
    unsafe { *errno_slot = errno };
}

/// The stack id of a capture that is not a recurring stack: walked, and
/// interned unless the thread just captured it.
#[inline(never)]
fn captured_id(state: &mut guard::ThreadState, depth: usize, caller: Caller) -> u32 {
    let captured = unwind::capture(state, depth, caller);
    let id = match captured.id {
        0 => {
            let id = stacks::intern(captured.frames, captured.hash);
            unwind::remember_id(state, id);
            id
        }
        id => id,
    };
    unwind::note_stack(state, id);
    id
}

/// Forgets a block that is about to be freed and takes it out of the live
/// figures; returns what was recorded. Makes no system call (a contended
/// stripe lock yields, which cannot fail), so errno is untouched.
#[inline(always)]
fn forget(state: &mut guard::ThreadState, p: *mut c_void) -> Option<table::Recorded> {
    let found = table::remove(p as u64);
    if let Some(r) = found {
        stats::change(state, -(r.size as i64), -1);
    }
    found
}

/// `forget`, under `catch_unwind`: what was recorded of the block, `None`
/// also on an internal failure.
#[inline(always)]
fn before_free(busy: &mut Busy, p: *mut c_void) -> Option<table::Recorded> {
    let state = busy.state();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || forget(state, p)));
    r.unwrap_or_else(|_| failed_free())
}

/// `before_free` for `free`, which needs nothing back: what was recorded
/// is then not decoded (15 instructions a free).
#[inline(always)]
fn before_plain_free(busy: &mut Busy, p: *mut c_void) {
    let state = busy.state();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        forget(state, p);
    }));
    if r.is_err() {
        failed_free();
    }
}

/// After a panic while recording a free: stops tracking, errno kept.
#[cold]
fn failed_free() -> Option<table::Recorded> {
    let errno = sys::errno();
    lifecycle::fail("internal error while recording a free");
    sys::set_errno(errno);
    None
}

/// An allocation of `size` bytes made by `real`: passed through, or
/// recorded once it succeeded.
#[inline(always)]
fn allocate(size: usize, caller: Caller, real: impl FnOnce() -> *mut c_void) -> *mut c_void {
    if !chosen(size) {
        return real();
    }
    let Some(mut busy) = lifecycle::enter() else {
        return real();
    };
    let p = real();
    if !p.is_null() {
        after_alloc(&mut busy, p, size, caller);
    }
    p
}

/// `malloc`, the most frequent: one function, with the recording inline.
/// (An allocation sampling passes over never gets here: the entry stub
/// sends it to the next allocator.)
pub unsafe extern "C" fn malloc(size: usize, sp: u64, bp: u64) -> *mut c_void {
    if !chosen(size) {
        return real::malloc(size);
    }
    let Some(mut busy) = lifecycle::enter() else {
        return real::malloc(size);
    };
    let p = real::malloc(size);
    if !p.is_null() {
        record_alloc(&mut busy, p, size, Caller { sp, bp });
    }
    p
}

/// `free` past its entry stub (entry.rs), which sent a block the sampling
/// filter rules out straight to the next allocator.
pub unsafe extern "C" fn free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // (The stub asked the sampling filter already; `table::remove` asks it
    // again under the guard.)
    let mut busy = lifecycle::enter();
    if let Some(b) = busy.as_mut() {
        before_plain_free(b, p);
    }
    real::free(p);
}

pub unsafe extern "C" fn calloc(n: usize, size: usize, sp: u64, bp: u64) -> *mut c_void {
    allocate(n.wrapping_mul(size), Caller { sp, bp }, || {
        real::calloc(n, size)
    })
}

pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize, sp: u64, bp: u64) -> *mut c_void {
    let caller = Caller { sp, bp };
    let record = chosen(size);
    // Neither the old block nor the new one concerns us.
    if !record && (p.is_null() || !table::may_hold(p as u64)) {
        return real::realloc(p, size);
    }
    let Some(mut busy) = lifecycle::enter() else {
        return real::realloc(p, size);
    };
    if p.is_null() {
        let q = real::malloc(size);
        if !q.is_null() {
            after_alloc(&mut busy, q, size, caller);
        }
        return q;
    }
    // Forget the old block first: once realloc returns, its address may be
    // handed to another thread.
    let old = if table::may_hold(p as u64) {
        before_free(&mut busy, p)
    } else {
        None
    };
    let q = real::realloc(p, size);
    if !q.is_null() {
        if record {
            after_alloc(&mut busy, q, size, caller);
        }
    } else if size != 0 {
        // Failed: the old block is still there, unchanged.
        if let Some(r) = old {
            restore(&mut busy, p, r);
        }
    }
    // realloc(p, 0) returning NULL freed p (glibc 2.36): already forgotten.
    q
}

/// Records again a block a failed realloc left in place, under
/// `catch_unwind` like every other record; errno is realloc's.
fn restore(busy: &mut Busy, p: *mut c_void, r: table::Recorded) {
    let errno = sys::errno();
    let state = busy.state();
    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        if let Inserted::New = table::insert(p as u64, r.size, r.stack, r.time) {
            stats::change(state, r.size as i64, 1);
        }
    }));
    if ok.is_err() {
        lifecycle::fail("internal error while recording a failed realloc");
    }
    sys::set_errno(errno);
}

pub unsafe extern "C" fn reallocarray(
    p: *mut c_void,
    n: usize,
    size: usize,
    sp: u64,
    bp: u64,
) -> *mut c_void {
    match n.checked_mul(size) {
        Some(total) => realloc(p, total, sp, bp),
        None => {
            sys::set_errno(libc::ENOMEM);
            core::ptr::null_mut()
        }
    }
}

pub unsafe extern "C" fn posix_memalign(
    out: *mut *mut c_void,
    align: usize,
    size: usize,
    sp: u64,
    bp: u64,
) -> i32 {
    let caller = Caller { sp, bp };
    if !chosen(size) {
        return real::posix_memalign(out, align, size);
    }
    let Some(mut busy) = lifecycle::enter() else {
        return real::posix_memalign(out, align, size);
    };
    let r = real::posix_memalign(out, align, size);
    if r == 0 && !(*out).is_null() {
        after_alloc(&mut busy, *out, size, caller);
    }
    r
}

pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize, sp: u64, bp: u64) -> *mut c_void {
    allocate(size, Caller { sp, bp }, || real::aligned_alloc(align, size))
}

pub unsafe extern "C" fn memalign(align: usize, size: usize, sp: u64, bp: u64) -> *mut c_void {
    allocate(size, Caller { sp, bp }, || real::memalign(align, size))
}

/// valloc and pvalloc are page-aligned memalign, as glibc defines them; the
/// next allocator may not have them (jemalloc has no pvalloc), and taking
/// them from glibc instead would mix two heaps.
pub unsafe extern "C" fn valloc(size: usize, sp: u64, bp: u64) -> *mut c_void {
    memalign(sys::page_size(), size, sp, bp)
}

pub unsafe extern "C" fn pvalloc(size: usize, sp: u64, bp: u64) -> *mut c_void {
    let page = sys::page_size();
    match size.checked_add(page - 1) {
        Some(s) => memalign(page, s & !(page - 1), sp, bp),
        None => {
            sys::set_errno(libc::ENOMEM);
            core::ptr::null_mut()
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    real::malloc_usable_size(p)
}

/// After an object is unloaded its addresses may be reused: the unwinder's
/// view of the modules must be rebuilt before the next capture.
#[no_mangle]
pub unsafe extern "C" fn dlclose(handle: *mut c_void) -> i32 {
    let r = crate::libc_next::dlclose(handle);
    modules::mark_dirty();
    r
}
