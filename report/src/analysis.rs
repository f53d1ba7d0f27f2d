//! One dump, analysed: its sites after the user's filters and its totals.

use crate::cli::ReportOptions;
use crate::group::{self, Site};
use crate::input::Input;
use crate::symbolize::Symbolizer;
use leaktrace_format::Dump;

pub struct Analysis {
    pub input: Input,
    /// Every site, biggest first.
    pub sites: Vec<Site>,
    /// How many of them `--top` and `--min-bytes` keep (a prefix, as the
    /// sites are sorted by bytes).
    pub shown: usize,
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

/// How long before the dump a block allocated `ds` tenths of a second after
/// the start was allocated, in seconds.
pub fn age_seconds(dump: &Dump, ds: u32) -> f64 {
    let alive = dump.process.dump_ns.saturating_sub(dump.process.start_ns) as f64 / 1e9;
    (alive - f64::from(ds) / 10.0).max(0.0)
}

pub fn analyse(mut input: Input, options: &ReportOptions) -> Analysis {
    let mut notes = Vec::new();
    if let Some(min_age) = options.older_than {
        let d = &mut input.dump;
        if d.has_block_times() {
            let alive = d.process.dump_ns.saturating_sub(d.process.start_ns) as f64 / 1e9;
            d.blocks
                .retain(|b| alive - f64::from(b.allocated_ds) / 10.0 >= min_age);
        } else {
            notes.push("the dump records no allocation times (leaktrace before 1.1): --older-than is ignored".to_string());
        }
    }
    let mut symbols = Symbolizer::new(&input.dump.modules, options.debug_roots());
    let sites = group::sites(&input.dump, &mut symbols, options.group_by);
    let total_sites = sites.len();
    let shown = sites
        .iter()
        .take_while(|s| s.bytes >= options.min_bytes)
        .count()
        .min(options.top.unwrap_or(usize::MAX));
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
        shown,
        total_sites,
        leaked_bytes,
        leaked_blocks,
        warnings: notes.into_iter().chain(symbols.warnings).collect(),
        incomplete: symbols.incomplete,
    }
}

impl Analysis {
    /// The sites `--top` and `--min-bytes` keep.
    pub fn shown_sites(&self) -> &[Site] {
        &self.sites[..self.shown]
    }
}
