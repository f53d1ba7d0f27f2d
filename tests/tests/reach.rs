//! Leaks apart from memory still in use: every block's kind at exit,
//! checked against the expected kind and against valgrind's verdict;
//! suppressions; the CI exit code.

use leaktrace_e2e::*;
use std::collections::{BTreeMap, BTreeSet};
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

/// `LEAKTRACE_CLASSIFY=0`: not even the final dump is classified.
#[test]
fn classify_0_leaves_the_final_dump_unclassified() {
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

/// Starts reach.c traced in its "wait" mode, takes one snapshot (SIGUSR1)
/// once every block is made, then lets it exit. Returns the snapshot and
/// the final dump, with the directory that holds them.
fn reach_snapshot_and_exit(
    v: Variant,
    env: &[(&str, &str)],
) -> (PathBuf, PathBuf, tempfile::TempDir) {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(sample("reach", v));
    command.arg(plugin(v)).arg("wait").stdin(Stdio::piped());
    let (mut child, line) = spawn_traced(command, dir.path(), env);
    assert_eq!(line, "reach: done\n");
    let pid = child.id();
    let snapshot = dir.path().join(format!("lt.{pid}.1.bin"));
    // SAFETY: sending a signal to our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGUSR1) }, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !snapshot.exists() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "{v:?}: no snapshot after 30 s in {:?}",
                dumps_in(dir.path())
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "{v:?}: {status}");
    let last = dir.path().join(format!("lt.{pid}.bin"));
    assert!(last.exists(), "{v:?}: {:?}", dumps_in(dir.path()));
    (snapshot, last, dir)
}

/// With `LEAKTRACE_CLASSIFY=1` a snapshot taken while reach.c waits gives
/// every block the kind it gets at the exit; without it the snapshot is
/// not classified, and the final dump is.
#[test]
fn snapshots_are_classified_with_classify_1() {
    for v in VARIANTS {
        let (snapshot, last, _dir) = reach_snapshot_and_exit(v, &[("LEAKTRACE_CLASSIFY", "1")]);
        let r = report(&snapshot, "stack");
        assert_eq!(r["trigger"], "signal", "{v:?}");
        assert_eq!(r["totals"]["classified"], true, "{v:?}");
        assert_eq!(ours(&r), expected(), "{v:?}: the snapshot's kinds");
        assert_eq!(
            ours(&report(&last, "stack")),
            expected(),
            "{v:?}: at the exit"
        );
    }
    let (snapshot, last, _dir) = reach_snapshot_and_exit(Variant::O2NoFramePointers, &[]);
    let r = report(&snapshot, "function");
    assert_eq!(r["totals"]["classified"], false);
    assert!(r["sites"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["kind"] == "unclassified"));
    assert_eq!(ours(&report(&last, "stack")), expected(), "at the exit");
}

