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
    let leaked_bytes = input.dump.blocks.iter().map(|b| b.size).sum();
    let leaked_blocks = input.dump.blocks.len() as u64;
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
