//! One dump, analysed: its sites, which of them the user's filters show,
//! and its totals per kind (definite, indirect, possible, reachable,
//! suppressed).

use crate::cli::ReportOptions;
use crate::group::{self, Site};
use crate::input::Input;
use crate::suppress::Suppressions;
use crate::symbolize::{ObjectCache, Symbolizer};
use leaktrace_format::{Dump, Kind};

/// Bytes and blocks (estimates when the dump is sampled).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Amount {
    pub bytes: u64,
    pub blocks: u64,
}

impl Amount {
    /// Sums saturate: a dump from elsewhere may claim any size.
    fn add(&mut self, s: &Site) {
        self.plus(s.bytes, s.blocks);
    }

    fn plus(&mut self, bytes: u64, blocks: u64) {
        self.bytes = self.bytes.saturating_add(bytes);
        self.blocks = self.blocks.saturating_add(blocks);
    }
}

/// What the dump holds, by kind; suppressed sites count only there.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    pub definite: Amount,
    pub indirect: Amount,
    pub possible: Amount,
    pub reachable: Amount,
    /// Blocks of a dump that was not classified (a snapshot, a sampled run).
    pub unclassified: Amount,
    pub suppressed: Amount,
}

impl Totals {
    /// What counts as leaked: definite and indirect, or everything in a
    /// dump that was not classified.
    pub fn leaked(&self) -> Amount {
        let mut leaked = self.definite;
        for a in [self.indirect, self.unclassified] {
            leaked.plus(a.bytes, a.blocks);
        }
        leaked
    }
}

pub struct Analysis {
    pub input: Input,
    /// Every site, biggest first, of every kind.
    pub sites: Vec<Site>,
    /// The sites printed (indices into `sites`): the kinds shown, not
    /// suppressed, then `--min-bytes` and `--top`.
    pub shown: Vec<usize>,
    /// Each site's number in the report ("site N of M", JSON's `id`): its
    /// rank among the sites of the kinds shown that are not suppressed;
    /// `None` for the others.
    pub numbers: Vec<Option<usize>>,
    /// The dump says which lost block owns each indirect one, so definite
    /// sites carry the indirect bytes they own.
    pub owners_known: bool,
    /// The suppression that matched each site, if any.
    pub suppressed_by: Vec<Option<String>>,
    /// Sites of the kinds shown and not suppressed, before `--min-bytes`
    /// and `--top`.
    pub total_sites: usize,
    pub totals: Totals,
    /// Whether the dump's blocks were classified.
    pub classified: bool,
    /// Reachable sites exist and are not shown (no `--show-reachable`).
    pub reachable_hidden: bool,
    /// Every block of the dump (estimates when sampled).
    pub live: Amount,
    /// Problems met while reading or symbolizing, one line each.
    pub warnings: Vec<String>,
    /// A binary could not be read or did not match.
    pub incomplete: bool,
}

impl Analysis {
    /// The sites `--top` and `--min-bytes` and the kinds shown keep.
    pub fn shown_sites(&self) -> impl Iterator<Item = &Site> {
        self.shown.iter().map(|&i| &self.sites[i])
    }
    /// Definite and indirect bytes and blocks (everything, unclassified).
    pub fn leaked(&self) -> Amount {
        self.totals.leaked()
    }

    /// Keeps whole stacks only for the sites shown and the sites that own
    /// them; the others keep just the frame they are named after. Their
    /// bytes stay in the totals. A run over thousands of dumps then keeps
    /// what it prints, not every reachable stack of every process.
    pub fn drop_hidden_stacks(&mut self) {
        let mut keep = vec![false; self.sites.len()];
        for &i in &self.shown {
            keep[i] = true;
            if let Some(o) = self.sites[i].owner {
                keep[o] = true;
            }
        }
        for (site, keep) in self.sites.iter_mut().zip(keep) {
            if !keep && site.frames.len() > 1 {
                let named = site.frames.swap_remove(site.key_frame);
                site.frames = vec![named];
                site.key_frame = 0;
            }
        }
    }
}

/// How long before the dump a block allocated `ds` tenths of a second after
/// the start was allocated, in seconds.
pub fn age_seconds(dump: &Dump, ds: u32) -> f64 {
    let alive = dump.process.dump_ns.saturating_sub(dump.process.start_ns) as f64 / 1e9;
    (alive - f64::from(ds) / 10.0).max(0.0)
}

/// Whether sites of `kind` are printed.
pub fn kind_shown(kind: Kind, options: &ReportOptions) -> bool {
    kind != Kind::Reachable || options.show_reachable
}

/// Which sites an analysis builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// Every site of every kind: what growth over several dumps and
    /// `--diff` compare.
    Full,
    /// The sites a report of this one dump prints: still reachable blocks
    /// (unless shown) only count in the totals, and are not symbolized.
    Printed,
}

/// Analyses one dump on its own (see [`analyse_with`] for many).
pub fn analyse(input: Input, options: &ReportOptions, suppressions: &Suppressions) -> Analysis {
    let mut objects = ObjectCache::new(options.debug_roots());
    analyse_with(input, options, suppressions, &mut objects, Depth::Full)
}

