//! Many processes at once: the dumps of a shell script, `make` or a test
//! suite, hundreds or thousands of them. Past a handful of processes
//! ([`FULL_REPORTS_UP_TO`]) the report is a summary rather than a whole
//! report a process (`--processes full` gives those): one line a process,
//! those that leak first, biggest first; and the leaks of all of them, where
//! the identical leaks of many processes of one program (the same
//! executable, the same site: stack or function, and kind) are one entry
//! with a count — 300 subshells of bash leaking the same 120 bytes at the
//! same stack are one leak "in 300 processes of bash".

use crate::analysis::{Amount, Analysis, Totals};
use crate::collate::{group_in_order, Cut};
use crate::group::{site_key, GroupBy, Site};

/// Up to this many processes, each gets its whole report (`--processes
/// auto`); more get the summary.
pub const FULL_REPORTS_UP_TO: usize = 5;

/// How to report the dumps of several processes (`--processes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum View {
    /// Whole reports up to 5 processes, the summary for more.
    Auto,
    /// One line a process and their leaks merged, however few.
    Summary,
    /// Every process's whole report, however many.
    Full,
}

impl View {
    /// Whether `processes` processes get the summary.
    pub fn summary_for(self, processes: usize) -> bool {
        match self {
            View::Auto => processes > FULL_REPORTS_UP_TO,
            View::Summary => true,
            View::Full => false,
        }
    }
}

/// One process: its latest dump.
pub struct Process<'a> {
    pub analysis: &'a Analysis,
    /// How many of its dumps were given (its snapshots and final dump).
    pub dumps: usize,
}

impl Process<'_> {
    /// Lost bytes and blocks (every block, when not classified).
    pub fn leaked(&self) -> Amount {
        self.analysis.leaked()
    }
}

/// One leak of one or more processes of one program.
pub struct Leak<'a> {
    /// The program's executable.
    pub exe: String,
    /// The site in the first of its processes (frames, kind): the others'
    /// match it.
    pub site: &'a Site,
    /// The processes, in the order they were given.
    pub pids: Vec<u32>,
    /// Summed over the processes.
    pub bytes: u64,
    pub blocks: u64,
    pub indirect_bytes: u64,
    pub indirect_blocks: u64,
    /// The least and the most total bytes of one process.
    pub each_bytes: (u64, u64),
    /// The least and the most blocks of one process.
    pub each_blocks: (u64, u64),
    /// For an indirect leak: the leak (index in [`Summary::leaks`]) of the
    /// definite site owning most of its bytes in its first process, when
    /// that site is listed.
    pub owner: Option<usize>,
    /// The function of that owning site, even when it is not listed.
    pub owner_site: Option<&'a Site>,
    /// Any of its dumps sampled: figures are estimates.
    pub sampled: bool,
}

impl Leak<'_> {
    /// Own and owned bytes: what leaks are ranked by.
    pub fn total_bytes(&self) -> u64 {
        self.bytes + self.indirect_bytes
    }
}

pub struct Summary<'a> {
    /// Leaking processes first, most bytes lost first, then those with
    /// possibly lost bytes, most first; the rest in the order given.
    pub processes: Vec<Process<'a>>,
    /// Dumps read.
    pub dumps: usize,
    /// Summed over the processes (their latest dumps).
    pub totals: Totals,
    pub live: Amount,
    /// Processes whose dumps were not classified.
    pub unclassified: usize,
    /// Processes with a sampled dump (figures are estimates).
    pub sampled: usize,
    /// The leaks shown, biggest first (after `--top`, `--min-bytes`).
    pub leaks: Vec<Leak<'a>>,
    /// Leaks before `--top` and `--min-bytes`.
    pub total_leaks: usize,
    /// Some process has reachable sites it does not show.
    pub reachable_hidden: bool,
}

impl Summary<'_> {
    /// Processes that lose bytes (or hold any, when not classified).
    pub fn leaking(&self) -> usize {
        self.processes
            .iter()
            .filter(|p| p.leaked().blocks > 0)
            .count()
    }
}

/// Which process a dump is of: its pid and when it started.
pub fn identity(a: &Analysis) -> (u32, u64) {
    let p = &a.input.dump.process;
    (p.pid, p.start_ns)
}

/// Sums `b` into `a`.
fn add(a: &mut Amount, b: Amount) {
    a.bytes += b.bytes;
    a.blocks += b.blocks;
}

