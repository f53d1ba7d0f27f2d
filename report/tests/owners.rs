//! Loss records (issue #16, point 4): with the dump's `OWNERS` record a
//! definite site carries the indirect bytes it owns, sites rank by that
//! total, and an indirect site names its owner — in text, JSON and for
//! `--fail-on` alike. The dumps are built with the format crate's writer.

mod common;

use common::{analysed, headlines, json_of, text_of};
use leaktrace_format::*;
use leaktrace_report::analysis::{fails, FailOn};
use serde_json::Value;

fn block(i: u64, size: u64, stack: u32, kind: Kind, allocated_ds: u32) -> Block {
    Block {
        address: 0x10_0000 + i * 0x1000,
        size,
        stack,
        allocated_ds,
        kind,
    }
}

/// 10 lost 24-byte objects (stack 1) each owning a 4,000-byte buffer
/// (stack 2, indirect); one lost 1,000-byte block nothing owns (stack 3);
/// one reachable block (stack 4). The objects are 20 s old, the rest 2 s.
fn dump(with_owners: bool) -> Dump {
    let mut blocks = Vec::new();
    let mut owners = Vec::new();
    for i in 0..10 {
        blocks.push(block(i, 24, 1, Kind::Definite, 0));
        owners.push(NO_OWNER);
    }
    for i in 0..10 {
        blocks.push(block(10 + i, 4000, 2, Kind::Indirect, 180));
        owners.push(i as u32);
    }
    blocks.push(block(20, 1000, 3, Kind::Definite, 180));
    owners.push(NO_OWNER);
    blocks.push(block(21, 100, 4, Kind::Reachable, 180));
    owners.push(NO_OWNER);
    let d = Dump {
        version_minor: VERSION_MINOR,
        process: ProcessInfo {
            pid: 77,
            ppid: 1,
            start_ns: 1_000_000_000_000,
            dump_ns: 1_020_000_000_000,
            trigger: Trigger::Exit,
            snapshot: 0,
            exe: "/bin/owned".into(),
            cmdline: vec!["owned".into()],
        },
        totals: Totals::default(),
        modules: Vec::new(),
        stacks: (1..=4)
            .map(|id| Stack {
                id,
                pcs: vec![0x1000 * u64::from(id)],
            })
            .collect(),
        blocks,
        sample_bytes: None,
        memory: None,
        owners: if with_owners { owners } else { Vec::new() },
        ..Dump::default()
    };
    // Through the file format, as leakreport reads it.
    parse(&write_dump(&d, Vec::new()).unwrap()).unwrap()
}

#[test]
fn the_owner_comes_first_with_what_it_owns() {
    let a = analysed(dump(true), &[], "");
    assert_eq!(
        headlines(&text_of(&a)),
        [
            "40,240 (240 direct, 40,000 indirect) bytes in 10 blocks, definitely lost  (site 1 of 3)",
            "40,000 bytes in 10 blocks, indirectly lost, owned by site 1 (?+0x1000)  (site 2 of 3)",
            "1,000 bytes in 1 block, definitely lost  (site 3 of 3)",
        ]
    );
    let j = json_of(&a);
    assert_eq!(j["totals"]["owners_known"], true);
    let sites = j["sites"].as_array().unwrap();
    let fields = |s: &Value| {
        (
            s["id"].as_u64().unwrap(),
            s["kind"].as_str().unwrap().to_string(),
            s["bytes"].as_u64().unwrap(),
            s["blocks"].as_u64().unwrap(),
            s["indirect_bytes"].as_u64().unwrap(),
            s["indirect_blocks"].as_u64().unwrap(),
            s["total_bytes"].as_u64().unwrap(),
            s["owner"].as_u64(),
        )
    };
    let got: Vec<_> = sites.iter().map(fields).collect();
    assert_eq!(
        got,
        [
            (1, "definite".into(), 240, 10, 40_000, 10, 40_240, None),
            (2, "indirect".into(), 40_000, 10, 0, 0, 40_000, Some(1)),
            (3, "definite".into(), 1000, 1, 0, 0, 1000, None),
        ]
    );
    // The summary counts each byte once.
    assert_eq!(j["totals"]["definite_bytes"], 1240);
    assert_eq!(j["totals"]["indirect_bytes"], 40_000);
    assert_eq!(j["totals"]["leaked_bytes"], 41_240);
}

