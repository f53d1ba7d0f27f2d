//! The process's mappings (`/proc/self/maps`): which root ranges are
//! readable, where a thread's stack mapping ends, and how far memory is
//! readable above a stack pointer (unwind/mod.rs).

pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub readable: bool,
    pub writable: bool,
    /// `MAP_SHARED`.
    pub shared: bool,
    pub what: What,
}

/// What backs a mapping, from its path field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    /// Anonymous memory (no path, or a name given with prctl).
    Anonymous,
    /// The library's own memory, named by it (`[anon:leaktrace]`).
    Own,
    /// The brk heap: glibc malloc's main arena.
    Heap,
    /// The main thread's stack.
    Stack,
    /// A file, shared memory or `/dev/zero`.
    File,
    /// A device, or a kernel page (`[vvar]`, `[vdso]`, ...): never read.
    Special,
}

impl What {
    fn of(path: &str) -> What {
        match path {
            "" => What::Anonymous,
            "[anon:leaktrace]" => What::Own,
            "[heap]" => What::Heap,
            "[stack]" => What::Stack,
            p if p.starts_with("[anon:") => What::Anonymous,
            // Shared anonymous memory is a file of the kernel's.
            p if p.starts_with("[anon_shmem:") || p.starts_with("/dev/zero ") => What::File,
            p if p.starts_with('[') => What::Special,
            p if p.starts_with("/dev/") && p != "/dev/zero" && !p.starts_with("/dev/shm/") => {
                What::Special
            }
            _ => What::File,
        }
    }
}

/// Every mapping, in address order; empty if /proc is not readable.
pub fn read() -> Vec<Mapping> {
    std::fs::read_to_string("/proc/self/maps")
        .map(|text| parse(&text))
        .unwrap_or_default()
}

fn parse(text: &str) -> Vec<Mapping> {
    text.lines().filter_map(parse_line).collect()
}

/// One line: `start-end perms offset device inode path`.
fn parse_line(line: &str) -> Option<Mapping> {
    let mut fields = line.split_whitespace();
    let (range, perms) = (fields.next()?, fields.next()?);
    let (start, end) = range.split_once('-')?;
    let path = path_field(line);
    Some(Mapping {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        readable: perms.starts_with('r'),
        writable: perms.as_bytes().get(1) == Some(&b'w'),
        shared: perms.as_bytes().get(3) == Some(&b's'),
        what: What::of(path),
    })
}