fn json_of(args: &[&str], dump: &Path) -> serde_json::Value {
    let mut all = vec!["--format", "json", "--group-by", "function"];
    all.extend_from_slice(args);
    let (code, out, err) = leakreport_raw(&all, &[dump]);
    assert!(code == 0 || code == 23, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// (function, kind) → (bytes, blocks): the blocks of one run, each charged
/// to the innermost frame of its stack that is one of the sample's named
/// functions.
type Tally = BTreeMap<(String, String), (u64, u64)>;

/// Frames that mark a block as the loader's or libc's own even below one of
/// the sample's functions: the dynamic TLS block `__tls_get_addr` makes at a
/// plugin's first TLS access, a thread's TLS vector.
const NOT_THE_SAMPLES: &[&str] = &["tls_get_addr", "_dl_", "allocate_dtv", "pthread_create"];

/// The function a block with these frames (innermost first) is charged to:
/// the first of `names` among them, unless a frame before it is the
/// loader's or libc's.
fn charged_to<'a>(frames: impl IntoIterator<Item = &'a str>, names: &[&str]) -> Option<String> {
    for f in frames {
        if let Some(n) = names.iter().find(|n| **n == f) {
            return Some(n.to_string());
        }
        if NOT_THE_SAMPLES.iter().any(|x| f.contains(x)) {
            return None;
        }
    }
    None
}

fn add(t: &mut Tally, function: String, kind: &str, bytes: u64, blocks: u64) {
    let e = t.entry((function, kind.to_string())).or_default();
    e.0 += bytes;
    e.1 += blocks;
}

/// valgrind's loss records for `exe args`, charged to `names`.
fn valgrind_tally(exe: &Path, args: &[&str], names: &[&str]) -> Tally {
    let out = Command::new("valgrind")
        .args([
            "--leak-check=full",
            "--show-leak-kinds=all",
            "--num-callers=40",
        ])
        .arg(exe)
        .args(args)
        .output()
        .expect("valgrind is installed by scripts/install-test-deps");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("LEAK SUMMARY") || text.contains("All heap blocks were freed"),
        "valgrind gave no leak summary for {}:\n{text}",
        exe.display()
    );
    let mut tally = Tally::new();
    // The loss record being read: (kind, bytes, blocks, frames so far).
    let mut record: Option<(&str, u64, u64, Vec<String>)> = None;
    let mut flush = |record: &mut Option<(&str, u64, u64, Vec<String>)>| {
        if let Some((kind, bytes, blocks, frames)) = record.take() {
            if let Some(f) = charged_to(frames.iter().map(String::as_str), names) {
                add(&mut tally, f, kind, bytes, blocks);
            }
        }
    };
    for line in text.lines() {
        // "==123==    by 0x10937A: leak_malloc0 (lost.c:24)"
        let line = line.split_once("== ").map_or(line, |(_, rest)| rest).trim();
        let kind = [
            ("are definitely lost", "definite"),
            ("are indirectly lost", "indirect"),
            ("are possibly lost", "possible"),
            ("are still reachable", "reachable"),
        ]
        .iter()
        .find_map(|(k, name)| line.contains(k).then_some(*name));
        if let Some(kind) = kind {
            flush(&mut record);
            // "118 (8 direct, 110 indirect) bytes in 1 blocks are ...":
            // the block's own bytes are the direct ones.
            let number = |s: &str| -> u64 {
                s.replace(',', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("no number in {line:?}"))
            };
            let bytes = match line.split_once(" (") {
                Some((_, rest)) if rest.contains(" direct,") => {
                    number(rest.split(' ').next().unwrap())
                }
                _ => number(line.split(' ').next().unwrap()),
            };
            let blocks = line
                .split_once(" bytes in ")
                .map(|(_, rest)| number(rest.split(' ').next().unwrap()))
                .unwrap_or_else(|| panic!("no block count in {line:?}"));
            record = Some((kind, bytes, blocks, Vec::new()));
        } else if let Some((_, _, _, frames)) = record.as_mut() {
            match line
                .strip_prefix("at ")
                .or_else(|| line.strip_prefix("by "))
                .and_then(|l| l.split_once(": "))
            {
                // "0x10937A: leak_malloc0 (lost.c:24)"
                Some((_, rest)) => {
                    let name = rest.rsplit_once(" (").map_or(rest, |(n, _)| n);
                    frames.push(name.to_string());
                }
                None => flush(&mut record),
            }
        }
    }
    flush(&mut record);
    tally
}

