//! `leakreport --diff A B`: the call sites that are new in B or hold more
//! there than in A, by how much they grew.

use crate::analysis::Analysis;
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

pub fn build<'a>(
    before: &'a Analysis,
    after: &'a Analysis,
    by: GroupBy,
    top: Option<usize>,
    min_bytes: u64,
) -> Diff<'a> {
    let mut old: HashMap<String, (u64, u64)> = HashMap::new();
    for s in &before.sites {
        let e = old.entry(place_key(s, by)).or_default();
        e.0 += s.bytes;
        e.1 += s.blocks;
    }
    let mut grown: HashMap<String, Change> = HashMap::new();
    let mut order = Vec::new();
    for s in &after.sites {
        let key = place_key(s, by);
        let c = grown.entry(key.clone()).or_insert_with(|| {
            let (bytes, blocks) = old.get(&key).copied().unwrap_or((0, 0));
            order.push(key);
            Change {
                frames: s.frames.clone(),
                key_frame: s.key_frame,
                bytes_before: bytes,
                bytes_after: 0,
                blocks_before: blocks,
                blocks_after: 0,
            }
        });
        c.bytes_after += s.bytes;
        c.blocks_after += s.blocks;
    }
    let mut changes: Vec<Change> = order
        .into_iter()
        .filter_map(|k| grown.remove(&k))
        .filter(|c| c.bytes_after > c.bytes_before)
        .collect();
    changes.sort_by(|a, b| {
        b.bytes_added()
            .cmp(&a.bytes_added())
            .then(b.blocks_added().cmp(&a.blocks_added()))
    });
    let total_changes = changes.len();
    let changes = changes
        .into_iter()
        .filter(|c| c.bytes_added() >= min_bytes)
        .take(top.unwrap_or(usize::MAX))
        .collect();
    Diff {
        before,
        after,
        changes,
        total_changes,
        net_bytes: after.live.bytes as i64 - before.live.bytes as i64,
        net_blocks: after.live.blocks as i64 - before.live.blocks as i64,
    }
}
