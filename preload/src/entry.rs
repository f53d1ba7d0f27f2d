//! The exported allocation and exit functions, as tiny entry stubs.
//!
//! Each stub adds two arguments to the call and jumps to its hook in
//! [`hooks`](crate::hooks): the stack pointer at entry, which points at the
//! return address into the program, and RBP, which the program's frame left
//! untouched. Together they are the program's frame at the call, so a stack
//! capture starts there ([`unwind::Caller`](crate::unwind::Caller)) and never
//! walks the library's own frames: they are neither recorded nor paid for.
//!
//! A stub is `mov`, `mov`, `jmp`: the hook returns straight to the program,
//! the stack alignment is the one the caller set up, and the registers
//! holding the program's arguments are untouched. The extra arguments go in
//! the next free argument registers of the System V ABI.
//!
//! `malloc`, `free` and `realloc` also carry the sampling fast path
//! (`LEAKTRACE_SAMPLE`): an allocation the thread's countdown passes over,
//! and the free of a block the filter rules out, go from the stub straight
//! to the next allocator, with no call and no register saved. They do what
//! `sampler::take` and `table::may_hold` do, and leave everything else to
//! the hooks. When every block is recorded the countdown stays 0, so
//! `malloc` and `realloc` need no test of the mode; `free` jumps to the
//! filter's stub only when sampling (the filter, a random counter of
//! 32 KiB, would be a cache miss per free when every block is recorded).

use crate::guard::{leaktrace_thread, ThreadState};
use crate::{hooks, lifecycle, real, table};
use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};

/// Defines the exported `$name` as a stub jumping to `$hook` with the entry
/// stack pointer in `$sp` and RBP in `$bp` (the argument registers after the
/// function's own).
macro_rules! entry {
    ($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty => $hook:path, $sp:literal, $bp:literal) => {
        /// Entry stub; see the module documentation.
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
            // SAFETY: copies two registers into argument registers the
            // function does not use and tail-jumps to a function with the
            // same arguments plus those two; nothing else is touched.
            core::arch::naked_asm!(
                concat!("mov ", $sp, ", rsp"),
                concat!("mov ", $bp, ", rbp"),
                "jmp {hook}",
                hook = sym $hook,
            )
        }
    };
}

/// `malloc`; see the module documentation.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    // SAFETY: reads a static and this thread's state, writes only its
    // countdown, and either tail-jumps to the next allocator with the
    // caller's arguments and stack untouched, or continues as `entry!`.
    core::arch::naked_asm!(
        // Passed over while size < countdown (unsigned, as sampler::take).
        // The countdown is 0, so nothing is passed over, until sampling
        // draws one: never when every block is recorded, and only after
        // init, which found the next allocator first (so `next` is set).
        "mov rax, qword ptr fs:[0]",
        "add rax, qword ptr [rip + {state}@GOTTPOFF]",
        "mov rcx, qword ptr [rax + {left}]",
        "cmp rdi, rcx",
        "jae 2f",
        "sub rcx, rdi",
        "mov qword ptr [rax + {left}], rcx",
        "jmp qword ptr [rip + {next}]",
        "2:",
        "mov rsi, rsp",
        "mov rdx, rbp",
        "jmp {hook}",
        next = sym real::MALLOC,
        state = sym leaktrace_thread,
        left = const core::mem::offset_of!(ThreadState, sample_left),
        hook = sym hooks::malloc,
    )
}

/// `free`: one indirect jump, to [`hooks::free`] when every block is
/// recorded (and until initialisation), to [`free_sampled`] when sampling.
/// A constant target is predicted; testing the mode here instead cost two
/// instructions in both modes, and reading the filter when every block is
/// recorded a cache miss per free.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: reads one static and tail-jumps to a function taking the same
    // argument, with the argument and stack untouched.
    core::arch::naked_asm!(
        "jmp qword ptr [rip + {route}]",
        route = sym FREE_ROUTE,
    )
}

/// Where [`free`] goes.
static FREE_ROUTE: AtomicPtr<c_void> =
    AtomicPtr::new(hooks::free as unsafe extern "C" fn(*mut c_void) as *mut c_void);

