//! The report's core on dumps built in memory (issue 17, point 7):
//! grouping, analysis (kinds, totals, --top, --min-bytes, suppressions),
//! --diff, growth, and the text and JSON of each, to the byte.

mod common;

use common::*;
use leaktrace_format::Kind;
use leaktrace_report::analysis::{fails, Amount, FailOn};
use leaktrace_report::group::GroupBy;
use leaktrace_report::{diff, json_growth, series, text, text_growth};

/// pid 10 of /bin/app, 20 s old:
/// stack 1 `[fake]+0x100 ← 0x200`: 3 definite blocks of 100, 200 and 300
/// bytes, and one reachable 10-byte block;
/// stack 2, the same addresses under another id: one definite 50-byte block;
/// stack 3 `[fake]+0x100 ← 0x300` (same innermost frame): one possible
/// 1,000-byte block;
/// stack 4 in `[other]`: one definite 5,000-byte block.
fn app() -> Fake {
    Fake::new(10, "/bin/app", 20)
        .stack(1, &[0x100, 0x200])
        .stack(2, &[0x100, 0x200])
        .stack(3, &[0x100, 0x300])
        .other_stack(4, &[0x40])
        .blocks(1, 100, 1, Kind::Definite, 10)
        .blocks(1, 200, 1, Kind::Definite, 20)
        .blocks(1, 300, 1, Kind::Definite, 150)
        .blocks(1, 10, 1, Kind::Reachable, 0)
        .blocks(1, 50, 2, Kind::Definite, 190)
        .blocks(1, 1000, 3, Kind::Possible, 0)
        .blocks(1, 5000, 4, Kind::Definite, 0)
}

/// app()'s sites, the definite one at `[fake]+0x100` holding `bytes` in
/// `blocks`.
fn app_sites(bytes: u64, blocks: u64) -> Vec<(Kind, u64, u64, String)> {
    vec![
        (Kind::Definite, 5000, 1, "[other]+0x40".to_string()),
        (Kind::Possible, 1000, 1, "[fake]+0x100".to_string()),
        (Kind::Definite, bytes, blocks, "[fake]+0x100".to_string()),
        (Kind::Reachable, 10, 1, "[fake]+0x100".to_string()),
    ]
}

/// Each site's (kind, bytes, blocks, innermost frame) in order.
fn sites_of(a: &leaktrace_report::analysis::Analysis) -> Vec<(Kind, u64, u64, String)> {
    a.sites
        .iter()
        .map(|s| (s.kind, s.bytes, s.blocks, text::site_name(s)))
        .collect()
}

#[test]
fn blocks_group_by_stack_and_kind_biggest_first() {
    let a = app().analyse(&["--show-reachable"]);
    // Stacks 1 and 2 are one site: the same addresses.
    assert_eq!(sites_of(&a), app_sites(650, 4));
    let frames: Vec<String> = a.sites[2]
        .frames
        .iter()
        .map(|f| {
            format!(
                "{}+{:#x} {:#x} {:?}",
                f.module, f.offset, f.address, f.function
            )
        })
        .collect();
    assert_eq!(
        frames,
        [
            "[fake]+0x100 0x555500000100 None",
            "[fake]+0x200 0x555500000200 None",
        ]
    );
    // Allocation times: the earliest and the latest block of the site.
    let t = a.sites[2].times.unwrap();
    assert_eq!((t.first_ds, t.last_ds), (10, 190));
}

