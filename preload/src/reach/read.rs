//! Reading root memory without the risk of a fault. The roots are every
//! writable mapping of the process: among them files shorter than their
//! mapping (a read past the end raises SIGBUS) and ranges another thread
//! may unmap. Reads through `/proc/self/mem` turn such pages into a short
//! read instead of a signal; the kernel's `process_vm_readv` would too, but
//! hardened services filter it out (systemd's `@debug` set), and a filtered
//! system call may kill the process.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Bytes read per call.
const CHUNK: usize = 64 << 10;
const PAGE: u64 = 4096;

/// The process's memory as a file, if /proc is there.
pub struct SelfMemory {
    file: Option<File>,
    buf: Vec<u8>,
}

impl SelfMemory {
    pub fn open() -> SelfMemory {
        SelfMemory {
            file: File::open("/proc/self/mem").ok(),
            buf: vec![0; CHUNK],
        }
    }

    /// Whether reads are safe; if not, only anonymous memory may be read,
    /// directly.
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Calls `f` with each aligned word of `[start, end)` that can be read;
    /// pages that cannot are skipped.
    pub fn words(&mut self, start: u64, end: u64, mut f: impl FnMut(u64)) {
        let Some(file) = &self.file else {
            return;
        };
        let mut at = (start + 7) & !7;
        while at + 8 <= end {
            let want = ((end - at) as usize).min(CHUNK) & !7;
            let got = match file.read_at(&mut self.buf[..want], at) {
                Ok(n) => n & !7,
                Err(_) => 0,
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
}