/// What follows the fifth field (the inode): the path, which may hold
/// spaces.
fn path_field(line: &str) -> &str {
    let mut rest = line.trim_start();
    for _ in 0..5 {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    rest.trim_end()
}

/// The mapping holding `addr`.
pub fn containing(maps: &[Mapping], addr: u64) -> Option<&Mapping> {
    let i = maps.partition_point(|m| m.start <= addr).checked_sub(1)?;
    let m = &maps[i];
    (addr < m.end).then_some(m)
}

/// Where the mapping holding `addr` starts, and where the readable memory
/// that runs without a gap from it upwards (through adjacent readable
/// mappings) ends; `Ok(None)` if `addr` is not readable, `Err` if /proc is
/// not there to say.
///
/// Called from a capture, inside the program's malloc: it reads
/// /proc/self/maps through a buffer on the stack with plain system calls,
/// and allocates nothing.
pub fn readable_run(addr: u64) -> Result<Option<(u64, u64)>, ()> {
    // SAFETY: open with a NUL-terminated path; the fd is closed below.
    let fd = unsafe {
        libc::open(
            c"/proc/self/maps".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(());
    }
    let mut run = RunFinder {
        addr,
        found: None,
        done: false,
    };
    let mut buf = [0u8; 4096];
    let mut kept = 0; // bytes of an unfinished line at the buffer's start
    while !run.done {
        // SAFETY: reads into the free part of `buf`.
        let n = unsafe { libc::read(fd, buf[kept..].as_mut_ptr().cast(), buf.len() - kept) };
        if n <= 0 {
            break;
        }
        let filled = kept + n as usize;
        let mut start = 0;
        while let Some(nl) = buf[start..filled].iter().position(|&b| b == b'\n') {
            run.line(&buf[start..start + nl]);
            start += nl + 1;
        }
        // Keep an unfinished line for the next read; one longer than the
        // whole buffer (a very long path) is cut: its range and permissions
        // come first.
        kept = filled - start;
        buf.copy_within(start..filled, 0);
        if kept == buf.len() {
            run.line(&buf[..128]);
            kept = 0;
            let mut byte = [0u8; 1];
            // SAFETY: reads one byte at a time into `byte`, to the line's end.
            while unsafe { libc::read(fd, byte.as_mut_ptr().cast(), 1) } == 1 && byte[0] != b'\n' {}
        }
    }
    // SAFETY: closes the fd opened above.
    unsafe { libc::close(fd) };
    Ok(run.found)
}

/// The state of `readable_run` over the lines, in address order.
struct RunFinder {
    addr: u64,
    found: Option<(u64, u64)>,
    done: bool,
}

impl RunFinder {
    fn line(&mut self, line: &[u8]) {
        if self.done {
            return;
        }
        // Only the range and permissions are read: a path that is not UTF-8
        // (or was cut) does not matter.
        let text = match core::str::from_utf8(line) {
            Ok(text) => text,
            Err(e) => core::str::from_utf8(&line[..e.valid_up_to()]).unwrap_or_default(),
        };
        let Some(m) = parse_line(text) else {
            return;
        };
        match self.found {
            None if m.start <= self.addr && self.addr < m.end => {
                self.found = m.readable.then_some((m.start, m.end));
                self.done = !m.readable;
            }
            None => self.done = m.start > self.addr,
            Some((start, end)) if m.start == end && m.readable => self.found = Some((start, m.end)),
            Some(_) => self.done = true,
        }
    }
}

/// The readable parts of `[start, end)`.
pub fn readable_parts(maps: &[Mapping], start: u64, end: u64) -> Vec<(u64, u64)> {
    maps.iter()
        .filter(|m| m.readable && m.start < end && m.end > start)
        .map(|m| (m.start.max(start), m.end.min(end)))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn maps_are_parsed() {
        let maps = super::parse(
            "55d0a000-55d0b000 r--p 00000000 08:01 42 /usr/bin/x\n\
             7ffd1000-7ffd3000 rw-p 00000000 00:00 0 [stack]\n\
             7ffd3000-7ffd4000 ---p 00000000 00:00 0\n",
        );
        assert_eq!(maps.len(), 3);
        assert_eq!(maps[0].what, super::What::File);
        assert_eq!(maps[1].what, super::What::Stack);
        assert_eq!(maps[2].what, super::What::Anonymous);
        let what = |line: &str| super::parse_line(line).unwrap().what;
        assert_eq!(what("1-2 rw-p 0 0:0 0 [anon:leaktrace]"), super::What::Own);
        assert_eq!(what("1-2 rw-p 0 0:0 0 [heap]"), super::What::Heap);
        assert_eq!(
            what("1-2 rw-s 0 0:5 7 /dev/dri/card0"),
            super::What::Special
        );
        assert_eq!(what("1-2 rw-s 0 0:5 7 /dev/shm/a b"), super::What::File);
        assert_eq!(what("1-2 rw-p 0 0:0 0 [anon:pool]"), super::What::Anonymous);
        assert_eq!(what("1-2 r--p 0 0:0 0 [vvar]"), super::What::Special);
        assert!(maps[1].readable && maps[1].writable);
        assert!(!maps[2].readable);
        assert_eq!(
            super::containing(&maps, 0x7ffd2ff8).unwrap().end,
            0x7ffd3000
        );
        assert!(super::containing(&maps, 0x7ffd4000).is_none());
        assert_eq!(
            super::readable_parts(&maps, 0x7ffd2000, 0x7ffd4000),
            vec![(0x7ffd2000, 0x7ffd3000)]
        );
        let find = |addr| {
            let mut r = super::RunFinder {
                addr,
                found: None,
                done: false,
            };
            for line in "1000-2000 rw-p 0 0:0 0\n2000-3000 r--p 0 0:0 0\n\
                         3000-4000 ---p 0 0:0 0\n5000-6000 rw-p 0 0:0 0"
                .lines()
            {
                r.line(line.as_bytes());
            }
            r.found
        };
        assert_eq!(find(0x1800), Some((0x1000, 0x3000)));
        assert_eq!(find(0x3800), None);
        assert_eq!(find(0x4800), None);
        assert_eq!(find(0x5000), Some((0x5000, 0x6000)));
        let mut r = super::RunFinder {
            addr: 0x1800,
            found: None,
            done: false,
        };
        r.line(b"1000-2000 rw-p 0 0:0 0 /tmp/\xff\xfename");
        assert_eq!(r.found, Some((0x1000, 0x2000)), "a path that is not UTF-8");
        // This thread's own stack, read for real.
        let local = 0u64;
        let at = &local as *const u64 as u64;
        let (start, end) = super::readable_run(at)
            .unwrap()
            .expect("the stack is readable");
        assert!(start <= at && at < end);
    }
}
