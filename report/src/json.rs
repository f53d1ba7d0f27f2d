//! JSON output. The field names are a public interface (README.md):
//! later versions add fields, never rename or remove these.

use crate::analysis::{age_seconds, Amount, Analysis, Totals};
use crate::symbolize::Frame;
use serde::Serialize;

#[derive(Serialize)]
pub struct JsonReport {
    pub pid: u32,
    pub ppid: u32,
    pub exe: String,
    pub cmdline: Vec<String>,
    pub trigger: String,
    pub dump: String,
    /// True when only a sample of allocations was recorded: then `bytes`
    /// and `blocks` everywhere are estimates.
    pub sampled: bool,
    /// Mean bytes between samples, when sampled.
    pub sample_bytes: Option<u64>,
    pub start_time_ns: u64,
    pub dump_time_ns: u64,
    /// Snapshot number (1, 2, ...), 0 for the final dump.
    pub snapshot: u32,
    /// The process's memory at the dump, when recorded.
    pub memory: Option<JsonMemory>,
    /// The module that defines the malloc family ahead of the library, so
    /// that the allocations through it were not traced (null if none).
    pub own_malloc: Option<String>,
    pub totals: JsonTotals,
    pub sites: Vec<JsonSite>,
}

#[derive(Serialize)]
pub struct JsonTotals {
    /// Definite and indirect leaks (every block of an unclassified dump),
    /// suppressed ones excepted.
    pub leaked_bytes: u64,
    pub leaked_blocks: u64,
    /// Whether the blocks were classified (final dumps of full runs).
    pub classified: bool,
    /// Whether the dump says which lost block owns each indirect one (the
    /// `OWNERS` record, since 1.2): then definite sites carry the indirect
    /// bytes they own and indirect sites name their owner.
    pub owners_known: bool,
    #[serde(flatten)]
    pub kinds: JsonKinds,
    pub allocations: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub peak_bytes: u64,
    pub peak_blocks: u64,
    pub sites: usize,
}

/// Bytes and blocks by kind, as a LEAK SUMMARY has them, and live.
#[derive(Serialize)]
pub struct JsonKinds {
    pub definite_bytes: u64,
    pub definite_blocks: u64,
    pub indirect_bytes: u64,
    pub indirect_blocks: u64,
    pub possible_bytes: u64,
    pub possible_blocks: u64,
    pub reachable_bytes: u64,
    pub reachable_blocks: u64,
    pub suppressed_bytes: u64,
    pub suppressed_blocks: u64,
    /// Every block live at the dump.
    pub live_bytes: u64,
    pub live_blocks: u64,
}

impl JsonKinds {
    pub fn of(t: &Totals, live: Amount) -> JsonKinds {
        JsonKinds {
            definite_bytes: t.definite.bytes,
            definite_blocks: t.definite.blocks,
            indirect_bytes: t.indirect.bytes,
            indirect_blocks: t.indirect.blocks,
            possible_bytes: t.possible.bytes,
            possible_blocks: t.possible.blocks,
            reachable_bytes: t.reachable.bytes,
            reachable_blocks: t.reachable.blocks,
            suppressed_bytes: t.suppressed.bytes,
            suppressed_blocks: t.suppressed.blocks,
            live_bytes: live.bytes,
            live_blocks: live.blocks,
        }
    }
}

#[derive(Serialize)]
pub struct JsonMemory {
    pub vss: Option<u64>,
    pub rss: Option<u64>,
    pub pss: Option<u64>,
    pub uss: Option<u64>,
    pub swap: Option<u64>,
    /// Live bytes in tracked blocks (an estimate when sampled).
    pub heap_bytes: u64,
    pub malloc_in_use: Option<u64>,
    pub malloc_free: Option<u64>,
    pub malloc_arena: Option<u64>,
    pub malloc_mmapped: Option<u64>,
}

impl JsonMemory {
    pub fn new(m: &leaktrace_format::Memory, heap_bytes: u64) -> JsonMemory {
        let p = |v: u64| m.has_process.then_some(v);
        let g = |v: u64| m.has_malloc.then_some(v);
        JsonMemory {
            vss: p(m.vss),
            rss: p(m.rss),
            pss: p(m.pss),
            uss: p(m.uss),
            swap: p(m.swap),
            heap_bytes,
            malloc_in_use: g(m.malloc_in_use),
            malloc_free: g(m.malloc_free),
            malloc_arena: g(m.malloc_arena),
            malloc_mmapped: g(m.malloc_mmapped),
        }
    }
}

