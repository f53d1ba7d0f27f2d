//! The live blocks as the scan sees them: sorted by address, with a page
//! directory that answers "which block holds this word?" in a few steps.
//!
//! The scan asks that question for every word of every root and reachable
//! block: millions of times at the exit of a big program. A binary search
//! over two million blocks is 21 dependent, cache-missing steps; here the
//! blocks are split into clusters (runs with no gap over [`GAP`]), each
//! cluster into pages of a size that gives a few blocks per page, and each
//! page records the first block starting in it. A word then costs a lookup
//! among the few clusters, one directory load and a search among a
//! handful of blocks.

use leaktrace_format::Block;

/// A gap between blocks wider than this starts a new cluster, so that the
/// directory never spans the void between heaps and mappings.
const GAP: u64 = 1 << 20;

/// A run of blocks with their page directory.
struct Cluster {
    /// The first block's page start, and one past the highest block end.
    start: u64,
    end: u64,
    /// log2 of the page size.
    shift: u32,
    /// Where this cluster's pages start in `Heap::dir`.
    base: usize,
}

/// The live blocks, in address order (borrowed: no copy of millions of
/// blocks at exit).
pub struct Heap<'a> {
    blocks: &'a [Block],
    /// The lowest start and highest end: most words are outside.
    lo: u64,
    hi: u64,
    clusters: Vec<Cluster>,
    /// Per page of each cluster, plus one: the index of the first block
    /// starting at or after the page's start.
    dir: Vec<u32>,
}

impl<'a> Heap<'a> {
    /// `blocks` must be sorted by address and not overlap.
    pub fn new(blocks: &'a [Block]) -> Heap<'a> {
        let mut heap = Heap {
            lo: blocks.first().map_or(u64::MAX, |b| b.address),
            hi: blocks.iter().map(end).max().unwrap_or(0),
            blocks,
            clusters: Vec::new(),
            dir: Vec::new(),
        };
        heap.build_directory();
        heap
    }

    /// Splits the blocks into clusters and fills their pages.
    fn build_directory(&mut self) {
        let blocks = self.blocks;
        let n = blocks.len();
        let mut first = 0;
        while first < n {
            // The cluster: blocks until a start lies beyond every end so far
            // by more than GAP.
            let mut end_max = end(&blocks[first]);
            let mut last = first + 1;
            while last < n && blocks[last].address <= end_max.saturating_add(GAP) {
                end_max = end_max.max(end(&blocks[last]));
                last += 1;
            }
            let end = end_max;
            let count = (last - first) as u64;
            let start = blocks[first].address & !63;
            // Pages of at least 64 bytes, about two blocks to a page.
            let mut shift = 6;
            while (end - start) >> shift > count / 2 + 1 {
                shift += 1;
            }
            let pages = ((end - start) >> shift) as usize + 1;
            let base = self.dir.len();
            let mut b = first;
            for page in 0..=pages {
                let page_start = start + ((page as u64) << shift);
                while b < last && blocks[b].address < page_start {
                    b += 1;
                }
                self.dir.push(b as u32);
            }
            self.clusters.push(Cluster {
                start,
                end,
                shift,
                base,
            });
            first = last;
        }
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Where block `i` starts and ends.
    #[inline]
    pub fn range(&self, i: usize) -> (u64, u64) {
        let b = &self.blocks[i];
        (b.address, end(b))
    }

    /// The block `p` points into (its position in address order), and
    /// whether it points at its start.
    #[inline]
    pub fn find(&self, p: u64) -> Option<(usize, bool)> {
        if p < self.lo || p >= self.hi {
            return None;
        }
        let c = &self.clusters[self
            .clusters
            .partition_point(|c| c.start <= p)
            .checked_sub(1)?];
        if p >= c.end {
            return None;
        }
        let page = c.base + ((p - c.start) >> c.shift) as usize;
        let (from, to) = (self.dir[page] as usize, self.dir[page + 1] as usize);
        // The last block starting at or before `p`: one before the first
        // block of the page, or one of the page's own.
        let i =
            (from + self.blocks[from..to].partition_point(|b| b.address <= p)).checked_sub(1)?;
        let (start, end) = self.range(i);
        (p < end).then_some((i, p == start))
    }
}

/// One past a block's last byte; a zero-size block is reached by its
/// address only.
#[inline]
fn end(b: &Block) -> u64 {
    b.address + b.size.max(1)
}

/// Blocks at `(address, size)`, for tests here and in flood.rs.
#[cfg(test)]
pub fn blocks(spans: &[(u64, u64)]) -> Vec<Block> {
    spans
        .iter()
        .map(|&(address, size)| Block {
            address,
            size,
            stack: 0,
            allocated_ds: 0,
            kind: leaktrace_format::Kind::Unknown,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::blocks;

    /// The answer of a plain binary search, for comparison.
    fn expected(sorted: &[(u64, u64)], p: u64) -> Option<(u64, bool)> {
        let i = sorted.partition_point(|b| b.0 <= p).checked_sub(1)?;
        let (a, s) = sorted[i];
        (p < a + s.max(1)).then_some((a, p == a))
    }

    #[test]
    fn finds_what_a_binary_search_finds() {
        // Blocks in three clusters: dense small ones with zero-size and
        // multi-page ones among them, a big one past a gap, a far mapping.
        let mut spans = Vec::new();
        let mut a = 0x5555_0000_0000u64;
        for i in 0..5000u64 {
            let size: u64 = [16, 24, 40, 0, 500, 4096 * 3][(i % 6) as usize];
            spans.push((a, size));
            a += size.max(1).div_ceil(16) * 16 + 16 * (i % 3);
        }
        spans.push((a + (8 << 20), 1 << 20));
        spans.push((0x7f00_0000_0000, 64));
        let list = blocks(&spans);
        let heap = Heap::new(&list);
        let probes = spans
            .iter()
            .flat_map(|&(a, s)| [a.wrapping_sub(1), a, a + 1, a + s / 2, a + s, a + s + 8])
            .chain([0, 0x5555_0000_0000 - 8, u64::MAX, 0x7f00_0000_0040]);
        for p in probes {
            let got = heap
                .find(p)
                .map(|(i, at_start)| (list[i].address, at_start));
            assert_eq!(got, expected(&spans, p), "probe {p:#x}");
        }
    }

    #[test]
    fn empty_and_single() {
        assert!(Heap::new(&[]).find(0x1000).is_none());
        let one = blocks(&[(0x1000, 8)]);
        let heap = Heap::new(&one);
        assert_eq!(heap.find(0x1004), Some((0, false)));
        assert_eq!(heap.find(0x1008), None);
    }
}
