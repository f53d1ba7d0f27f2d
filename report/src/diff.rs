//! `leakreport --diff A B`: the call sites that are new in B or hold more
//! there than in A, by how much they grew.

use crate::analysis::Analysis;
use crate::collate::{group_in_order, Cut};
use crate::group::{place_key, GroupBy};
use crate::symbolize::Frame;
use std::collections::HashMap;

/// One site that grew from A to B.
pub struct Change {
    pub frames: Vec<Frame>,
    pub key_frame: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub blocks_before: u64,
    pub blocks_after: u64,
}

impl Change {
    pub fn bytes_added(&self) -> u64 {
        self.bytes_after - self.bytes_before
    }
    /// Blocks can fall while bytes grow (fewer, bigger blocks).
    pub fn blocks_added(&self) -> i64 {
        self.blocks_after as i64 - self.blocks_before as i64
    }
    pub fn is_new(&self) -> bool {
        self.blocks_before == 0
    }
}

pub struct Diff<'a> {
    pub before: &'a Analysis,
    pub after: &'a Analysis,
    /// Grown or new sites, most bytes added first (after `--top` and
    /// `--min-bytes`, which apply to the bytes added).
    pub changes: Vec<Change>,
    pub total_changes: usize,
    /// Live bytes and blocks of B minus those of A.
    pub net_bytes: i64,
    pub net_blocks: i64,
}

/// What grew from `before` to `after`, sites matched by `by`; `cut`
/// (`--top`, `--min-bytes`) applies to the bytes added.
pub fn build<'a>(before: &'a Analysis, after: &'a Analysis, by: GroupBy, cut: Cut) -> Diff<'a> {
    let mut old: HashMap<String, (u64, u64)> = HashMap::new();
    for s in &before.sites {
        let e = old.entry(place_key(s, by)).or_default();
        e.0 += s.bytes;
        e.1 += s.blocks;
    }
    let mut changes: Vec<Change> = group_in_order(&after.sites, |s| place_key(s, by))
        .into_iter()
        .map(|group| {
            let s = group[0];
            let (bytes_before, blocks_before) =
                old.get(&place_key(s, by)).copied().unwrap_or((0, 0));
            Change {
                frames: s.frames.clone(),
                key_frame: s.key_frame,
                bytes_before,
                bytes_after: group.iter().map(|s| s.bytes).sum(),
                blocks_before,
                blocks_after: group.iter().map(|s| s.blocks).sum(),
            }
        })
        .filter(|c| c.bytes_after > c.bytes_before)
        .collect();
    changes.sort_by(|a, b| {
        b.bytes_added()
            .cmp(&a.bytes_added())
            .then(b.blocks_added().cmp(&a.blocks_added()))
    });
    let total_changes = changes.len();
    let changes = cut.apply(changes, Change::bytes_added);
    Diff {
        before,
        after,
        changes,
        total_changes,
        net_bytes: after.live.bytes as i64 - before.live.bytes as i64,
        net_blocks: after.live.blocks as i64 - before.live.blocks as i64,
    }
}
