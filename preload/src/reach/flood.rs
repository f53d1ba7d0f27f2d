//! The classification itself, on any memory: a conservative mark phase
//! from the roots, then the lost blocks split into definite and indirect.
//!
//! Every aligned word is a candidate pointer. A word equal to a block's
//! start reaches it; a word inside it (not one past its end) reaches it only
//! "possibly", as valgrind says. Blocks reached by start pointers from the
//! roots, transitively, are reachable; blocks reached otherwise from the
//! roots are possible. Of the rest, a block some other lost block points
//! to is indirect; the others are definite. In a cycle of lost blocks every
//! block is pointed to, so, as valgrind does, the first block of the cycle
//! in address order is reported definite and the others indirect.

use super::heap::Heap;
use leaktrace_format::Kind;

/// Reads memory for the scan: the aligned words of `[start, end)`.
/// Generic, not `dyn`: the scan calls it for every block and the callback
/// for every word, millions of times, and both must inline.
pub trait Memory {
    /// Words of a live block.
    fn words(&self, start: u64, end: u64, f: impl FnMut(u64));
    /// Words of a root range, which may hold pages that cannot be read.
    fn root_words(&self, start: u64, end: u64, f: impl FnMut(u64)) {
        self.words(start, end, f)
    }
}

/// What the scan found: each block's kind, and for each indirect block the
/// definite block that owns it (whose loss loses it: valgrind's loss
/// record counts it with that block), else `NO_OWNER`.
pub struct Found {
    pub kinds: Vec<Kind>,
    pub owners: Vec<u32>,
}

pub const NO_OWNER: u32 = u32::MAX;

/// Marks one block's kind; `Unvisited` until decided.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Unvisited,
    Reachable,
    Possible,
    /// A lost block that led a flood (definite unless another reaches it).
    Leader,
    Indirect,
}