/// Analyses one dump of many, symbolizing through `objects`, the files
/// already opened for the others.
pub fn analyse_with(
    mut input: Input,
    options: &ReportOptions,
    suppressions: &Suppressions,
    objects: &mut ObjectCache,
    depth: Depth,
) -> Analysis {
    let mut notes = Vec::new();
    if let Some(min_age) = options.older_than {
        let d = &mut input.dump;
        if d.has_block_times() {
            let alive = d.process.dump_ns.saturating_sub(d.process.start_ns) as f64 / 1e9;
            let keep: Vec<bool> = d
                .blocks
                .iter()
                .map(|b| alive - f64::from(b.allocated_ds) / 10.0 >= min_age)
                .collect();
            keep_blocks(d, &keep);
        } else {
            notes.push("the dump records no allocation times (leaktrace before 1.1): --older-than is ignored".to_string());
        }
    }
    let classified =
        input.dump.classified || input.dump.blocks.iter().any(|b| b.kind != Kind::Unknown);
    // Most blocks of most processes are still reachable: a run over
    // thousands of dumps need not symbolize what it will not print. (A
    // sampled dump's amounts are estimates made while grouping: kept whole.)
    let mut unlisted = Amount::default();
    if depth == Depth::Printed && !options.show_reachable && input.dump.sample_bytes.is_none() {
        unlisted = set_aside(&mut input.dump, Kind::Reachable);
    }
    let mut symbols = Symbolizer::new(&input.dump.modules, objects);
    let sites = group::sites(&input.dump, &mut symbols, options.group_by);
    let suppressed_by: Vec<Option<String>> = sites
        .iter()
        .map(|s| suppressions.matching(&s.frames).map(str::to_string))
        .collect();
    let mut totals = Totals {
        reachable: unlisted,
        ..Totals::default()
    };
    let mut live = unlisted;
    for (s, sup) in sites.iter().zip(&suppressed_by) {
        live.add(s);
        let slot = match (sup, s.kind) {
            (Some(_), Kind::Reachable) => &mut totals.reachable,
            (Some(_), _) => &mut totals.suppressed,
            (None, Kind::Definite) => &mut totals.definite,
            (None, Kind::Indirect) => &mut totals.indirect,
            (None, Kind::Possible) => &mut totals.possible,
            (None, Kind::Reachable) => &mut totals.reachable,
            (None, Kind::Unknown) => &mut totals.unclassified,
        };
        slot.add(s);
    }
    let candidates: Vec<usize> = (0..sites.len())
        .filter(|&i| suppressed_by[i].is_none() && kind_shown(sites[i].kind, options))
        .collect();
    let total_sites = candidates.len();
    let mut numbers = vec![None; sites.len()];
    for (n, &i) in candidates.iter().enumerate() {
        numbers[i] = Some(n + 1);
    }
    // On the total, as sites are ranked: a definite site leaks what it owns.
    let shown = options.cut().apply(candidates, |&i| sites[i].total_bytes());
    let owners_known = (0..input.dump.blocks.len()).any(|i| input.dump.owner(i).is_some());
    let reachable_hidden = !options.show_reachable && totals.reachable.blocks > 0;
    // Everything after this reads the sites. The blocks and stacks are the
    // bulk of a dump, and a run over thousands of dumps keeps every
    // analysis until it prints.
    release_blocks(&mut input.dump);
    Analysis {
        input,
        sites,
        shown,
        numbers,
        owners_known,
        suppressed_by,
        total_sites,
        totals,
        classified,
        reachable_hidden,
        live,
        warnings: notes.into_iter().chain(symbols.warnings).collect(),
        incomplete: symbols.incomplete,
    }
}

/// Removes the blocks of `kind` from `dump`; returns what they held.
fn set_aside(dump: &mut Dump, kind: Kind) -> Amount {
    let keep: Vec<bool> = dump.blocks.iter().map(|b| b.kind != kind).collect();
    let mut gone = Amount::default();
    for b in dump.blocks.iter().filter(|b| b.kind == kind) {
        gone.plus(b.size, 1);
    }
    if gone.blocks > 0 {
        keep_blocks(dump, &keep);
    }
    gone
}

/// Drops what grouping read: blocks, stacks and owners.
fn release_blocks(dump: &mut Dump) {
    dump.blocks = Vec::new();
    dump.stacks = Vec::new();
    dump.owners = Vec::new();
}

/// Keeps the blocks of `dump` whose `keep` is true, and their owners (an
/// owner that goes makes the blocks it owned ownerless).
fn keep_blocks(dump: &mut Dump, keep: &[bool]) {
    let mut new_index = vec![leaktrace_format::NO_OWNER; dump.blocks.len()];
    let mut n = 0u32;
    for (i, &k) in keep.iter().enumerate() {
        if k {
            new_index[i] = n;
            n += 1;
        }
    }
    if !dump.owners.is_empty() {
        let owners: Vec<u32> = (0..dump.blocks.len())
            .filter(|&i| keep[i])
            .map(|i| {
                dump.owner(i)
                    .map_or(leaktrace_format::NO_OWNER, |o| new_index[o])
            })
            .collect();
        dump.owners = owners;
    }
    let mut k = keep.iter();
    dump.blocks.retain(|_| k.next().copied().unwrap_or(false));
}

/// Which kinds `--fail-on` counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Definite,
    Indirect,
    Possible,
    /// Definite, indirect or possible.
    Any,
}

/// Whether the dump holds unsuppressed leaks `--fail-on` counts (blocks of
/// an unclassified dump count as definite).
pub fn fails(a: &Analysis, on: &[FailOn]) -> bool {
    let t = &a.totals;
    on.iter().any(|f| {
        let amounts: &[Amount] = match f {
            FailOn::Definite => &[t.definite, t.unclassified],
            FailOn::Indirect => &[t.indirect],
            FailOn::Possible => &[t.possible],
            FailOn::Any => &[t.definite, t.indirect, t.possible, t.unclassified],
        };
        amounts.iter().any(|a| a.blocks > 0)
    })
}