#[test]
fn by_function_stacks_with_the_same_innermost_frame_merge() {
    let a = app().analyse(&["--group-by", "function"]);
    assert_eq!(sites_of(&a), app_sites(650, 4));
    // Two stacks of one kind under one function: one site, with the stack
    // of its biggest member.
    let a = Fake::new(11, "/bin/app", 1)
        .stack(1, &[0x100, 0x200])
        .stack(2, &[0x100, 0x300])
        .blocks(2, 10, 1, Kind::Definite, 0)
        .blocks(1, 30, 2, Kind::Definite, 0)
        .analyse(&["--group-by", "function"]);
    assert_eq!(a.sites.len(), 1);
    assert_eq!((a.sites[0].bytes, a.sites[0].blocks), (50, 3));
    assert_eq!(a.sites[0].frames[1].offset, 0x300);
    let by_stack = Fake::new(11, "/bin/app", 1)
        .stack(1, &[0x100, 0x200])
        .stack(2, &[0x100, 0x300])
        .blocks(2, 10, 1, Kind::Definite, 0)
        .blocks(1, 30, 2, Kind::Definite, 0)
        .analyse(&[]);
    assert_eq!(by_stack.sites.len(), 2);
}

#[test]
fn totals_by_kind_with_suppressions() {
    let amount = |bytes, blocks| Amount { bytes, blocks };
    let a = analysed(app().written(), &[], "leak:other\n");
    let t = &a.totals;
    assert_eq!(t.definite, amount(650, 4));
    assert_eq!(t.indirect, amount(0, 0));
    assert_eq!(t.possible, amount(1000, 1));
    assert_eq!(t.reachable, amount(10, 1));
    assert_eq!(t.suppressed, amount(5000, 1));
    assert_eq!(t.unclassified, amount(0, 0));
    assert_eq!(a.leaked(), amount(650, 4));
    assert_eq!(a.live, amount(6660, 7));
    assert!(a.classified && a.reachable_hidden);
    // Numbered among the sites shown and not suppressed.
    assert_eq!(a.suppressed_by[0].as_deref(), Some("other"));
    assert_eq!(a.numbers, [None, Some(1), Some(2), None]);
    assert_eq!((a.shown.clone(), a.total_sites), (vec![1, 2], 2));
    assert!(fails(&a, &[FailOn::Definite]) && fails(&a, &[FailOn::Possible]));
    assert!(!fails(&a, &[FailOn::Indirect]));

    let all = app().analyse(&["--show-reachable"]);
    assert_eq!(all.shown, [0, 1, 2, 3]);
    assert_eq!(all.totals.definite, amount(5650, 5));
    assert!(!all.reachable_hidden);
}

#[test]
fn top_and_min_bytes_cut_the_sites_not_the_totals() {
    let a = app().analyse(&["--top", "2"]);
    assert_eq!((a.shown.clone(), a.total_sites), (vec![0, 1], 3));
    let a = app().analyse(&["--min-bytes", "1000"]);
    assert_eq!(a.shown, [0, 1]);
    let a = app().analyse(&["--min-bytes", "1000", "--top", "1"]);
    assert_eq!(a.shown, [0]);
    assert_eq!(a.totals.definite.bytes, 5650);
    let a = app().analyse(&["--min-bytes", "1000000"]);
    assert!(a.shown.is_empty());
    assert_eq!(a.numbers, [Some(1), Some(2), Some(3), None]);
}

#[test]
fn older_than_keeps_the_old_blocks() {
    // 20 s old: blocks at 1 s, 2 s, 15 s, 19 s. 10 s or older: 1 s and 2 s,
    // and the 0-ds blocks.
    let a = app().analyse(&["--older-than", "10s"]);
    assert_eq!(sites_of(&a), app_sites(300, 2));
}

#[test]
fn an_unclassified_dump_counts_every_block_as_not_freed() {
    let a = Fake::new(12, "/bin/app", 3)
        .snapshot(1)
        .stack(1, &[0x100])
        .blocks(4, 25, 1, Kind::Unknown, 0)
        .analyse(&[]);
    assert!(!a.classified);
    assert_eq!(
        a.totals.unclassified,
        Amount {
            bytes: 100,
            blocks: 4
        }
    );
    assert_eq!(
        a.leaked(),
        Amount {
            bytes: 100,
            blocks: 4
        }
    );
    assert!(fails(&a, &[FailOn::Definite]));
    let text = text_of(&a);
    assert_has(&text, "\n         not freed: 100 bytes in 4 blocks\n");
    assert_has(&text, "\n100 bytes in 4 blocks  (site 1 of 1)\n");
}