#[derive(Serialize)]
pub struct JsonSite {
    /// The site's number, as the text report's "site N of M": its rank
    /// among the sites of the kinds shown that are not suppressed.
    pub id: usize,
    /// Its own bytes and blocks (valgrind's "direct").
    pub bytes: u64,
    pub blocks: u64,
    /// For a definite site: the indirect bytes and blocks its blocks own
    /// (0 when `totals.owners_known` is false and for other kinds).
    pub indirect_bytes: u64,
    pub indirect_blocks: u64,
    /// `bytes + indirect_bytes`: what sites are ordered by.
    pub total_bytes: u64,
    /// For an indirect site: the `id` of the site owning most of its
    /// bytes, or null (owner unknown, or suppressed: see `owner_function`).
    pub owner: Option<usize>,
    /// The `function` of that owning site (set even when it is suppressed).
    pub owner_function: Option<String>,
    /// Blocks recorded in the dump (fewer than `blocks` when sampled).
    pub recorded_blocks: u64,
    /// definite, indirect, possible, reachable, or unclassified.
    pub kind: &'static str,
    /// The innermost function of the program's own code.
    pub function: Option<String>,
    /// Seconds before the dump its oldest and newest blocks were allocated
    /// (absent for dumps without allocation times).
    pub oldest_age_s: Option<f64>,
    pub newest_age_s: Option<f64>,
    pub frames: Vec<JsonFrame>,
}

#[derive(Serialize)]
pub struct JsonFrame {
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub inlined: bool,
    pub module: String,
    pub address: String,
    pub offset: String,
}

impl From<&Frame> for JsonFrame {
    fn from(f: &Frame) -> JsonFrame {
        JsonFrame {
            function: f.function.as_deref().map(str::to_string),
            file: f.file.as_deref().map(str::to_string),
            line: f.line,
            inlined: f.inlined,
            module: f.module.to_string(),
            address: format!("{:#x}", f.address),
            offset: format!("{:#x}", f.offset),
        }
    }
}

pub fn report(a: &Analysis) -> JsonReport {
    let d = &a.input.dump;
    JsonReport {
        pid: d.process.pid,
        ppid: d.process.ppid,
        exe: d.process.exe.clone(),
        cmdline: d.process.cmdline.clone(),
        trigger: d.process.trigger.name(),
        dump: a.input.path.clone(),
        sampled: d.sample_bytes.is_some(),
        sample_bytes: d.sample_bytes,
        start_time_ns: d.process.start_ns,
        dump_time_ns: d.process.dump_ns,
        snapshot: d.process.snapshot,
        memory: d.memory.as_ref().map(|m| JsonMemory::new(m, a.live.bytes)),
        own_malloc: d.other_malloc.as_ref().map(|o| o.module.clone()),
        totals: JsonTotals {
            leaked_bytes: a.leaked().bytes,
            leaked_blocks: a.leaked().blocks,
            classified: a.classified,
            owners_known: a.owners_known,
            kinds: JsonKinds::of(&a.totals, a.live),
            allocations: d.totals.allocations,
            frees: d.totals.frees,
            bytes_allocated: d.totals.bytes_allocated,
            peak_bytes: d.totals.peak_bytes,
            peak_blocks: d.totals.peak_blocks,
            sites: a.total_sites,
        },
        sites: a
            .shown
            .iter()
            .map(|&i| (i, &a.sites[i]))
            .map(|(i, s)| JsonSite {
                id: a.numbers[i].unwrap_or(0),
                bytes: s.bytes,
                blocks: s.blocks,
                indirect_bytes: s.indirect_bytes,
                indirect_blocks: s.indirect_blocks,
                total_bytes: s.total_bytes(),
                owner: s.owner.and_then(|o| a.numbers[o]),
                owner_function: s.owner.and_then(|o| function_of(&a.sites[o])),
                recorded_blocks: s.recorded,
                kind: s.kind.name(),
                function: function_of(s),
                oldest_age_s: s.times.map(|t| round_ms(age_seconds(d, t.first_ds))),
                newest_age_s: s.times.map(|t| round_ms(age_seconds(d, t.last_ds))),
                frames: s.frames.iter().map(JsonFrame::from).collect(),
            })
            .collect(),
    }
}

/// One report as a JSON object, several as an array.
pub fn render(analyses: &[Analysis]) -> String {
    let reports: Vec<JsonReport> = analyses.iter().map(report).collect();
    let value = if reports.len() == 1 {
        serde_json::to_string_pretty(&reports[0])
    } else {
        serde_json::to_string_pretty(&reports)
    };
    value.unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The innermost function of the program's own code in a site's stack.
pub fn function_of(s: &crate::group::Site) -> Option<String> {
    s.frames
        .get(s.key_frame)
        .and_then(|f| f.function.as_deref().map(str::to_string))
}

fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}
