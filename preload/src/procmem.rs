//! The process's memory at a dump, so that a report can say how much of it
//! the tracked heap explains: the kernel's view (`/proc/self/smaps_rollup`,
//! or the sum over `/proc/self/smaps` where the rollup is missing) and
//! glibc's (`mallinfo2`).

use leaktrace_format::Memory;

/// Reads every figure it can. `with_malloc` false skips `mallinfo2`, which
/// takes every arena lock: the final dump of a fatal signal runs while a
/// program thread is stopped in a handler, possibly holding one.
pub fn read(with_malloc: bool) -> Memory {
    let mut m = Memory::default();
    if let Some((rss, pss, uss, swap)) = kernel_figures() {
        m.has_process = true;
        (m.rss, m.pss, m.uss, m.swap) = (rss, pss, uss, swap);
        m.vss = virtual_size().unwrap_or(0);
    }
    if with_malloc {
        if let Some(info) = mallinfo2() {
            m.has_malloc = true;
            m.malloc_arena = info.arena as u64;
            m.malloc_mmapped = info.hblkhd as u64;
            m.malloc_in_use = info.uordblks as u64;
            m.malloc_free = info.fordblks as u64;
        }
    }
    m
}

/// RSS, PSS, USS and swap in bytes.
fn kernel_figures() -> Option<(u64, u64, u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup")
        .or_else(|_| std::fs::read_to_string("/proc/self/smaps"))
        .ok()?;
    Some(sum_fields(&text))
}

/// Sums the `kB` fields of smaps text (one mapping or many).
fn sum_fields(text: &str) -> (u64, u64, u64, u64) {
    let (mut rss, mut pss, mut uss, mut swap) = (0, 0, 0, 0);
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(kb) = value.parse::<u64>() else {
            continue;
        };
        let bytes = kb * 1024;
        match key {
            "Rss:" => rss += bytes,
            "Pss:" => pss += bytes,
            "Private_Clean:" | "Private_Dirty:" => uss += bytes,
            "Swap:" => swap += bytes,
            _ => {}
        }
    }
    (rss, pss, uss, swap)
}

/// The virtual size in bytes (first field of /proc/self/statm, in pages).
fn virtual_size() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().next()?.parse().ok()?;
    Some(pages * crate::sys::page_size() as u64)
}

/// glibc's `struct mallinfo2`.
#[repr(C)]
#[derive(Default)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

/// glibc's arena statistics, looked up by name: glibc before 2.33 has no
/// mallinfo2, and then there are none.
fn mallinfo2() -> Option<MallInfo2> {
    // SAFETY: dlsym with a valid name.
    let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"mallinfo2".as_ptr()) };
    if f.is_null() {
        return None;
    }
    // SAFETY: glibc's mallinfo2 takes nothing and returns the struct above.
    let f: extern "C" fn() -> MallInfo2 = unsafe { core::mem::transmute(f) };
    Some(f())
}

#[cfg(test)]
mod tests {
    #[test]
    fn smaps_fields_are_summed() {
        let text = "55d0-55d1 r--p 0 08:01 1 /bin/x\nRss:  8 kB\nPss:  4 kB\n\
                    Private_Clean: 1 kB\nPrivate_Dirty: 2 kB\nSwap: 0 kB\n\
                    7f00-7f01 rw-p 0 0:0 0\nRss: 4 kB\nPss: 4 kB\nPrivate_Dirty: 4 kB\nSwap: 8 kB\n";
        assert_eq!(
            super::sum_fields(text),
            (12 * 1024, 8 * 1024, 7 * 1024, 8 * 1024)
        );
    }

    #[test]
    fn this_process_has_memory() {
        let m = super::read(true);
        assert!(m.has_process && m.rss > 0 && m.vss >= m.rss);
    }
}