#[test]
fn the_text_report_to_the_byte() {
    let a = analysed(app().written(), &[], "leak:other\n");
    let expected = "\
leaktrace: /bin/app (pid 10, ppid 1), ended by exit after 20.00 s
command: app -x
dump: lt.10.bin

LEAK SUMMARY
   definitely lost: 650 bytes in 4 blocks
   indirectly lost: 0 bytes in 0 blocks
     possibly lost: 1,000 bytes in 1 block
   still reachable: 10 bytes in 1 block
        suppressed: 5,000 bytes in 1 block
   call sites:  2 call sites (--show-reachable for the blocks still in use)
   allocated:   0 bytes in 0 allocations; 0 frees
   peak:        0 bytes in 0 blocks

1,000 bytes in 1 block, possibly lost  (site 1 of 2)
    allocated 20.0 s before the dump
    at ???  [fake]+0x100 0x555500000100
    by ???  [fake]+0x300 0x555500000300

650 bytes in 4 blocks, definitely lost  (site 2 of 2)
    allocated 19.0 s to 1.0 s before the dump
    at ???  [fake]+0x100 0x555500000100
    by ???  [fake]+0x200 0x555500000200
";
    assert_eq!(text_of(&a), expected);
    let cut = text_of(&analysed(app().written(), &["--top", "1"], ""));
    assert_has(&cut, "\n   shown:       1 of 3 call sites\n");
    assert_eq!(
        headlines(&cut),
        ["5,000 bytes in 1 block, definitely lost  (site 1 of 3)"]
    );
}

