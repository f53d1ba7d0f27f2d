//! Many processes (issue 17, point 1): one line a process, leaking ones
//! first, and identical leaks of many processes of one program merged with
//! a count, in text and JSON.

mod common;

use common::*;
use leaktrace_format::Kind;
use leaktrace_report::analysis::Analysis;
use leaktrace_report::collate::Cut;
use leaktrace_report::group::GroupBy;
use leaktrace_report::processes::{self, View};
use leaktrace_report::{json_processes, text, text_processes};

/// A bash script's run: the shell (pid 100) loses 500 bytes; 300
/// subshells (pids 101 to 400) each lose the same 120 bytes at the same
/// stack, and two of them possibly lose 8 and 16 more; another program
/// (pid 500) loses 120 bytes at that stack too; one (pid 501) loses
/// nothing; a snapshot, not classified, of pid 502 holds 64 bytes.
fn run() -> Vec<Analysis> {
    let bash = |pid| {
        Fake::new(pid, "/usr/bin/bash", 1)
            .stack(1, &[0x10, 0x20])
            .stack(2, &[0x30, 0x40])
            .stack(3, &[0x50])
            .blocks(1, 4000, 1, Kind::Reachable, 0)
    };
    let mut all = vec![bash(100).blocks(1, 500, 1, Kind::Definite, 0).analyse(&[])];
    for pid in 101..=400 {
        let mut b = bash(pid).blocks(1, 120, 2, Kind::Definite, 0);
        if pid >= 399 {
            b = b.blocks(1, 8 * u64::from(pid - 398), 3, Kind::Possible, 0);
        }
        all.push(b.analyse(&[]));
    }
    all.push(
        Fake::new(500, "/usr/bin/other", 1)
            .stack(2, &[0x30, 0x40])
            .blocks(1, 120, 2, Kind::Definite, 0)
            .analyse(&[]),
    );
    all.push(
        Fake::new(501, "/usr/bin/clean", 1)
            .stack(1, &[0x10])
            .blocks(2, 50, 1, Kind::Reachable, 0)
            .analyse(&[]),
    );
    all.push(
        Fake::new(502, "/usr/bin/sleep", 1)
            .snapshot(1)
            .stack(1, &[0x60])
            .blocks(1, 64, 1, Kind::Unknown, 0)
            .analyse(&[]),
    );
    all
}

#[test]
fn the_summary_is_for_more_than_a_handful() {
    assert!(!View::Auto.summary_for(5));
    assert!(View::Auto.summary_for(6));
    assert!(View::Summary.summary_for(1));
    assert!(!View::Full.summary_for(1000));
}

#[test]
fn processes_leaking_first_and_identical_leaks_merged() {
    let analyses = run();
    let s = processes::build(&analyses, GroupBy::Stack, Cut::default());
    let pids: Vec<u32> = s
        .processes
        .iter()
        .map(|p| p.analysis.input.dump.process.pid)
        .collect();
    // Most bytes lost first; among equals, more possibly lost first; the
    // rest as given.
    assert_eq!(pids[..4], [100, 400, 399, 101]);
    assert_eq!(pids[300..], [398, 500, 502, 501]);
    assert_eq!((s.processes.len(), s.dumps, s.leaking()), (304, 304, 303));
    assert_eq!(s.unclassified, 1);
    assert_eq!(s.totals.definite.bytes, 500 + 300 * 120 + 120);
    assert_eq!(s.totals.possible.bytes, 24);
    assert_eq!(s.totals.unclassified.bytes, 64);
    assert_eq!(s.totals.reachable.bytes, 301 * 4000 + 100);

    // exe, kind, bytes, blocks, processes, least and most bytes of one.
    type Row = (String, Kind, u64, u64, usize, (u64, u64));
    let leaks: Vec<Row> = s
        .leaks
        .iter()
        .map(|l| {
            (
                l.exe.clone(),
                l.site.kind,
                l.bytes,
                l.blocks,
                l.pids.len(),
                l.each_bytes,
            )
        })
        .collect();
    assert_eq!(
        leaks,
        [
            (
                "/usr/bin/bash".into(),
                Kind::Definite,
                36_000,
                300,
                300,
                (120, 120)
            ),
            (
                "/usr/bin/bash".into(),
                Kind::Definite,
                500,
                1,
                1,
                (500, 500)
            ),
            (
                "/usr/bin/other".into(),
                Kind::Definite,
                120,
                1,
                1,
                (120, 120)
            ),
            ("/usr/bin/sleep".into(), Kind::Unknown, 64, 1, 1, (64, 64)),
            ("/usr/bin/bash".into(), Kind::Possible, 24, 2, 2, (8, 16)),
        ]
    );
    assert_eq!(s.leaks[0].pids[..3], [101, 102, 103]);
    assert_eq!(s.total_leaks, 5);

    let cut = Cut {
        top: Some(2),
        min_bytes: 0,
    };
    let s = processes::build(&analyses, GroupBy::Stack, cut);
    assert_eq!((s.leaks.len(), s.total_leaks), (2, 5));
}

