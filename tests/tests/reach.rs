//! Leaks apart from memory still in use: every block's kind at exit,
//! checked against the expected kind and against valgrind's verdict;
//! suppressions; the CI exit code.

use leaktrace_e2e::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (function, kind, bytes) of every block reach.c makes on purpose.
const EXPECTED: &[(&str, &str, u64)] = &[
    ("held_by_global", "reachable", 101),
    ("held_by_static", "reachable", 102),
    ("held_by_function_static", "reachable", 103),
    ("held_on_thread_stack", "reachable", 104),
    ("held_in_register", "reachable", 105),
    ("held_by_static_tls", "reachable", 106),
    ("tls_plugin_hold", "reachable", 107),
    ("held_by_pthread_key", "reachable", 108),
    ("held_by_interior_pointer", "possible", 109),
    ("lost_parent", "definite", 8),
    ("lost_child", "indirect", 110),
    ("cycle_node", "definite", 120),
    ("cycle_node", "indirect", 120),
    ("dead_stack", "definite", 111),
];

fn plugin(v: Variant) -> PathBuf {
    build("tls_plugin.c", "libtlsplugin.so", v, &["-shared", "-fPIC"])
}

fn traced_reach(v: Variant) -> Run {
    let run = run_traced(&sample("reach", v), &[plugin(v).to_str().unwrap()], &[]);
    assert_eq!(run.stdout(), "reach: done\n", "{}", run.stderr());
    run
}

/// (function, kind, bytes) of the sites (grouped by stack) of reach.c's
/// functions, leaving
/// out the loader's own block made at the plugin's first TLS access (its
/// innermost program frame is tls_plugin_hold too).
fn ours(r: &serde_json::Value) -> Vec<(String, String, u64)> {
    let names: Vec<&str> = EXPECTED.iter().map(|e| e.0).collect();
    let mut got: Vec<(String, String, u64)> = r["sites"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            !s["frames"].as_array().unwrap().iter().any(|f| {
                f["function"]
                    .as_str()
                    .is_some_and(|n| n.contains("tls_get_addr"))
            })
        })
        .filter_map(|s| {
            let f = s["function"].as_str()?;
            names.contains(&f).then(|| {
                (
                    f.to_string(),
                    s["kind"].as_str().unwrap().to_string(),
                    s["bytes"].as_u64().unwrap(),
                )
            })
        })
        .fold(
            std::collections::BTreeMap::<(String, String), u64>::new(),
            |mut m, (f, k, b)| {
                *m.entry((f, k)).or_default() += b;
                m
            },
        )
        .into_iter()
        .map(|((f, k), b)| (f, k, b))
        .collect();
    got.sort();
    got
}

fn expected() -> Vec<(String, String, u64)> {
    let mut e: Vec<(String, String, u64)> = EXPECTED
        .iter()
        .map(|&(f, k, b)| (f.to_string(), k.to_string(), b))
        .collect();
    e.sort();
    e
}

#[test]
fn every_block_gets_its_kind() {
    for v in VARIANTS {
        let run = traced_reach(v);
        assert_eq!(ours(&report(run.dump(), "stack")), expected(), "{v:?}");
        let r = report(run.dump(), "function");
        let t = &r["totals"];
        assert_eq!(t["classified"], true);
        // Nothing but reach.c's own blocks is lost.
        assert_eq!(t["definite_bytes"], 8 + 120 + 111, "{v:?}: {t}");
        assert_eq!(t["indirect_bytes"], 110 + 120, "{v:?}: {t}");
        assert_eq!(t["leaked_bytes"], 8 + 120 + 111 + 110 + 120);
    }
}

