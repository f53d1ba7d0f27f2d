//! Loss records, as valgrind makes them: when the dump says which lost
//! block owns each indirect block (the `OWNERS` record), a definite site
//! carries the indirect bytes its blocks own — "240 (240 direct, 40,000
//! indirect) bytes in 10 blocks" — sites are ranked by that total, so the
//! root cause comes before what it drags along, and each indirect site
//! names the site that owns most of its bytes.

use crate::group::{rank, Site};
use leaktrace_format::{Dump, Kind};
use std::collections::HashMap;

/// Fills `indirect_bytes`, `indirect_blocks` and `owner` of `sites` (built
/// from `dump`'s blocks; `of_block[i]` is the index of block `i`'s site)
/// and ranks them again by total bytes.
pub fn attach(dump: &Dump, mut sites: Vec<Site>, of_block: &[usize]) -> Vec<Site> {
    let mut owned = vec![(0.0f64, 0.0f64); sites.len()];
    // Per indirect site: its bytes per owning site.
    let mut owners: HashMap<usize, HashMap<usize, f64>> = HashMap::new();
    for (i, b) in dump.blocks.iter().enumerate() {
        let Some(o) = dump.owner(i) else { continue };
        let (Some(&site), Some(&owner)) = (of_block.get(i), of_block.get(o)) else {
            continue;
        };
        if sites[owner].kind != Kind::Definite || sites[site].kind != Kind::Indirect {
            continue;
        }
        let w = dump.weight(b.size);
        owned[owner].0 += b.size as f64 * w;
        owned[owner].1 += w;
        *owners.entry(site).or_default().entry(owner).or_default() += b.size as f64 * w;
    }
    for (s, (bytes, blocks)) in sites.iter_mut().zip(owned) {
        s.indirect_bytes = bytes.round() as u64;
        s.indirect_blocks = blocks.round() as u64;
    }
    for (site, by_owner) in owners {
        // Most bytes; among equals, the site ranked first.
        sites[site].owner = by_owner
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(owner, _)| owner);
    }

    let mut order: Vec<usize> = (0..sites.len()).collect();
    order.sort_by(|&a, &b| rank(&sites[a], &sites[b]));
    let mut new_index = vec![0; sites.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    let mut slots: Vec<Option<Site>> = sites.into_iter().map(Some).collect();
    order
        .iter()
        .filter_map(|&old| slots[old].take())
        .map(|mut s| {
            s.owner = s.owner.map(|o| new_index[o]);
            s
        })
        .collect()
}
