//! JSON for many processes ([`crate::processes`]); like json.rs, the field
//! names are a public interface (docs/report-json.md).

use crate::json::{function_of, JsonFrame, JsonKinds, JsonReport};
use crate::processes::Summary;
use serde::Serialize;

#[derive(Serialize)]
pub struct JsonSummary {
    /// Always "processes": tells this object from a dump's report.
    pub kind: &'static str,
    /// Dumps read.
    pub dumps: usize,
    pub totals: JsonRunTotals,
    /// Leaking processes first, most bytes lost first.
    pub processes: Vec<JsonProcess>,
    /// Leaks before `--top` and `--min-bytes`.
    pub total_sites: usize,
    /// The leaks, identical ones of several processes of a program merged,
    /// biggest first.
    pub sites: Vec<JsonLeak>,
}

/// Summed over the processes (each one's latest dump).
#[derive(Serialize)]
pub struct JsonRunTotals {
    pub processes: usize,
    /// Processes that lose bytes (or hold any, when not classified).
    pub leaking_processes: usize,
    /// Processes whose dumps were not classified.
    pub unclassified_processes: usize,
    pub leaked_bytes: u64,
    pub leaked_blocks: u64,
    #[serde(flatten)]
    pub kinds: JsonKinds,
    /// Blocks of the dumps that were not classified.
    pub unclassified_bytes: u64,
    pub unclassified_blocks: u64,
}

/// A process: its latest dump's report object, with `sites` empty (its
/// leaks are in the summary's `sites`), and how many of its dumps were
/// given.
#[derive(Serialize)]
pub struct JsonProcess {
    #[serde(flatten)]
    pub report: JsonReport,
    pub dumps: usize,
}

#[derive(Serialize)]
pub struct JsonLeak {
    /// Its number, as the text's "leak N of M".
    pub id: usize,
    pub exe: String,
    /// How many processes leak it, and which.
    pub processes: usize,
    pub pids: Vec<u32>,
    /// definite, indirect, possible, reachable, or unclassified.
    pub kind: &'static str,
    /// Summed over its processes.
    pub bytes: u64,
    pub blocks: u64,
    pub indirect_bytes: u64,
    pub indirect_blocks: u64,
    pub total_bytes: u64,
    /// The least and the most `total_bytes` and `blocks` of one process.
    pub min_process_bytes: u64,
    pub max_process_bytes: u64,
    pub min_process_blocks: u64,
    pub max_process_blocks: u64,
    /// For an indirect leak: the `id` of the leak owning it, when listed.
    pub owner: Option<usize>,
    pub owner_function: Option<String>,
    pub function: Option<String>,
    /// The stack in its first process.
    pub frames: Vec<JsonFrame>,
}

pub fn summary(s: &Summary) -> JsonSummary {
    let t = &s.totals;
    JsonSummary {
        kind: "processes",
        dumps: s.dumps,
        totals: JsonRunTotals {
            processes: s.processes.len(),
            leaking_processes: s.leaking(),
            unclassified_processes: s.unclassified,
            leaked_bytes: t.leaked().bytes,
            leaked_blocks: t.leaked().blocks,
            kinds: JsonKinds::of(t, s.live),
            unclassified_bytes: t.unclassified.bytes,
            unclassified_blocks: t.unclassified.blocks,
        },
        processes: s
            .processes
            .iter()
            .map(|p| {
                let mut report = crate::json::report(p.analysis);
                report.sites = Vec::new();
                JsonProcess {
                    report,
                    dumps: p.dumps,
                }
            })
            .collect(),
        total_sites: s.total_leaks,
        sites: s
            .leaks
            .iter()
            .enumerate()
            .map(|(n, l)| JsonLeak {
                id: n + 1,
                exe: l.exe.clone(),
                processes: l.pids.len(),
                pids: l.pids.clone(),
                kind: l.site.kind.name(),
                bytes: l.bytes,
                blocks: l.blocks,
                indirect_bytes: l.indirect_bytes,
                indirect_blocks: l.indirect_blocks,
                total_bytes: l.total_bytes(),
                min_process_bytes: l.each_bytes.0,
                max_process_bytes: l.each_bytes.1,
                min_process_blocks: l.each_blocks.0,
                max_process_blocks: l.each_blocks.1,
                owner: l.owner.map(|o| o + 1),
                owner_function: l.owner_site.and_then(function_of),
                function: function_of(l.site),
                frames: l.site.frames.iter().map(JsonFrame::from).collect(),
            })
            .collect(),
    }
}