#[test]
fn without_owners_the_report_is_as_before() {
    let a = analysed(dump(false), &[], "");
    assert_eq!(
        headlines(&text_of(&a)),
        [
            "40,000 bytes in 10 blocks, indirectly lost  (site 1 of 3)",
            "1,000 bytes in 1 block, definitely lost  (site 2 of 3)",
            "240 bytes in 10 blocks, definitely lost  (site 3 of 3)",
        ]
    );
    let j = json_of(&a);
    assert_eq!(j["totals"]["owners_known"], false);
    for s in j["sites"].as_array().unwrap() {
        assert_eq!(s["indirect_bytes"], 0);
        assert_eq!(s["total_bytes"], s["bytes"]);
        assert!(s["owner"].is_null());
    }
}

#[test]
fn fail_on_counts_the_same_kinds_either_way() {
    for with_owners in [true, false] {
        for (on, expected) in [
            (FailOn::Definite, true),
            (FailOn::Indirect, true),
            (FailOn::Possible, false),
            (FailOn::Any, true),
        ] {
            let a = analysed(dump(with_owners), &[], "");
            assert_eq!(fails(&a, &[on]), expected, "{on:?}, owners {with_owners}");
        }
    }
}

#[test]
fn min_bytes_and_top_apply_to_the_ranking() {
    // 240 bytes of its own, but 40,240 with what it owns: shown.
    let a = analysed(dump(true), &["--min-bytes", "30000"], "");
    let text = text_of(&a);
    assert_eq!(headlines(&text).len(), 2, "{text}");
    assert!(
        headlines(&text)[0].starts_with("40,240 (240 direct"),
        "{text}"
    );
    let a = analysed(dump(true), &["--top", "1"], "");
    let j = json_of(&a);
    assert_eq!(j["sites"].as_array().unwrap().len(), 1);
    assert_eq!(j["sites"][0]["total_bytes"], 40_240);
}

#[test]
fn an_owner_left_out_by_older_than_owns_nothing() {
    // The objects are 20 s old, their buffers 2 s: keeping only the
    // buffers keeps no owner.
    let a = analysed(dump(true), &["--older-than", "1s"], "");
    assert!(a.owners_known);
    let a = analysed(dump(true), &["--older-than", "10s"], "");
    let j = json_of(&a);
    assert_eq!(j["totals"]["owners_known"], false);
    let sites = j["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 1);
    assert_eq!(sites[0]["bytes"], 240);
    assert_eq!(sites[0]["indirect_bytes"], 0);
    // Keeping only the young blocks: the buffers lose their owner.
    let mut d = dump(true);
    for b in &mut d.blocks[..10] {
        b.allocated_ds = 199;
    }
    let a = analysed(d, &["--older-than", "10s"], "");
    let j = json_of(&a);
    let sites = j["sites"].as_array().unwrap();
    assert!(sites.iter().all(|s| s["owner"].is_null()), "{j}");
}

#[test]
fn grouping_by_function_keeps_the_owners() {
    let a = analysed(dump(true), &["--group-by", "function"], "");
    let j = json_of(&a);
    assert_eq!(j["sites"][0]["total_bytes"], 40_240);
    assert_eq!(j["sites"][1]["owner"], 1);
}

#[test]
fn the_owner_owning_most_bytes_is_named() {
    // Buffers 0-3 owned by the 1,000-byte block instead (16,000 bytes),
    // 4-9 by the objects (24,000 bytes): the objects' site is named. The
    // buffers' site holds more than either owner's total, so it still
    // ranks first, as in valgrind.
    let mut d = dump(true);
    for o in &mut d.owners[10..14] {
        *o = 20;
    }
    let a = analysed(d, &[], "");
    let text = text_of(&a);
    assert_eq!(
        headlines(&text),
        [
            "40,000 bytes in 10 blocks, indirectly lost, owned by site 2 (?+0x1000)  (site 1 of 3)",
            "24,240 (240 direct, 24,000 indirect) bytes in 10 blocks, definitely lost  (site 2 of 3)",
            "17,000 (1,000 direct, 16,000 indirect) bytes in 1 block, definitely lost  (site 3 of 3)",
        ]
    );
}
