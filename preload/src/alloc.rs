//! The library's own heap: Rust's global allocator, forwarded straight to the
//! next allocator in the chain, so the library's memory never passes through
//! its own hooks and is never counted as the program's.

use crate::real;
use core::alloc::{GlobalAlloc, Layout};

pub struct NextAllocator;

/// Alignment every malloc returns on x86_64 Linux.
const MALLOC_ALIGN: usize = 16;

// SAFETY: forwards to a conforming C allocator, asking for the alignment the
// layout needs.
unsafe impl GlobalAlloc for NextAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            real::malloc(layout.size()).cast()
        } else {
            real::memalign(layout.align(), layout.size()).cast()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        real::free(ptr.cast())
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN {
            return real::realloc(ptr.cast(), new_size).cast();
        }
        let new = real::memalign(layout.align(), new_size).cast::<u8>();
        if !new.is_null() {
            core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            real::free(ptr.cast());
        }
        new
    }
}