#[test]
fn the_summary_in_text() {
    let analyses = run();
    let s = processes::build(&analyses, GroupBy::Stack, Cut::default());
    let out = text_processes::render(&s, &text::Style { on: false });
    let head = "\
leaktrace: 304 processes (304 dumps): 303 leaking; each one's own report: --processes full

LEAK SUMMARY (all processes)
   definitely lost: 36,620 bytes in 302 blocks
   indirectly lost: 0 bytes in 0 blocks
     possibly lost: 24 bytes in 2 blocks
   still reachable: 1,204,100 bytes in 303 blocks
        suppressed: 0 bytes in 0 blocks
         not freed: 64 bytes in 1 block
   (not freed: the blocks of 1 process not classified into lost and still reachable, marked ? below)
   leaks:       5 (identical ones of several processes of a program counted once); --show-reachable for the blocks still in use

PROCESSES (leaking first, most bytes lost first)
      pid    lost bytes    blocks      possibly     reachable  command
      100           500         1             0         4,000  bash -x
      400           120         1            16         4,000  bash -x
";
    assert!(out.starts_with(head), "{out}");
    assert_has(&out, "\n      502            64         1             ?             ?  sleep -x\n      501             0         0             0           100  clean -x\n\nLEAKS (biggest first)\n");
    let leaks: Vec<&str> = out.lines().filter(|l| l.contains("(leak ")).collect();
    assert_eq!(
        leaks,
        [
            "36,000 bytes in 300 blocks, definitely lost, in 300 processes of bash (120 bytes in 1 block each)  (leak 1 of 5)",
            "500 bytes in 1 block, definitely lost, in bash (pid 100)  (leak 2 of 5)",
            "120 bytes in 1 block, definitely lost, in other (pid 500)  (leak 3 of 5)",
            "64 bytes in 1 block, in sleep (pid 502)  (leak 4 of 5)",
            "24 bytes in 2 blocks, possibly lost, in 2 processes of bash (8 to 16 bytes in 1 block each)  (leak 5 of 5)",
        ]
    );
    assert_has(&out, "(leak 1 of 5)\n    pids 101, 102, 103, 104, 105, 106, 107, 108, and 292 more\n    at ???  [fake]+0x30 0x555500000030\n    by ???  [fake]+0x40 0x555500000040\n");
    assert_has(&out, "(leak 5 of 5)\n    pids 399, 400\n");
}

#[test]
fn the_summary_in_json() {
    let analyses = run();
    let s = processes::build(&analyses, GroupBy::Stack, Cut::default());
    let j = serde_json::to_value(json_processes::summary(&s)).unwrap();
    assert_eq!(j["kind"], "processes");
    assert_eq!(j["dumps"], 304);
    let t = &j["totals"];
    for (field, value) in [
        ("processes", 304),
        ("leaking_processes", 303),
        ("unclassified_processes", 1),
        ("leaked_bytes", 36_620 + 64),
        ("definite_bytes", 36_620),
        ("possible_bytes", 24),
        ("unclassified_bytes", 64),
    ] {
        assert_eq!(t[field], value, "totals.{field}");
    }
    let p = &j["processes"][0];
    assert_eq!(
        (p["pid"].as_u64(), p["exe"].as_str()),
        (Some(100), Some("/usr/bin/bash"))
    );
    assert_eq!(p["dump"], "lt.100.bin");
    assert_eq!(p["dumps"], 1);
    assert_eq!(p["totals"]["leaked_bytes"], 500);
    assert_eq!(p["totals"]["classified"], true);
    assert_eq!(j["processes"][302]["totals"]["classified"], false);
    assert_eq!(j["total_sites"], 5);
    let l = &j["sites"][0];
    assert_eq!(l["id"], 1);
    assert_eq!(l["exe"], "/usr/bin/bash");
    assert_eq!(l["processes"], 300);
    assert_eq!(l["pids"].as_array().unwrap().len(), 300);
    assert_eq!(l["kind"], "definite");
    assert_eq!(
        (l["bytes"].as_u64(), l["blocks"].as_u64()),
        (Some(36_000), Some(300))
    );
    assert_eq!(l["min_process_bytes"], 120);
    assert_eq!(l["max_process_bytes"], 120);
    assert_eq!(l["frames"][0]["offset"], "0x30");
    let l = &j["sites"][4];
    assert_eq!(
        (
            l["min_process_bytes"].as_u64(),
            l["max_process_bytes"].as_u64()
        ),
        (Some(8), Some(16))
    );
}

#[test]
fn a_process_with_several_dumps_counts_with_its_latest() {
    let dump = |k: u32, n: usize| {
        let f = Fake::new(7, "/bin/server", 1 + u64::from(k))
            .stack(1, &[0x10])
            .blocks(n, 10, 1, Kind::Unknown, 0);
        if k == 0 {
            f.analyse(&[])
        } else {
            f.snapshot(k).analyse(&[])
        }
    };
    let analyses = vec![dump(1, 1), dump(2, 2), dump(3, 5)];
    let s = processes::build(&analyses, GroupBy::Stack, Cut::default());
    assert_eq!((s.processes.len(), s.dumps), (1, 3));
    assert_eq!(s.processes[0].dumps, 3);
    assert_eq!(s.processes[0].analysis.input.path, "lt.7.3.bin");
    assert_eq!(s.leaks[0].bytes, 50);
    let out = text_processes::render(&s, &text::Style { on: false });
    assert_has(&out, "  server -x  (3 dumps: the latest)\n");
}
