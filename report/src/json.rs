//! JSON output. The field names are a public interface (README.md):
//! later versions add fields, never rename or remove these.

use crate::analysis::Analysis;
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
    pub totals: JsonTotals,
    pub sites: Vec<JsonSite>,
}

#[derive(Serialize)]
pub struct JsonTotals {
    pub leaked_bytes: u64,
    pub leaked_blocks: u64,
    pub allocations: u64,
    pub frees: u64,
    pub bytes_allocated: u64,
    pub peak_bytes: u64,
    pub peak_blocks: u64,
    pub sites: usize,
}

#[derive(Serialize)]
pub struct JsonSite {
    pub bytes: u64,
    pub blocks: u64,
    /// Blocks recorded in the dump (fewer than `blocks` when sampled).
    pub recorded_blocks: u64,
    /// The innermost function of the program's own code.
    pub function: Option<String>,
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
            function: f.function.clone(),
            file: f.file.clone(),
            line: f.line,
            inlined: f.inlined,
            module: f.module.clone(),
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
        totals: JsonTotals {
            leaked_bytes: a.leaked_bytes,
            leaked_blocks: a.leaked_blocks,
            allocations: d.totals.allocations,
            frees: d.totals.frees,
            bytes_allocated: d.totals.bytes_allocated,
            peak_bytes: d.totals.peak_bytes,
            peak_blocks: d.totals.peak_blocks,
            sites: a.total_sites,
        },
        sites: a
            .sites
            .iter()
            .map(|s| JsonSite {
                bytes: s.bytes,
                blocks: s.blocks,
                recorded_blocks: s.recorded,
                function: s.frames.get(s.key_frame).and_then(|f| f.function.clone()),
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