#[test]
fn the_json_report() {
    let a = analysed(app().written(), &["--top", "2"], "leak:other\n");
    let j = json_of(&a);
    assert_eq!(j["pid"], 10);
    assert_eq!(j["exe"], "/bin/app");
    assert_eq!(j["trigger"], "exit");
    assert_eq!(j["dump"], "lt.10.bin");
    let t = &j["totals"];
    for (field, value) in [
        ("leaked_bytes", 650),
        ("leaked_blocks", 4),
        ("definite_bytes", 650),
        ("possible_bytes", 1000),
        ("reachable_bytes", 10),
        ("suppressed_bytes", 5000),
        ("live_bytes", 6660),
        ("live_blocks", 7),
        ("sites", 2),
    ] {
        assert_eq!(t[field], value, "totals.{field}");
    }
    assert_eq!(t["classified"], true);
    let sites = j["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 2);
    let s = &sites[1];
    assert_eq!(
        (s["id"].as_u64(), s["kind"].as_str()),
        (Some(2), Some("definite"))
    );
    assert_eq!(
        (s["bytes"].as_u64(), s["blocks"].as_u64()),
        (Some(650), Some(4))
    );
    assert_eq!(s["oldest_age_s"], 19.0);
    assert_eq!(s["newest_age_s"], 1.0);
    assert!(s["function"].is_null());
    let f = &s["frames"][1];
    assert_eq!(f["module"], "[fake]");
    assert_eq!(f["offset"], "0x200");
    assert_eq!(f["address"], "0x555500000200");
}

/// Dump `k` of pid 20 at `k` seconds (0: the final dump, at 4 s): site A
/// grows 100 bytes a second, site B shrinks, site C appears in the final.
fn grower(k: u64) -> leaktrace_report::analysis::Analysis {
    let at = if k == 0 { 4 } else { k };
    let f = Fake::new(20, "/bin/grow", at)
        .stack(1, &[0xa0])
        .stack(2, &[0xb0])
        .stack(3, &[0xc0])
        .blocks(at as usize, 100, 1, Kind::Unknown, 0)
        .blocks(5 - at as usize, 7, 2, Kind::Unknown, 0);
    let f = if k == 0 {
        f.blocks(1, 3, 3, Kind::Unknown, 0)
    } else {
        f.snapshot(k as u32)
    };
    f.analyse(&[])
}

#[test]
fn a_diff_lists_what_grew_most_first() {
    let (before, after) = (grower(1), grower(0));
    let d = diff::build(&before, &after, GroupBy::Stack, Default::default());
    let got: Vec<(String, u64, u64, i64, bool)> = d
        .changes
        .iter()
        .map(|c| {
            (
                format!("{:#x}", c.frames[0].offset),
                c.bytes_before,
                c.bytes_after,
                c.blocks_added(),
                c.is_new(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("0xa0".to_string(), 100, 400, 3, false),
            ("0xc0".to_string(), 0, 3, 1, true),
        ]
    );
    assert_eq!((d.net_bytes, d.net_blocks), (400 + 7 + 3 - 100 - 28, 1));
    assert_eq!(d.total_changes, 2);
    let cut = leaktrace_report::collate::Cut {
        top: None,
        min_bytes: 10,
    };
    let d = diff::build(&before, &after, GroupBy::Stack, cut);
    assert_eq!((d.changes.len(), d.total_changes), (1, 2));
    let text = text_growth::render_diff(&d, &text::Style { on: false });
    assert_has(
        &text,
        "\n   live:        +282 bytes in +1 blocks\n   grown:       2 call sites\n",
    );
    assert_has(&text, "\n+300 bytes in +3 blocks  (100 → 400 bytes, 1 → 4 blocks)\n    at ???  [fake]+0xa0 0x5555000000a0\n");
    let j = serde_json::to_value(json_growth::diff(&d)).unwrap();
    assert_eq!(j["kind"], "diff");
    assert_eq!(j["seconds"], 3.0);
    assert_eq!(j["sites"][0]["bytes_added"], 300);
    assert_eq!(j["total_sites"], 2);
}

#[test]
fn growth_over_a_series() {
    let dumps = [grower(1), grower(2), grower(3), grower(0)];
    let refs: Vec<_> = dumps.iter().collect();
    let s = series::build(&refs, GroupBy::Stack, Default::default());
    assert_eq!(s.pid, 20);
    let seconds: Vec<f64> = s.points.iter().map(|p| p.seconds).collect();
    assert_eq!(seconds, [0.0, 1.0, 2.0, 3.0]);
    let got: Vec<(u64, Vec<u64>, f64, bool)> = s
        .trends
        .iter()
        .map(|t| {
            (
                t.frames[0].offset,
                t.bytes.clone(),
                t.bytes_per_second,
                t.only_grows(),
            )
        })
        .collect();
    // Only growing first (fastest first), then the rest.
    assert_eq!(
        got,
        [
            (0xa0, vec![100, 200, 300, 400], 100.0, true),
            (0xc0, vec![0, 0, 0, 3], 0.9, true),
            (0xb0, vec![28, 21, 14, 7], -7.0, false),
        ]
    );
    let cut = leaktrace_report::collate::Cut {
        top: Some(1),
        min_bytes: 0,
    };
    let top = series::build(&refs, GroupBy::Stack, cut);
    assert_eq!((top.trends.len(), top.total_sites), (1, 3));
    let text = text_growth::render_series(&top, &text::Style { on: false });
    assert!(
        text.starts_with("leaktrace: growth of /bin/grow (pid 20) over 4 dumps and 3.00 s\n"),
        "{text}"
    );
    assert_has(&text, "\n+100 bytes/s, grew in 3 of 3 intervals, never shrank  (site 1 of 3)\n    bytes:  100 → 200 → 300 → 400\n    blocks: 1 → 2 → 3 → 4\n");
    let j = serde_json::to_value(json_growth::series(&top)).unwrap();
    assert_eq!(j["kind"], "growth");
    assert_eq!(
        j["sites"][0]["bytes"],
        serde_json::json!([100, 200, 300, 400])
    );
    assert_eq!(j["sites"][0]["only_grows"], true);
}