#[test]
fn the_default_report_shows_leaks_and_a_summary() {
    let run = traced_reach(Variant::O2NoFramePointers);
    let (code, text, _) = leakreport_raw(&["--group-by", "function"], &[run.dump()]);
    assert_eq!(code, 0);
    for line in [
        "definitely lost: 239 bytes in 3 blocks",
        "indirectly lost: 230 bytes in 2 blocks",
        "possibly lost: 109 bytes in 1 block",
        "still reachable:",
        "suppressed:",
        "111 bytes in 1 block, definitely lost",
        "109 bytes in 1 block, possibly lost",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    assert!(
        !text.contains("at held_by_global"),
        "reachable hidden:\n{text}"
    );
    let (_, all, _) = leakreport_raw(&["--show-reachable"], &[run.dump()]);
    assert!(all.contains("at held_by_global"), "{all}");
    assert!(
        all.contains("101 bytes in 1 block, still reachable"),
        "{all}"
    );
}

#[test]
fn suppressions_and_fail_on() {
    let run = traced_reach(Variant::O2NoFramePointers);
    let dump = run.dump();
    let dir = tempfile::tempdir().unwrap();
    let supp = dir.path().join("leaks.supp");
    std::fs::write(&supp, "# known\nleak:dead_stack\nleak:^lost_*\n").unwrap();
    let s = supp.to_str().unwrap();

    let r = json_of(&["--suppressions", s], dump);
    let t = &r["totals"];
    assert_eq!(t["definite_bytes"], 0, "{t}");
    assert_eq!(t["indirect_bytes"], 0, "{t}");
    assert!(t["suppressed_bytes"].as_u64().unwrap() >= 8 + 120 + 111 + 110 + 120);
    assert!(r["sites"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["function"] != "dead_stack"));

    let code = |args: &[&str]| leakreport_raw(args, &[dump]).0;
    assert_eq!(code(&["--fail-on", "definite"]), 23);
    assert_eq!(code(&["--fail-on", "indirect"]), 23);
    assert_eq!(code(&["--fail-on", "definite", "--suppressions", s]), 0);
    assert_eq!(code(&["--fail-on", "possible", "--suppressions", s]), 23);
    assert_eq!(code(&["--fail-on", "any", "--suppressions", s]), 23);
    std::fs::write(
        &supp,
        "leak:dead_stack\nleak:^lost_\nleak:held_by_interior_pointer\n",
    )
    .unwrap();
    assert_eq!(code(&["--fail-on", "any", "--suppressions", s]), 0);
    assert_eq!(code(&["--fail-on", "definite,possible"]), 23);

    // The built-in list: the loader's blocks of the dlopen() are suppressed
    // by default, and counted as possibly lost without it.
    let with = json_of(&[], dump);
    let without = json_of(&["--no-default-suppressions"], dump);
    assert!(with["totals"]["suppressed_bytes"].as_u64().unwrap() > 0);
    assert!(
        without["totals"]["possible_bytes"].as_u64().unwrap()
            > with["totals"]["possible_bytes"].as_u64().unwrap()
    );

    // A bad suppressions file: one line naming it, exit 2.
    std::fs::write(&supp, "leak:ok\nrace:nope\n").unwrap();
    let (code, out, err) = leakreport_raw(&["--suppressions", s], &[dump]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("leaks.supp:2:"), "{err}");
}

#[test]
fn the_launcher_fails_on_leaks() {
    let v = Variant::O2NoFramePointers;
    let out = Command::new(leaktrace())
        .args(["--fail-on", "definite"])
        .arg(sample("reach", v))
        .arg(plugin(v))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(23));
    // A program whose own status is not 0 keeps it.
    let out = Command::new(leaktrace())
        .args(["--fail-on", "definite"])
        .arg(sample("aging", v))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
}

#[test]
fn snapshots_are_classified_on_request() {
    let v = Variant::O2NoFramePointers;
    let run = run_traced(
        &sample("reach", v),
        &[plugin(v).to_str().unwrap()],
        &[("LEAKTRACE_CLASSIFY", "0")],
    );
    let r = report(run.dump(), "function");
    assert_eq!(r["totals"]["classified"], false);
    assert!(r["sites"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["kind"] == "unclassified"));
    assert_eq!(
        r["totals"]["leaked_bytes"], r["totals"]["live_bytes"],
        "unclassified: everything counts"
    );
}

fn json_of(args: &[&str], dump: &Path) -> serde_json::Value {
    let mut all = vec!["--format", "json", "--group-by", "function"];
    all.extend_from_slice(args);
    let (code, out, err) = leakreport_raw(&all, &[dump]);
    assert!(code == 0 || code == 23, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// valgrind's kind for each of reach.c's blocks: the innermost frame of
/// reach.c in each loss record.
fn valgrind_verdicts(exe: &Path, plugin: &Path) -> Vec<(String, String, u64)> {
    let out = Command::new("valgrind")
        .args(["--leak-check=full", "--show-leak-kinds=all"])
        .arg(exe)
        .arg(plugin)
        .output()
        .expect("valgrind is installed by scripts/install-test-deps");
    let text = String::from_utf8_lossy(&out.stderr);
    let names: Vec<&str> = EXPECTED.iter().map(|e| e.0).collect();
    let mut verdicts = Vec::new();
    let mut record: Option<(String, u64)> = None;
    for line in text.lines() {
        let line = line.split_once("== ").map_or(line, |(_, rest)| rest).trim();
        if let Some((head, kind)) = [
            ("are definitely lost", "definite"),
            ("are indirectly lost", "indirect"),
            ("are possibly lost", "possible"),
            ("are still reachable", "reachable"),
        ]
        .iter()
        .find_map(|(k, name)| line.contains(k).then_some((line, *name)))
        {
            // "118 (8 direct, 110 indirect) bytes in 1 blocks are ..."
            let bytes = match head.split_once(" (") {
                Some((_, rest)) if rest.contains(" direct") => rest.split(' ').next(),
                _ => head.split(' ').next(),
            }
            .and_then(|n| n.replace(',', "").parse().ok())
            .unwrap_or(0);
            record = Some((kind.to_string(), bytes));
            continue;
        }
        if let Some((kind, bytes)) = &record {
            if let Some(f) = names.iter().find(|n| line.contains(&format!(": {n} ("))) {
                verdicts.push((f.to_string(), kind.clone(), *bytes));
                record = None;
            }
        }
    }
    // The 8-byte TLS vector entry valgrind records under tls_plugin_hold is
    // the loader's; leaktrace charges the same block there too, so both
    // lists keep only the sizes reach.c allocates.
    verdicts.retain(|(f, _, b)| EXPECTED.iter().any(|e| e.0 == f && e.2 == *b));
    verdicts.sort();
    verdicts
}

#[test]
fn verdicts_match_valgrind() {
    let v = Variant::O2NoFramePointers;
    let exe = sample("reach", v);
    assert_eq!(valgrind_verdicts(&exe, &plugin(v)), expected());
}