/// The summary of `analyses`, in the order given; a process with several
/// dumps counts with its latest. Each process's shown sites (the kinds
/// shown, not suppressed, its own `--top` and `--min-bytes`) are merged;
/// `cut` then applies to the merged leaks.
pub fn build(analyses: &[Analysis], by: GroupBy, cut: Cut) -> Summary<'_> {
    let mut processes: Vec<Process> = group_in_order(analyses, |a| identity(a))
        .into_iter()
        .filter_map(|dumps| {
            let latest = dumps
                .iter()
                .copied()
                .max_by_key(|a| a.input.dump.process.dump_ns)?;
            Some(Process {
                analysis: latest,
                dumps: dumps.len(),
            })
        })
        .collect();
    let mut totals = Totals::default();
    let mut live = Amount::default();
    for p in &processes {
        let t = &p.analysis.totals;
        for (sum, one) in [
            (&mut totals.definite, t.definite),
            (&mut totals.indirect, t.indirect),
            (&mut totals.possible, t.possible),
            (&mut totals.reachable, t.reachable),
            (&mut totals.unclassified, t.unclassified),
            (&mut totals.suppressed, t.suppressed),
            (&mut live, p.analysis.live),
        ] {
            add(sum, one);
        }
    }

    // Every shown site of every process, in the order the processes were
    // given, merged by program and site.
    let shown = processes.iter().flat_map(|p| {
        let a = p.analysis;
        a.shown.iter().map(move |&i| (a, i))
    });
    let key_of = |a: &Analysis, s: &Site| (a.input.dump.process.exe.clone(), site_key(s, by));
    let groups = group_in_order(shown, |&(a, i)| key_of(a, &a.sites[i]));
    let mut leaks: Vec<(Leak, (String, String))> = groups
        .into_iter()
        .map(|group| {
            let (first, i) = group[0];
            let site = &first.sites[i];
            let totals_of = |&(a, i): &(&Analysis, usize)| a.sites[i].total_bytes();
            let blocks_of = |&(a, i): &(&Analysis, usize)| a.sites[i].blocks;
            let leak = Leak {
                exe: first.input.dump.process.exe.clone(),
                site,
                pids: group
                    .iter()
                    .map(|(a, _)| a.input.dump.process.pid)
                    .collect(),
                bytes: group.iter().map(|&(a, i)| a.sites[i].bytes).sum(),
                blocks: group.iter().map(blocks_of).sum(),
                indirect_bytes: group.iter().map(|&(a, i)| a.sites[i].indirect_bytes).sum(),
                indirect_blocks: group.iter().map(|&(a, i)| a.sites[i].indirect_blocks).sum(),
                each_bytes: min_max(group.iter().map(totals_of)),
                each_blocks: min_max(group.iter().map(blocks_of)),
                owner: None,
                owner_site: site.owner.map(|o| &first.sites[o]),
                sampled: group
                    .iter()
                    .any(|(a, _)| a.input.dump.sample_bytes.is_some()),
            };
            let owner_key = site.owner.map(|o| key_of(first, &first.sites[o]));
            (leak, owner_key.unwrap_or_default())
        })
        .collect();
    leaks.sort_by(|(a, _), (b, _)| {
        b.total_bytes()
            .cmp(&a.total_bytes())
            .then(b.blocks.cmp(&a.blocks))
            .then(a.site.kind.cmp(&b.site.kind))
            .then(b.pids.len().cmp(&a.pids.len()))
    });
    let total_leaks = leaks.len();
    let leaks = cut.apply(leaks, |(l, _)| l.total_bytes());
    // Owners among the leaks listed.
    let index: std::collections::HashMap<(String, String), usize> = leaks
        .iter()
        .enumerate()
        .map(|(n, (l, _))| ((l.exe.clone(), site_key(l.site, by)), n))
        .collect();
    let leaks = leaks
        .into_iter()
        .map(|(mut l, owner_key)| {
            if l.owner_site.is_some() {
                l.owner = index.get(&owner_key).copied();
            }
            l
        })
        .collect();

    processes.sort_by(|a, b| {
        let (la, lb) = (a.leaked(), b.leaked());
        lb.bytes
            .cmp(&la.bytes)
            .then(lb.blocks.cmp(&la.blocks))
            .then(
                b.analysis
                    .totals
                    .possible
                    .bytes
                    .cmp(&a.analysis.totals.possible.bytes),
            )
    });

    Summary {
        dumps: analyses.len(),
        totals,
        live,
        unclassified: processes.iter().filter(|p| !p.analysis.classified).count(),
        sampled: processes
            .iter()
            .filter(|p| p.analysis.input.dump.sample_bytes.is_some())
            .count(),
        reachable_hidden: processes.iter().any(|p| p.analysis.reachable_hidden),
        processes,
        leaks,
        total_leaks,
    }
}

fn min_max(values: impl Iterator<Item = u64>) -> (u64, u64) {
    values.fold((u64::MAX, 0), |(lo, hi), v| (lo.min(v), hi.max(v)))
}
