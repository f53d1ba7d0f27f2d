//! Growth with kinds (issue #16, point 5): with classified dumps each
//! growing site says whether its bytes are lost or still reachable, and
//! lost growth ranks first. The dumps are built with the format crate's
//! writer.

mod common;

use leaktrace_format::*;
use leaktrace_report::analysis::Analysis;
use leaktrace_report::group::GroupBy;
use leaktrace_report::{json_growth, series, text, text_growth};

/// Snapshot `k` (0: the final dump) of one process, `k` seconds in (the
/// final dump at 3 s): `10 * n` lost 100-byte blocks (stack 1) and
/// `10 * n` reachable 200-byte blocks (stack 2), n = 1, 2, 3; kinds only
/// when `classified`.
fn dump(n: u64, snapshot: u32, classified: bool) -> Analysis {
    let mut blocks = Vec::new();
    for i in 0..10 * n {
        for (stack, size, kind) in [(1, 100, Kind::Definite), (2, 200, Kind::Reachable)] {
            blocks.push(Block {
                address: 0x10_0000 + (i * 2 + u64::from(stack)) * 0x1000,
                size,
                stack,
                allocated_ds: 0,
                kind: if classified { kind } else { Kind::Unknown },
            });
        }
    }
    let d = Dump {
        version_minor: VERSION_MINOR,
        process: ProcessInfo {
            pid: 88,
            ppid: 1,
            start_ns: 1_000_000_000_000,
            dump_ns: 1_000_000_000_000 + n * 1_000_000_000,
            trigger: if snapshot == 0 {
                Trigger::Exit
            } else {
                Trigger::Signal
            },
            snapshot,
            exe: "/bin/grow".into(),
            cmdline: vec!["grow".into()],
        },
        totals: Totals::default(),
        modules: Vec::new(),
        stacks: vec![
            Stack {
                id: 1,
                pcs: vec![0x1000],
            },
            Stack {
                id: 2,
                pcs: vec![0x2000],
            },
        ],
        blocks,
        sample_bytes: None,
        memory: None,
        owners: Vec::new(),
        ..Dump::default()
    };
    let dump = parse(&write_dump(&d, Vec::new()).unwrap()).unwrap();
    common::analysed(dump, &[], "")
}

fn series_of(classified: [bool; 3]) -> series::Series {
    let dumps = [
        dump(1, 1, classified[0]),
        dump(2, 2, classified[1]),
        dump(3, 0, classified[2]),
    ];
    let refs: Vec<&Analysis> = dumps.iter().collect();
    series::build(&refs, GroupBy::Stack, Default::default())
}

#[test]
fn lost_growth_ranks_before_a_faster_cache() {
    let s = series_of([true; 3]);
    let text = text_growth::render_series(&s, &text::Style { on: false });
    let sites: Vec<&str> = text.split("\n\n").skip(3).collect();
    assert_eq!(sites.len(), 2, "{text}");
    assert!(
        sites[0].starts_with(
            "+1,000 bytes/s, grew in 2 of 2 intervals, never shrank, lost  (site 1 of 2)\n    bytes:  1,000 → 2,000 → 3,000\n    blocks: 10 → 20 → 30\n    lost:   1,000 → 2,000 → 3,000\n"
        ),
        "{text}"
    );
    assert!(
        sites[1].starts_with(
            "+2,000 bytes/s, grew in 2 of 2 intervals, never shrank, still reachable  (site 2 of 2)\n    bytes:  2,000 → 4,000 → 6,000\n    blocks: 10 → 20 → 30\n    still reachable: 2,000 → 4,000 → 6,000\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("SITES BY GROWTH (lost growth first"),
        "{text}"
    );

    let j = serde_json::to_value(json_growth::series(&s)).unwrap();
    assert!(j["dumps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["classified"] == true));
    let first = &j["sites"][0];
    assert_eq!(first["lost_bytes"], serde_json::json!([1000, 2000, 3000]));
    assert_eq!(first["reachable_bytes"], serde_json::json!([0, 0, 0]));
    assert_eq!(first["growth_kinds"], serde_json::json!(["lost"]));
    assert_eq!(first["lost_growth"], true);
    let second = &j["sites"][1];
    assert_eq!(second["bytes_per_second"], 2000.0);
    assert_eq!(second["growth_kinds"], serde_json::json!(["reachable"]));
    assert_eq!(second["lost_growth"], false);
}

#[test]
fn only_the_final_dump_classified() {
    let s = series_of([false, false, true]);
    let text = text_growth::render_series(&s, &text::Style { on: false });
    assert!(
        text.contains("never shrank, lost  (site 1 of 2)\n")
            && text.contains("    lost:   ? → ? → 3,000\n")
            && text.contains("    still reachable: ? → ? → 6,000\n"),
        "{text}"
    );
    let j = serde_json::to_value(json_growth::series(&s)).unwrap();
    assert_eq!(
        j["sites"][0]["lost_bytes"],
        serde_json::json!([null, null, 3000])
    );
    assert_eq!(j["dumps"][0]["classified"], false);
}

#[test]
fn unclassified_series_are_as_before() {
    let s = series_of([false; 3]);
    let text = text_growth::render_series(&s, &text::Style { on: false });
    assert!(
        text.contains("SITES BY GROWTH (sites that only grew first, then by bytes per second)"),
        "{text}"
    );
    assert!(
        text.contains("+2,000 bytes/s, grew in 2 of 2 intervals, never shrank  (site 1 of 2)"),
        "{text}"
    );
    assert!(!text.contains("lost"), "{text}");
    let j = serde_json::to_value(json_growth::series(&s)).unwrap();
    assert_eq!(j["sites"][0]["growth_kinds"], serde_json::json!([]));
    assert_eq!(j["sites"][0]["lost_growth"], false);
}
