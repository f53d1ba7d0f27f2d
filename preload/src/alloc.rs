//! The library's own heap: Rust's global allocator, kept apart from the
//! program's. Its memory comes from mappings of the library's own
//! ([`crate::own_maps`]), never from the next allocator in the chain:
//!
//! - the program's heap stays as it would be without the tracker. Memory
//!   the library took from glibc and gave back on a program thread (the
//!   unwinder's scratch space, say) would be handed to the program next
//!   with glibc's free-list links in it, stale pointers that the leak scan
//!   reads as the program's own (a lost block "pointed to" by another).
//! - the heap scan, which reads every writable mapping of the process,
//!   knows every byte of it and skips it.
//!
//! Small requests are served from size classes of powers of two carved
//! from 1 MiB slabs and kept on free lists; a freed block is never given
//! back to the kernel, only reused. Requests above the largest class get a
//! mapping each. No allocation passes through the hooks; the locks are
//! spin locks that the fork handlers hold across fork().

use crate::lock::SpinLock;
use crate::sys;
use core::alloc::{GlobalAlloc, Layout};

pub struct OwnAllocator;

const PAGE: usize = 4096;
/// The smallest class (log2) and the number of classes: 16 B to 32 KiB.
const MIN_SHIFT: u32 = 4;
const CLASSES: usize = 12;
const SLAB: usize = 1 << 20;

/// Each class's free list: the first free block, whose first word links
/// the next (0 ends the list).
static FREE: [SpinLock<usize>; CLASSES] = [const { SpinLock::new(0) }; CLASSES];
/// The unused rest of the current slab: `[next, end)`.
static CARVE: SpinLock<(usize, usize)> = SpinLock::new((0, 0));

/// The class of a layout, or `None` for one served by a mapping of its own.
fn class(layout: Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
    let class = (size.next_power_of_two().trailing_zeros() - MIN_SHIFT) as usize;
    (class < CLASSES).then_some(class)
}

fn class_size(class: usize) -> usize {
    1 << (class as u32 + MIN_SHIFT)
}

fn pages(bytes: usize) -> usize {
    bytes.div_ceil(PAGE) * PAGE
}

/// A new block of `class`, cut from the current slab or a new one. A
/// block is aligned to its size: slabs are page-aligned and each cut is
/// rounded up to the class size.
fn carve(class: usize) -> *mut u8 {
    let size = class_size(class);
    let mut carve = CARVE.lock();
    let (next, end) = *carve;
    let at = next.div_ceil(size) * size;
    if next != 0 && at + size <= end {
        *carve = (at + size, end);
        return at as *mut u8;
    }
    let Some(slab) = sys::map_zeroed(SLAB) else {
        return core::ptr::null_mut();
    };
    let start = slab as usize;
    *carve = (start + size, start + SLAB);
    slab.cast()
}

// SAFETY: blocks of a class are handed out once until freed (the free
// lists and the carving are under their locks), are at least as large and
// as aligned as the layout asks, and `dealloc`/`realloc` find the class or
// mapping again from the same layout.
unsafe impl GlobalAlloc for OwnAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class(layout) else {
            if layout.align() > PAGE {
                return core::ptr::null_mut();
            }
            return sys::map_zeroed(pages(layout.size()))
                .map_or(core::ptr::null_mut(), |p| p.cast());
        };
        let mut head = FREE[class].lock();
        if *head == 0 {
            drop(head);
            return carve(class);
        }
        let block = *head;
        // SAFETY: a free block's first word links the next one.
        *head = unsafe { (block as *const usize).read() };
        block as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(class) = class(layout) else {
            sys::unmap(ptr.cast(), pages(layout.size()));
            return;
        };
        let mut head = FREE[class].lock();
        // SAFETY: the block is ours again and at least a word long.
        unsafe { (ptr as *mut usize).write(*head) };
        *head = ptr as usize;
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the alignment is the old layout's, which was valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(layout), class(new_layout)) {
            (Some(a), Some(b)) if a == b => return ptr,
            (None, None) => {
                let (old, new) = (pages(layout.size()), pages(new_size));
                if old == new {
                    return ptr;
                }
                return sys::remap(ptr.cast(), old, new)
                    .map_or(core::ptr::null_mut(), |p| p.cast());
            }
            _ => {}
        }
        // SAFETY: as for any allocation; the copy stays within both blocks.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

/// Holds every lock of the heap (fork handlers: the child must not inherit
/// one held by a thread that does not exist there).
pub fn lock_all() {
    for f in &FREE {
        f.lock_raw();
    }
    CARVE.lock_raw();
}

pub fn unlock_all() {
    CARVE.unlock_raw();
    for f in &FREE {
        f.unlock_raw();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_reused_and_apart() {
        let a = OwnAllocator;
        let l = |size, align| Layout::from_size_align(size, align).unwrap();
        // SAFETY: allocations and frees in pairs with their layouts.
        unsafe {
            let p = a.alloc(l(24, 8));
            let q = a.alloc(l(24, 8));
            assert!(!p.is_null() && p != q && (p as usize).is_multiple_of(32));
            a.dealloc(p, l(24, 8));
            assert_eq!(a.alloc(l(30, 8)), p, "the freed block comes back");
            let r = a.alloc(l(100, 64));
            assert_eq!(r as usize % 128, 0);
            let big = a.alloc(l(1 << 20, 16));
            big.write_bytes(7, 1 << 20);
            let big = a.realloc(big, l(1 << 20, 16), 3 << 20);
            assert_eq!(big.add((1 << 20) - 1).read(), 7);
            let small = a.realloc(big, l(3 << 20, 16), 100);
            assert_eq!(small.read(), 7);
            for (ptr, layout) in [
                (q, l(24, 8)),
                (p, l(30, 8)),
                (r, l(100, 64)),
                (small, l(100, 16)),
            ] {
                a.dealloc(ptr, layout);
            }
        }
    }
}
