//! Growth over time: several dumps of one process (its snapshots, and its
//! final dump), each call site's live bytes and blocks at each, and how
//! fast and how steadily it grew. A site that only grows is the likeliest
//! leak, so those come first, fastest first.

use crate::analysis::Analysis;
use crate::group::{place_key, GroupBy, Site};
use crate::symbolize::Frame;
use std::collections::HashMap;

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
}

impl Trend {
    /// Rose at least once and never fell.
    pub fn only_grows(&self) -> bool {
        self.grew > 0 && self.shrank == 0
    }
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
/// `top` and `min_bytes` (on the latest bytes) cut the list of sites.
pub fn build(analyses: &[&Analysis], by: GroupBy, top: Option<usize>, min_bytes: u64) -> Series {
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
            }
        })
        .collect();
    let n = analyses.len();
    let mut order: Vec<String> = Vec::new();
    let mut trends: HashMap<String, Trend> = HashMap::new();
    for (i, a) in analyses.iter().enumerate() {
        for site in &a.sites {
            let key = place_key(site, by);
            let t = trends.entry(key.clone()).or_insert_with(|| {
                order.push(key);
                empty_trend(site, n)
            });
            t.bytes[i] += site.bytes;
            t.blocks[i] += site.blocks;
        }
    }
    let times: Vec<f64> = points.iter().map(|p| p.seconds).collect();
    let mut trends: Vec<Trend> = order
        .into_iter()
        .filter_map(|k| trends.remove(&k))
        .map(|mut t| {
            t.bytes_per_second = slope(&times, &t.bytes);
            for w in t.bytes.windows(2) {
                t.grew += usize::from(w[1] > w[0]);
                t.shrank += usize::from(w[1] < w[0]);
            }
            t
        })
        .collect();
    trends.sort_by(|a, b| {
        b.only_grows()
            .cmp(&a.only_grows())
            .then(b.bytes_per_second.total_cmp(&a.bytes_per_second))
            .then(b.bytes.last().cmp(&a.bytes.last()))
    });
    let total_sites = trends.len();
    let trends = trends
        .into_iter()
        .filter(|t| t.bytes.last().copied().unwrap_or(0) >= min_bytes)
        .take(top.unwrap_or(usize::MAX))
        .collect();
    let p = &analyses[0].input.dump.process;
    Series {
        pid: p.pid,
        exe: p.exe.clone(),
        points,
        trends,
        total_sites,
    }
}

fn empty_trend(site: &Site, n: usize) -> Trend {
    Trend {
        frames: site.frames.clone(),
        key_frame: site.key_frame,
        bytes: vec![0; n],
        blocks: vec![0; n],
        bytes_per_second: 0.0,
        grew: 0,
        shrank: 0,
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
    use super::slope;

    #[test]
    fn slope_of_a_line() {
        assert_eq!(slope(&[0.0, 1.0, 2.0], &[10, 20, 30]), 10.0);
        assert_eq!(slope(&[0.0, 2.0], &[100, 0]), -50.0);
        assert_eq!(slope(&[1.0, 1.0], &[5, 9]), 0.0);
        assert_eq!(slope(&[1.0], &[5]), 0.0);
    }
}