/// Sends `free` through the sampling filter (before tracking starts).
pub fn route_free_through_filter() {
    FREE_ROUTE.store(
        free_sampled as unsafe extern "C" fn(*mut c_void) as *mut c_void,
        Ordering::Release,
    );
}

/// `free` when sampling; see the module documentation.
#[unsafe(naked)]
unsafe extern "C" fn free_sampled(p: *mut c_void) {
    // SAFETY: reads two statics and tail-jumps to the next allocator's
    // free or to the hook with the argument and stack untouched.
    core::arch::naked_asm!(
        // The filter's counter for p (table::filter_of): 0 means nothing
        // recorded lives at p. (free(NULL) needs no test of its own: it
        // goes wherever its counter says, and both ends accept it.)
        "mov rax, rdi",
        "movabs rcx, {factor}",
        "imul rax, rcx",
        "shr rax, {shift}",
        "lea rcx, [rip + {filter}]",
        "cmp dword ptr [rcx + rax * 4], 0",
        "jne 2f",
        "jmp qword ptr [rip + {next}]",
        "2:",
        "jmp {hook}",
        next = sym real::FREE_FAST,
        factor = const table::HASH_FACTOR,
        shift = const table::FILTER_SHIFT,
        filter = sym table::FILTER,
        hook = sym hooks::free,
    )
}

/// `realloc`; see the module documentation. Passes straight on what
/// `hooks::realloc` would: the new size is passed over by the countdown and
/// the old block is none or ruled out by the filter.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: as in `malloc` and `free`; `rdx`, `rcx` and `r8` are free
    // argument registers of realloc.
    core::arch::naked_asm!(
        "mov rax, qword ptr fs:[0]",
        "add rax, qword ptr [rip + {state}@GOTTPOFF]",
        "mov rcx, qword ptr [rax + {left}]",
        "cmp rsi, rcx",
        "jae 2f",
        "test rdi, rdi",
        "jz 1f",
        "mov rdx, rdi",
        "movabs r8, {factor}",
        "imul rdx, r8",
        "shr rdx, {shift}",
        "lea r8, [rip + {filter}]",
        "cmp dword ptr [r8 + rdx * 4], 0",
        "jne 2f",
        "1:",
        "sub rcx, rsi",
        "mov qword ptr [rax + {left}], rcx",
        "jmp qword ptr [rip + {next}]",
        "2:",
        "mov rdx, rsp",
        "mov rcx, rbp",
        "jmp {hook}",
        next = sym real::REALLOC,
        state = sym leaktrace_thread,
        left = const core::mem::offset_of!(ThreadState, sample_left),
        factor = const table::HASH_FACTOR,
        shift = const table::FILTER_SHIFT,
        filter = sym table::FILTER,
        hook = sym hooks::realloc,
    )
}

entry!(calloc(n: usize, size: usize) -> *mut c_void => hooks::calloc, "rdx", "rcx");
entry!(
    reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void
        => hooks::reallocarray, "rcx", "r8"
);
entry!(
    posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32
        => hooks::posix_memalign, "rcx", "r8"
);
entry!(aligned_alloc(align: usize, size: usize) -> *mut c_void => hooks::aligned_alloc, "rdx", "rcx");
entry!(memalign(align: usize, size: usize) -> *mut c_void => hooks::memalign, "rdx", "rcx");
entry!(valloc(size: usize) -> *mut c_void => hooks::valloc, "rsi", "rdx");
entry!(pvalloc(size: usize) -> *mut c_void => hooks::pvalloc, "rsi", "rdx");

// The ends of a process: the exit dump scans the stack from the caller's
// frame up (see reach/mod.rs).
entry!(_exit(status: i32) -> () => lifecycle::immediate_exit, "rsi", "rdx");
entry!(_Exit(status: i32) -> () => lifecycle::immediate_exit, "rsi", "rdx");

/// The exit handler registered with `__cxa_atexit`: a stub like the others,
/// not exported.
#[unsafe(naked)]
pub extern "C" fn at_exit(arg: *mut c_void) {
    // SAFETY: as in `entry!`.
    core::arch::naked_asm!(
        "mov rsi, rsp",
        "mov rdx, rbp",
        "jmp {f}",
        f = sym lifecycle::at_exit,
    )
}
