//! The process's mappings (`/proc/self/maps`): which root ranges are
//! readable, where a thread's stack mapping ends, and how far memory is
//! readable above a stack pointer (unwind/mod.rs).

pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub readable: bool,
    pub writable: bool,
}

/// Every mapping, in address order; empty if /proc is not readable.
pub fn read() -> Vec<Mapping> {
    std::fs::read_to_string("/proc/self/maps")
        .map(|text| parse(&text))
        .unwrap_or_default()
}

fn parse(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (range, perms) = (fields.next()?, fields.next()?);
            let (start, end) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                readable: perms.starts_with('r'),
                writable: perms.as_bytes().get(1) == Some(&b'w'),
            })
        })
        .collect()
}

/// The mapping holding `addr`.
pub fn containing(maps: &[Mapping], addr: u64) -> Option<&Mapping> {
    let i = maps.partition_point(|m| m.start <= addr).checked_sub(1)?;
    let m = &maps[i];
    (addr < m.end).then_some(m)
}

/// The end of the readable memory that runs without a gap from `addr` up
/// (through adjacent readable mappings), or `None` if `addr` is not
/// readable.
pub fn readable_run_end(maps: &[Mapping], addr: u64) -> Option<u64> {
    let i = maps.partition_point(|m| m.start <= addr).checked_sub(1)?;
    let first = &maps[i];
    if addr >= first.end || !first.readable {
        return None;
    }
    let mut end = first.end;
    for m in &maps[i + 1..] {
        if m.start != end || !m.readable {
            break;
        }
        end = m.end;
    }
    Some(end)
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
        let run = super::parse(
            "1000-2000 rw-p 0 0:0 0\n2000-3000 r--p 0 0:0 0\n3000-4000 ---p 0 0:0 0\n5000-6000 rw-p 0 0:0 0\n",
        );
        assert_eq!(super::readable_run_end(&run, 0x1800), Some(0x3000));
        assert_eq!(super::readable_run_end(&run, 0x3800), None);
        assert_eq!(super::readable_run_end(&run, 0x4800), None);
        assert_eq!(super::readable_run_end(&run, 0x5000), Some(0x6000));
    }
}
