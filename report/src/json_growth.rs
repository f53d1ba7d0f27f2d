//! JSON for growth over a series of dumps and for `--diff`; like json.rs,
//! the field names are a public interface (README.md).

use crate::diff::Diff;
use crate::json::JsonFrame;
use crate::series::{Class, Series};
use serde::Serialize;

/// A dump's report or a process's series, serialized as itself.
#[derive(Serialize)]
#[serde(untagged)]
pub enum JsonItem {
    Report(Box<crate::json::JsonReport>),
    Growth(JsonSeries),
}

#[derive(Serialize)]
pub struct JsonSeries {
    /// Always "growth": tells this object from a single dump's report.
    pub kind: &'static str,
    pub pid: u32,
    pub exe: String,
    pub dumps: Vec<JsonPoint>,
    /// Sites before `--top` and `--min-bytes`.
    pub total_sites: usize,
    pub sites: Vec<JsonTrend>,
}

#[derive(Serialize)]
pub struct JsonPoint {
    pub dump: String,
    /// 0 for the final dump.
    pub snapshot: u32,
    pub trigger: String,
    pub dump_time_ns: u64,
    /// Seconds after the first dump of the series.
    pub seconds: f64,
    pub leaked_bytes: u64,
    pub leaked_blocks: u64,
    /// Whether the dump's blocks were classified (lost, reachable, ...).
    pub classified: bool,
}

#[derive(Serialize)]
pub struct JsonTrend {
    pub function: Option<String>,
    /// Live bytes and blocks at each dump, in the order of `dumps`.
    pub bytes: Vec<u64>,
    pub blocks: Vec<u64>,
    pub bytes_per_second: f64,
    pub grew_intervals: usize,
    pub shrank_intervals: usize,
    pub only_grows: bool,
    /// Bytes lost (definite and indirect), possibly lost and still
    /// reachable at each dump, in the order of `dumps`; null at dumps that
    /// were not classified.
    pub lost_bytes: Vec<Option<u64>>,
    pub possible_bytes: Vec<Option<u64>>,
    pub reachable_bytes: Vec<Option<u64>>,
    /// The kinds whose bytes grew ("lost", "possible", "reachable"), most
    /// first (docs/report-json.md).
    pub growth_kinds: Vec<&'static str>,
    /// Its lost bytes grew: such sites come first.
    pub lost_growth: bool,
    pub frames: Vec<JsonFrame>,
}

pub fn series(s: &Series) -> JsonSeries {
    JsonSeries {
        kind: "growth",
        pid: s.pid,
        exe: s.exe.clone(),
        dumps: s
            .points
            .iter()
            .map(|p| JsonPoint {
                dump: p.path.clone(),
                snapshot: p.snapshot,
                trigger: p.trigger.clone(),
                dump_time_ns: p.dump_ns,
                seconds: (p.seconds * 1000.0).round() / 1000.0,
                leaked_bytes: p.leaked_bytes,
                leaked_blocks: p.leaked_blocks,
                classified: p.classified,
            })
            .collect(),
        total_sites: s.total_sites,
        sites: s
            .trends
            .iter()
            .map(|t| JsonTrend {
                function: t
                    .frames
                    .get(t.key_frame)
                    .and_then(|f| f.function.as_deref().map(str::to_string)),
                bytes: t.bytes.clone(),
                blocks: t.blocks.clone(),
                bytes_per_second: t.bytes_per_second.round(),
                grew_intervals: t.grew,
                shrank_intervals: t.shrank,
                only_grows: t.only_grows(),
                lost_bytes: t.class_bytes(Class::Lost).to_vec(),
                possible_bytes: t.class_bytes(Class::Possible).to_vec(),
                reachable_bytes: t.class_bytes(Class::Reachable).to_vec(),
                growth_kinds: t.growth.iter().map(|c| c.name()).collect(),
                lost_growth: t.lost_growth(),
                frames: t.frames.iter().map(JsonFrame::from).collect(),
            })
            .collect(),
    }
}

#[derive(Serialize)]
pub struct JsonDiff {
    /// Always "diff".
    pub kind: &'static str,
    pub before: String,
    pub after: String,
    pub seconds: f64,
    pub net_bytes: i64,
    pub net_blocks: i64,
    /// Grown or new sites before `--top` and `--min-bytes`.
    pub total_sites: usize,
    pub sites: Vec<JsonChange>,
}

#[derive(Serialize)]
pub struct JsonChange {
    pub function: Option<String>,
    pub new: bool,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub blocks_before: u64,
    pub blocks_after: u64,
    pub bytes_added: u64,
    pub blocks_added: i64,
    pub frames: Vec<JsonFrame>,
}

pub fn diff(d: &Diff) -> JsonDiff {
    let (a, b) = (&d.before.input, &d.after.input);
    JsonDiff {
        kind: "diff",
        before: a.path.clone(),
        after: b.path.clone(),
        seconds: b
            .dump
            .process
            .dump_ns
            .saturating_sub(a.dump.process.dump_ns) as f64
            / 1e9,
        net_bytes: d.net_bytes,
        net_blocks: d.net_blocks,
        total_sites: d.total_changes,
        sites: d
            .changes
            .iter()
            .map(|c| JsonChange {
                function: c
                    .frames
                    .get(c.key_frame)
                    .and_then(|f| f.function.as_deref().map(str::to_string)),
                new: c.is_new(),
                bytes_before: c.bytes_before,
                bytes_after: c.bytes_after,
                blocks_before: c.blocks_before,
                blocks_after: c.blocks_after,
                bytes_added: c.bytes_added(),
                blocks_added: c.blocks_added(),
                frames: c.frames.iter().map(JsonFrame::from).collect(),
            })
            .collect(),
    }
}
