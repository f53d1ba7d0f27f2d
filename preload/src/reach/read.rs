//! Reading root memory without the risk of a fault. The roots are every
//! writable mapping of the process: among them files shorter than their
//! mapping (a read past the end raises SIGBUS) and ranges another thread
//! may unmap. Reads through `/proc/self/mem` turn such pages into a short
//! read instead of a signal; the kernel's `process_vm_readv` would too, but
//! hardened services filter it out (systemd's `@debug` set), and a filtered
//! system call may kill the process.
//!
//! A process may be unable to open its own `/proc/self/mem` (no /proc, no
//! free descriptor, or made non-dumpable while not root): then words are
//! read directly, and the caller reads no file-backed memory.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Bytes read per call.
const CHUNK: usize = 64 << 10;
const PAGE: u64 = 4096;

/// The process's memory as a file, if /proc is there.
pub struct SelfMemory {
    file: Option<File>,
    /// Which pages were ever touched (`/proc/self/pagemap`): a page of
    /// anonymous memory never touched holds zeros, and a program may
    /// reserve gigabytes it never uses.
    pagemap: Option<File>,
    /// Ranges backed by files, whose untouched pages may hold data.
    files: Vec<(u64, u64)>,
    buf: Vec<u8>,
}

impl SelfMemory {
    pub fn open() -> SelfMemory {
        SelfMemory {
            file: File::open("/proc/self/mem").ok(),
            pagemap: File::open("/proc/self/pagemap").ok(),
            files: Vec::new(),
            buf: vec![0; CHUNK],
        }
    }

    /// Says which ranges are backed by files (sorted, disjoint).
    pub fn set_files(&mut self, files: Vec<(u64, u64)>) {
        self.files = files;
    }

    /// Whether the chunk at `at` (`len` bytes) is anonymous memory that was
    /// never touched: neither present nor swapped.
    fn untouched(&self, at: u64, len: usize) -> bool {
        let Some(pagemap) = &self.pagemap else {
            return false;
        };
        let i = self.files.partition_point(|f| f.1 <= at);
        if self.files.get(i).is_some_and(|f| f.0 < at + len as u64) {
            return false;
        }
        let (first, last) = (at / PAGE, (at + len as u64 - 1) / PAGE);
        let mut entries = [0u8; 8 * (CHUNK / PAGE as usize + 1)];
        let want = 8 * (last - first + 1) as usize;
        match pagemap.read_at(&mut entries[..want], first * 8) {
            // Bit 63: present; bit 62: swapped.
            Ok(n) if n == want => entries[..want].chunks_exact(8).all(|e| e[7] & 0xC0 == 0),
            _ => false,
        }
    }

    /// Whether reads are safe; if not, they are direct, and only anonymous
    /// memory and modules' data may be read.
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Calls `f` with each aligned word of `[start, end)` that can be read;
    /// pages that cannot are skipped.
    pub fn words(&mut self, start: u64, end: u64, mut f: impl FnMut(u64)) {
        let mut at = (start + 7) & !7;
        while at + 8 <= end {
            let want = ((end - at) as usize).min(CHUNK) & !7;
            if self.untouched(at, want) {
                at += want as u64;
                continue;
            }
            let got = match &self.file {
                Some(file) => file
                    .read_at(&mut self.buf[..want], at)
                    .map_or(0, |n| n & !7),
                None => {
                    // SAFETY: without /proc the caller reads only mapped
                    // anonymous memory and modules' data, which the other
                    // threads, stopped, cannot unmap.
                    unsafe {
                        core::ptr::copy_nonoverlapping(at as *const u8, self.buf.as_mut_ptr(), want)
                    };
                    want
                }
            };
            for word in self.buf[..got].chunks_exact(8) {
                f(u64::from_le_bytes(word.try_into().unwrap_or_default()));
            }
            at += got as u64;
            if got < want {
                // An unreadable page: go on after it.
                at = (at / PAGE + 1) * PAGE;
            }
        }
    }

    /// The word at `addr`, if it can be read.
    pub fn word(&mut self, addr: u64) -> Option<u64> {
        let mut w = None;
        self.words(addr, addr + 8, |v| w = Some(v));
        w
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_words_and_skips_what_is_not_mapped() {
        let data: Vec<u64> = (0..3000).collect();
        let start = data.as_ptr() as u64;
        let mut mem = super::SelfMemory::open();
        let mut seen = Vec::new();
        mem.words(start, start + 3000 * 8, |w| seen.push(w));
        assert_eq!(seen, data);
        assert_eq!(mem.word(start + 8 * 7), Some(7));
        // The zero page is never mapped.
        assert_eq!(mem.word(0), None);
        let mut none = 0;
        mem.words(0, 3 * 4096, |_| none += 1);
        assert_eq!(none, 0);
    }

    #[test]
    fn without_proc_words_are_read_directly() {
        let data: Vec<u64> = (0..20000).collect();
        let start = data.as_ptr() as u64;
        let mut mem = super::SelfMemory {
            file: None,
            pagemap: None,
            files: Vec::new(),
            buf: vec![0; super::CHUNK],
        };
        assert!(!mem.is_open());
        let mut seen = Vec::new();
        mem.words(start, start + 20000 * 8, |w| seen.push(w));
        assert_eq!(seen, data);
    }

    #[test]
    fn untouched_memory_is_skipped_and_touched_is_read() {
        let len = 1 << 20;
        let p = crate::sys::map_zeroed(len).unwrap() as *mut u64;
        // SAFETY: a word of the fresh mapping, in its second 64 KiB.
        unsafe { p.add(9000).write(42) };
        let start = p as u64;
        let mut mem = super::SelfMemory::open();
        let mut seen = Vec::new();
        mem.words(start, start + len as u64, |w| seen.push(w));
        assert!(seen.contains(&42));
        assert!(
            seen.len() <= 2 * (64 << 10) / 8,
            "{} words read",
            seen.len()
        );
        crate::sys::unmap(p.cast(), len);
    }
}
