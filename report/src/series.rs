//! Growth over time: several dumps of one process (its snapshots, and its
//! final dump), each call site's live bytes and blocks at each, and how
//! fast and how steadily it grew. A site that only grows is the likeliest
//! leak, so those come first, fastest first. When dumps are classified, a
//! site also says whether what grew is lost or still reachable (a lost
//! pointer is a different bug from an unbounded cache), and sites whose
//! lost bytes grew come before all others.

use crate::analysis::Analysis;
use crate::collate::{group_in_order, Cut};
use crate::group::{place_key, GroupBy, Site};
use crate::symbolize::Frame;
use leaktrace_format::Kind;

/// What a block found by the pointer scan is, for growth: lost (definite
/// or indirect), possibly lost, still reachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Lost,
    Possible,
    Reachable,
}

impl Class {
    pub const ALL: [Class; 3] = [Class::Lost, Class::Possible, Class::Reachable];

    fn of(kind: Kind) -> Option<Class> {
        match kind {
            Kind::Definite | Kind::Indirect => Some(Class::Lost),
            Kind::Possible => Some(Class::Possible),
            Kind::Reachable => Some(Class::Reachable),
            Kind::Unknown => None,
        }
    }

    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Class::Lost => "lost",
            Class::Possible => "possible",
            Class::Reachable => "reachable",
        }
    }

    /// The text's words.
    pub fn words(self) -> &'static str {
        match self {
            Class::Lost => "lost",
            Class::Possible => "possibly lost",
            Class::Reachable => "still reachable",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One dump of the series.
pub struct Point {
    pub path: String,
    pub snapshot: u32,
    pub trigger: String,
    pub dump_ns: u64,
    /// Seconds since the first dump of the series.
    pub seconds: f64,
    /// Every block live at the dump, whatever its kind.
    pub leaked_bytes: u64,
    pub leaked_blocks: u64,
    /// Whether the dump's blocks were classified.
    pub classified: bool,
}

/// One call site through the series.
pub struct Trend {
    pub frames: Vec<Frame>,
    pub key_frame: usize,
    /// Live bytes and blocks at each point (0 where the site had none).
    pub bytes: Vec<u64>,
    pub blocks: Vec<u64>,
    /// Least-squares slope of `bytes` over time.
    pub bytes_per_second: f64,
    /// Intervals between consecutive points where the bytes rose, fell.
    pub grew: usize,
    pub shrank: usize,
    /// Bytes of each [`Class`] (in the order of [`Class::ALL`]) at each
    /// point; `None` at points that were not classified.
    pub by_class: [Vec<Option<u64>>; 3],
    /// The classes whose bytes grew, most first: from the first to the last
    /// classified point, or those present at the only classified point.
    pub growth: Vec<Class>,
}

impl Trend {
    /// Rose at least once and never fell.
    pub fn only_grows(&self) -> bool {
        self.grew > 0 && self.shrank == 0
    }

    /// Its lost bytes grew (and it grew at all): ranked first.
    pub fn lost_growth(&self) -> bool {
        self.grew > 0 && self.growth.contains(&Class::Lost)
    }

    /// The bytes of `class` at each point (`None` where not classified).
    pub fn class_bytes(&self, class: Class) -> &[Option<u64>] {
        &self.by_class[class.index()]
    }
}

/// The classes whose bytes grew between the first and the last classified
/// point (with one classified point, those it holds), most bytes first.
fn growth_classes(by_class: &[Vec<Option<u64>>; 3]) -> Vec<Class> {
    let mut grown: Vec<(Class, u64)> = Class::ALL
        .iter()
        .filter_map(|&c| {
            let known: Vec<u64> = by_class[c.index()].iter().flatten().copied().collect();
            let delta = match known.as_slice() {
                [] => 0,
                [only] => *only,
                [first, .., last] => last.saturating_sub(*first),
            };
            (delta > 0).then_some((c, delta))
        })
        .collect();
    grown.sort_by_key(|g| std::cmp::Reverse(g.1));
    grown.into_iter().map(|(c, _)| c).collect()
}

pub struct Series {
    pub pid: u32,
    pub exe: String,
    pub points: Vec<Point>,
    pub trends: Vec<Trend>,
    /// Trends before `--top` and `--min-bytes`.
    pub total_sites: usize,
}

/// Builds the series of `analyses`, all of one process, in time order.
/// `cut` (`--top`, `--min-bytes` on the latest bytes) cuts the list of
/// sites.
pub fn build(analyses: &[&Analysis], by: GroupBy, cut: Cut) -> Series {
    let first_ns = analyses.first().map_or(0, |a| a.input.dump.process.dump_ns);
    let points: Vec<Point> = analyses
        .iter()
        .map(|a| {
            let p = &a.input.dump.process;
            Point {
                path: a.input.path.clone(),
                snapshot: p.snapshot,
                trigger: p.trigger.name(),
                dump_ns: p.dump_ns,
                seconds: p.dump_ns.saturating_sub(first_ns) as f64 / 1e9,
                leaked_bytes: a.live.bytes,
                leaked_blocks: a.live.blocks,
                classified: a.classified,
            }
        })
        .collect();
    let classified: Vec<bool> = points.iter().map(|p| p.classified).collect();
    let at_points = analyses
        .iter()
        .enumerate()
        .flat_map(|(i, a)| a.sites.iter().map(move |s| (i, s)));
    let times: Vec<f64> = points.iter().map(|p| p.seconds).collect();
    let mut trends: Vec<Trend> = group_in_order(at_points, |(_, s)| place_key(s, by))
        .into_iter()
        .map(|group| {
            let mut t = empty_trend(group[0].1, &classified);
            for (i, site) in group {
                t.bytes[i] += site.bytes;
                t.blocks[i] += site.blocks;
                if let Some(c) = Class::of(site.kind) {
                    if let Some(v) = t.by_class[c.index()][i].as_mut() {
                        *v += site.bytes;
                    }
                }
            }
            t.bytes_per_second = slope(&times, &t.bytes);
            for w in t.bytes.windows(2) {
                t.grew += usize::from(w[1] > w[0]);
                t.shrank += usize::from(w[1] < w[0]);
            }
            t.growth = growth_classes(&t.by_class);
            t
        })
        .collect();
    trends.sort_by(|a, b| {
        b.lost_growth()
            .cmp(&a.lost_growth())
            .then(b.only_grows().cmp(&a.only_grows()))
            .then(b.bytes_per_second.total_cmp(&a.bytes_per_second))
            .then(b.bytes.last().cmp(&a.bytes.last()))
    });
    let total_sites = trends.len();
    let trends = cut.apply(trends, |t| t.bytes.last().copied().unwrap_or(0));
    let p = &analyses[0].input.dump.process;
    Series {
        pid: p.pid,
        exe: p.exe.clone(),
        points,
        trends,
        total_sites,
    }
}

fn empty_trend(site: &Site, classified: &[bool]) -> Trend {
    let n = classified.len();
    let none_or_zero: Vec<Option<u64>> = classified.iter().map(|&c| c.then_some(0)).collect();
    Trend {
        frames: site.frames.clone(),
        key_frame: site.key_frame,
        bytes: vec![0; n],
        blocks: vec![0; n],
        bytes_per_second: 0.0,
        grew: 0,
        shrank: 0,
        by_class: [none_or_zero.clone(), none_or_zero.clone(), none_or_zero],
        growth: Vec::new(),
    }
}

/// Least-squares slope of `ys` over `xs`; 0 when the times do not spread.
fn slope(xs: &[f64], ys: &[u64]) -> f64 {
    let n = xs.len() as f64;
    if xs.len() < 2 {
        return 0.0;
    }
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().map(|&y| y as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (&x, &y) in xs.iter().zip(ys) {
        num += (x - mx) * (y as f64 - my);
        den += (x - mx) * (x - mx);
    }
    if den > 0.0 {
        num / den
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::{growth_classes, slope, Class};

    #[test]
    fn classes_that_grew() {
        let none = vec![None, None, None];
        assert!(growth_classes(&[none.clone(), none.clone(), none.clone()]).is_empty());
        // Only the last point classified: what it holds.
        let last = |v: u64| vec![None, None, Some(v)];
        assert_eq!(
            growth_classes(&[last(10), last(0), last(30)]),
            [Class::Reachable, Class::Lost]
        );
        // Several classified points: what rose from the first to the last.
        let all = |a: u64, b: u64, c: u64| vec![Some(a), Some(b), Some(c)];
        assert_eq!(
            growth_classes(&[all(5, 10, 20), all(1, 1, 1), all(30, 10, 0)]),
            [Class::Lost]
        );
        assert_eq!(
            growth_classes(&[all(5, 5, 5), all(0, 0, 0), all(0, 10, 20)]),
            [Class::Reachable]
        );
    }

    #[test]
    fn slope_of_a_line() {
        assert_eq!(slope(&[0.0, 1.0, 2.0], &[10, 20, 30]), 10.0);
        assert_eq!(slope(&[0.0, 2.0], &[100, 0]), -50.0);
        assert_eq!(slope(&[1.0, 1.0], &[5, 9]), 0.0);
        assert_eq!(slope(&[1.0], &[5]), 0.0);
    }
}
