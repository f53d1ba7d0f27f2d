//! One dump, analysed: its sites after the user's filters and its totals.

use crate::cli::ReportOptions;
use crate::group::{self, Site};
use crate::input::Input;
use crate::symbolize::Symbolizer;

pub struct Analysis {
    pub input: Input,
    /// Sites kept by `--top` and `--min-bytes`, biggest first.
    pub sites: Vec<Site>,
    /// All sites, before filtering.
    pub total_sites: usize,
    /// Estimates when the dump is sampled.
    pub leaked_bytes: u64,
    pub leaked_blocks: u64,
    /// Problems met while symbolizing, one line each.
    pub warnings: Vec<String>,
    /// A binary could not be read or did not match.
    pub incomplete: bool,
}

pub fn analyse(input: Input, options: &ReportOptions) -> Analysis {
    let mut symbols = Symbolizer::new(&input.dump.modules, options.debug_roots());
    let all = group::sites(&input.dump, &mut symbols, options.group_by);
    let total_sites = all.len();
    let sites: Vec<Site> = all
        .into_iter()
        .filter(|s| s.bytes >= options.min_bytes)
        .take(options.top.unwrap_or(usize::MAX))
        .collect();
    let d = &input.dump;
    let leaked_bytes = d
        .blocks
        .iter()
        .map(|b| b.size as f64 * d.weight(b.size))
        .sum::<f64>()
        .round() as u64;
    let leaked_blocks = d
        .blocks
        .iter()
        .map(|b| d.weight(b.size))
        .sum::<f64>()
        .round() as u64;
    Analysis {
        input,
        sites,
        total_sites,
        leaked_bytes,
        leaked_blocks,
        warnings: symbols.warnings,
        incomplete: symbols.incomplete,
    }
}