/// Classifies every block of `heap`: roots are the `roots` ranges.
pub fn classify(heap: &Heap, roots: &[(u64, u64)], mem: &impl Memory) -> Found {
    let n = heap.len();
    let mut mark = vec![Mark::Unvisited; n];
    let mut work: Vec<u32> = Vec::new();
    let mut interior: Vec<u32> = Vec::new();

    // Start pointers from the roots, then from every reachable block.
    let visit = |p: u64, mark: &mut Vec<Mark>, work: &mut Vec<u32>, interior: &mut Vec<u32>| {
        if let Some((i, at_start)) = heap.find(p) {
            if !at_start {
                interior.push(i as u32);
            } else if mark[i] != Mark::Reachable {
                mark[i] = Mark::Reachable;
                work.push(i as u32);
            }
        }
    };
    for &(start, end) in roots {
        mem.root_words(start, end, |w| {
            visit(w, &mut mark, &mut work, &mut interior)
        });
    }
    while let Some(i) = work.pop() {
        let i = i as usize;
        let (start, end) = heap.range(i);
        mem.words(start, end, |w| {
            visit(w, &mut mark, &mut work, &mut interior)
        });
    }

    // Interior pointers from what is reachable: possible, and so is
    // whatever a possible block points to.
    let mut work: Vec<u32> = interior
        .into_iter()
        .filter(|&i| mark[i as usize] == Mark::Unvisited)
        .collect();
    for &i in &work {
        mark[i as usize] = Mark::Possible;
    }
    while let Some(i) = work.pop() {
        let i = i as usize;
        let (start, end) = heap.range(i);
        mem.words(start, end, |w| {
            if let Some((j, _)) = heap.find(w) {
                if mark[j] == Mark::Unvisited {
                    mark[j] = Mark::Possible;
                    work.push(j as u32);
                }
            }
        });
    }

    // The lost: each not yet reached leads a flood through the others.
    let mut work: Vec<u32> = Vec::new();
    let mut owners = vec![NO_OWNER; n];
    for leader in 0..n {
        if mark[leader] != Mark::Unvisited {
            continue;
        }
        mark[leader] = Mark::Leader;
        work.push(leader as u32);
        while let Some(i) = work.pop() {
            let i = i as usize;
            let (start, end) = heap.range(i);
            mem.words(start, end, |w| {
                if let Some((j, _)) = heap.find(w) {
                    match mark[j] {
                        Mark::Unvisited => {
                            mark[j] = Mark::Indirect;
                            owners[j] = leader as u32;
                            work.push(j as u32);
                        }
                        // An earlier leader, reached from this flood: its
                        // own flood has marked what it points to already,
                        // and it is owned now, with what it owned.
                        Mark::Leader if j != leader => {
                            mark[j] = Mark::Indirect;
                            owners[j] = leader as u32;
                        }
                        _ => {}
                    }
                }
            });
        }
    }
    // An owner may have been owned since by a later leader: follow each
    // chain to the leader that stayed definite (chains only ever lead to
    // later leaders, so they end).
    for i in 0..n {
        let mut o = owners[i];
        while o != NO_OWNER && mark[o as usize] != Mark::Leader {
            o = owners[o as usize];
        }
        owners[i] = o;
    }
    let kinds = mark
        .into_iter()
        .map(|m| match m {
            Mark::Reachable => Kind::Reachable,
            Mark::Possible => Kind::Possible,
            Mark::Leader => Kind::Definite,
            Mark::Indirect => Kind::Indirect,
            Mark::Unvisited => Kind::Definite,
        })
        .collect();
    Found { kinds, owners }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Fake memory: words at addresses.
    struct Fake(HashMap<u64, u64>);

    impl Memory for Fake {
        fn words(&self, start: u64, end: u64, mut f: impl FnMut(u64)) {
            let mut a = (start + 7) & !7;
            while a + 8 <= end {
                if let Some(&w) = self.0.get(&a) {
                    f(w);
                }
                a += 8;
            }
        }
    }

    fn run(blocks: &[(u64, u64)], words: &[(u64, u64)], roots: &[(u64, u64)]) -> Vec<Kind> {
        found(blocks, words, roots).kinds
    }

    fn found(blocks: &[(u64, u64)], words: &[(u64, u64)], roots: &[(u64, u64)]) -> Found {
        let blocks = super::super::heap::blocks(blocks);
        let heap = Heap::new(&blocks);
        classify(&heap, roots, &Fake(words.iter().copied().collect()))
    }

    #[test]
    fn kinds() {
        use Kind::*;
        // Root region [0x100, 0x110) points at block A (0x1000) and into
        // the middle of D (0x4008). A points to B; C and E form a cycle;
        // F points to G; H is pointed to by nothing.
        let blocks = [
            (0x1000, 32), // A reachable
            (0x2000, 32), // B reachable through A
            (0x3000, 16), // C cycle leader: definite
            (0x4000, 64), // D possible (interior pointer from the root)
            (0x5000, 16), // E cycle: indirect
            (0x6000, 16), // F definite
            (0x7000, 16), // G indirect (through F)
            (0x8000, 16), // H definite
            (0x9000, 16), // I possible (pointed to by D)
        ];
        let words = [
            (0x100, 0x1000),
            (0x108, 0x4008),
            (0x1008, 0x2000),
            (0x3000, 0x5000),
            (0x5008, 0x3000),
            (0x6000, 0x7000),
            (0x4010, 0x9000),
            // One past the end of H: points at nothing.
            (0x2010, 0x8010),
        ];
        assert_eq!(
            run(&blocks, &words, &[(0x100, 0x110)]),
            vec![
                Reachable, Reachable, Definite, Possible, Indirect, Definite, Indirect, Definite,
                Possible
            ]
        );
    }

    #[test]
    fn a_chain_found_from_its_tail_first() {
        use Kind::*;
        // A (lower address) leads first and reaches nothing; then B, which
        // points to A, leads: A becomes indirect.
        let blocks = [(0x1000, 16), (0x2000, 16)];
        let words = [(0x2000, 0x1000)];
        assert_eq!(run(&blocks, &words, &[]), vec![Indirect, Definite]);
    }

    #[test]
    fn indirect_blocks_name_their_definite_owner() {
        // A (0x1000) -> B -> C; D (0x4000) -> A, so A is owned by D, and so
        // are B and C; E alone; F <-> G a cycle led by F.
        let blocks = [
            (0x1000, 16),
            (0x2000, 16),
            (0x3000, 16),
            (0x4000, 16),
            (0x5000, 16),
            (0x6000, 16),
            (0x7000, 16),
        ];
        let words = [
            (0x1000, 0x2000),
            (0x2000, 0x3000),
            (0x4000, 0x1000),
            (0x6000, 0x7000),
            (0x7000, 0x6000),
        ];
        let f = found(&blocks, &words, &[]);
        use Kind::*;
        assert_eq!(
            f.kinds,
            vec![Indirect, Indirect, Indirect, Definite, Definite, Definite, Indirect]
        );
        assert_eq!(f.owners, vec![3, 3, 3, NO_OWNER, NO_OWNER, NO_OWNER, 5]);
    }
}