/// leaktrace's kinds for the blocks of one dump, charged to `names`.
fn dump_tally(dump: &Path, names: &[&str]) -> Tally {
    let r = report(dump, "stack");
    assert_eq!(r["totals"]["classified"], true, "{}", dump.display());
    let mut tally = Tally::new();
    for s in r["sites"].as_array().unwrap() {
        let frames = s["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["function"].as_str().unwrap_or("??"));
        if let Some(f) = charged_to(frames, names) {
            add(
                &mut tally,
                f,
                s["kind"].as_str().unwrap(),
                s["bytes"].as_u64().unwrap(),
                s["blocks"].as_u64().unwrap(),
            );
        }
    }
    tally
}

/// leaktrace's kinds at the exit of `exe args`, charged to `names`.
fn leaktrace_tally(exe: &Path, args: &[&str], names: &[&str]) -> Tally {
    let run = run_traced(exe, args, &[]);
    assert!(
        run.output.status.success(),
        "{} failed: {}",
        exe.display(),
        run.stderr()
    );
    dump_tally(run.dump(), names)
}

/// One line per function whose kinds differ between the two tallies:
/// `function: valgrind {kind bytes/blocks, ...}, leaktrace {...}`.
fn differences(valgrind: &Tally, leaktrace: &Tally) -> Vec<String> {
    let functions: BTreeSet<&String> = valgrind
        .keys()
        .chain(leaktrace.keys())
        .map(|k| &k.0)
        .collect();
    let kinds = |t: &Tally, f: &String| -> String {
        let v: Vec<String> = t
            .iter()
            .filter(|((g, _), _)| g == f)
            .map(|((_, k), (bytes, blocks))| format!("{k} {bytes}/{blocks}"))
            .collect();
        format!("{{{}}}", v.join(", "))
    };
    functions
        .into_iter()
        .filter_map(|f| {
            let (vg, lt) = (kinds(valgrind, f), kinds(leaktrace, f));
            (vg != lt).then(|| format!("{f}: valgrind {vg}, leaktrace {lt}"))
        })
        .collect()
}

/// (function, kind, bytes, blocks) a sample says it leaks.
type Expected = (&'static str, &'static str, u64, u64);

fn tally_of(expected: &[Expected]) -> Tally {
    let mut t = Tally::new();
    for &(f, k, bytes, blocks) in expected {
        add(&mut t, f.to_string(), k, bytes, blocks);
    }
    t
}

/// Runs `c-samples/<name>` with `args` under valgrind and under leaktrace at
/// both variants, and fails listing every (variant, function) whose kinds,
/// bytes or blocks differ. `expected` is what the sample says it does:
/// valgrind must agree with it, or the sample no longer tests what it says.
fn same_kinds_as_valgrind(name: &str, args: &[&str], expected: &[Expected]) {
    let names: Vec<&str> = expected
        .iter()
        .map(|e| e.0)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut wrong = Vec::new();
    for v in VARIANTS {
        let exe = sample(name, v);
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{plugin}", plugin(v).to_str().unwrap()))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let valgrind = valgrind_tally(&exe, &args, &names);
        assert_eq!(
            valgrind,
            tally_of(expected),
            "{name} {v:?}: valgrind's kinds are not the ones the sample claims"
        );
        let leaktrace = leaktrace_tally(&exe, &args, &names);
        wrong.extend(
            differences(&valgrind, &leaktrace)
                .into_iter()
                .map(|d| format!("{name} {v:?}: {d}")),
        );
    }
    assert!(
        wrong.is_empty(),
        "leaktrace's kinds (bytes/blocks) differ from valgrind's:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn reach_kinds_match_valgrind() {
    let expected: Vec<Expected> = EXPECTED.iter().map(|&(f, k, b)| (f, k, b, 1)).collect();
    same_kinds_as_valgrind("reach", &["{plugin}"], &expected);
}

/// lost.c's patterns and what each leaks: all definitely lost.
const LOST: &[(&str, &[Expected])] = &[
    ("malloc0", &[("leak_malloc0", "definite", 0, 1)]),
    (
        "threads",
        &[
            ("leak_24_in_thread", "definite", 480, 20),
            ("leak_30_in_thread", "definite", 600, 20),
            ("leak_40_in_thread", "definite", 800, 20),
        ],
    ),
    ("running", &[("leak_before_running", "definite", 448, 8)]),
    ("growing", &[("leak_while_growing", "definite", 8800, 100)]),
];

#[test]
fn lost_kinds_match_valgrind() {
    let all: Vec<Expected> = LOST.iter().flat_map(|p| p.1.iter().copied()).collect();
    same_kinds_as_valgrind("lost", &[], &all);
}

/// Each of lost.c's patterns in a process of its own.
#[test]
fn lost_patterns_alone_match_valgrind() {
    let mut wrong = Vec::new();
    for (pattern, expected) in LOST {
        let r = std::panic::catch_unwind(|| same_kinds_as_valgrind("lost", &[pattern], expected));
        if let Err(e) = r {
            let text = e
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "(panic)".into());
            wrong.push(format!("lost {pattern}: {text}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// stale.c: lost blocks whose never-written bytes hold the addresses of
/// other lost blocks, left there by a freed block. valgrind takes no
/// undefined word for a pointer and calls them all definitely lost;
/// leaktrace reads bytes, not their history, and may call some indirectly
/// lost (the documented difference): lost either way, never possible or
/// reachable.
#[test]
fn old_addresses_in_lost_blocks_keep_them_lost() {
    let names = ["leak_kept_request"];
    for v in VARIANTS {
        let exe = sample("stale", v);
        assert_eq!(
            valgrind_tally(&exe, &[], &names),
            tally_of(&[("leak_kept_request", "definite", 8800, 100)]),
            "{v:?}: valgrind"
        );
        let t = leaktrace_tally(&exe, &[], &names);
        let lost = |kind: &str| {
            t.get(&("leak_kept_request".to_string(), kind.to_string()))
                .copied()
                .unwrap_or_default()
        };
        let (definite, indirect) = (lost("definite"), lost("indirect"));
        assert_eq!(
            (definite.0 + indirect.0, definite.1 + indirect.1),
            (8800, 100),
            "{v:?}: {t:?}"
        );
        assert!(definite.1 >= 1, "{v:?}: a chain starts somewhere: {t:?}");
    }
}

#[test]
fn pool_kinds_match_valgrind() {
    same_kinds_as_valgrind(
        "pool",
        &[],
        &[
            ("pool_hold", "reachable", 816, 6),
            ("pool_child", "reachable", 432, 6),
            ("pool_dropped", "definite", 152, 1),
            ("pool_unmapped", "definite", 672, 4),
        ],
    );
}

#[test]
fn cpp_owners_kinds_match_valgrind() {
    same_kinds_as_valgrind(
        "cpp_owners",
        &[],
        &[
            ("make_owner", "definite", 240, 10),
            ("fill_owner", "indirect", 40_000, 10),
            ("make_kept_owner", "reachable", 24, 1),
            ("fill_kept_owner", "reachable", 4000, 1),
        ],
    );
}

/// The only pointer to a block is pthread_create's argument to a detached
/// thread, and main exits at once: however far the thread got, the block is
/// not lost (valgrind: still reachable).
#[test]
fn a_block_handed_to_a_starting_thread_is_not_lost() {
    let names = ["race_block"];
    for v in VARIANTS {
        let exe = sample("thread_race", v);
        let valgrind = valgrind_tally(&exe, &[], &names);
        assert_eq!(
            valgrind.values().map(|c| c.1).sum::<u64>(),
            1,
            "{v:?}: {valgrind:?}"
        );
        assert!(
            !valgrind.contains_key(&("race_block".into(), "definite".into())),
            "{v:?}: {valgrind:?}"
        );
        // 50 runs, in 5 threads: reading a dump takes longer than the run.
        let tallies: Vec<Tally> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..5)
                .map(|_| {
                    s.spawn(|| {
                        (0..10)
                            .map(|_| leaktrace_tally(&exe, &[], &names))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        let mut lost = Vec::new();
        for (i, t) in tallies.iter().enumerate() {
            assert_eq!(
                t.values().map(|c| c.1).sum::<u64>(),
                1,
                "{v:?} run {i}: {t:?}"
            );
            if t.contains_key(&("race_block".into(), "definite".into())) {
                lost.push(i);
            }
        }
        assert!(
            lost.is_empty(),
            "{v:?}: race_block definitely lost in runs {lost:?} of 50"
        );
    }
}
