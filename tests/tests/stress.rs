//! Stress: many threads with frequent snapshots, forks while threads
//! allocate, dlopen/dlclose in a loop, signals landing in the middle of
//! malloc. No deadlock (each run has a deadline), no crash, every snapshot
//! consistent (live blocks = allocations − frees).

use leaktrace_e2e::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const V: Variant = Variant::O2NoFramePointers;

/// Runs `exe args` traced with snapshots every 10 ms; fails on a hang.
fn run_stress(exe: &Path, args: &[&str]) -> (String, Vec<PathBuf>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(exe)
        .args(args)
        .env("LD_PRELOAD", library())
        .env("LEAKTRACE_OUT", dir.path().join("lt"))
        .env("LEAKTRACE_INTERVAL", "10ms")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            assert_eq!(
                status.code(),
                Some(0),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.stderr.is_empty(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let dumps = dumps_in(dir.path());
            for d in &dumps {
                let dump = leaktrace_format::parse(&std::fs::read(d).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", d.display()));
                assert_eq!(
                    dump.blocks.len() as u64,
                    dump.totals.allocations - dump.totals.frees,
                    "{}",
                    d.display()
                );
            }
            return (String::from_utf8(out.stdout).unwrap(), dumps, dir);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sixteen_threads_with_snapshots_every_10ms() {
    // The threads churn until the fifth snapshot exists.
    let (out, dumps, _dir) = run_stress(&sample("stress", V), &["churn", "16", "0", "5"]);
    assert_eq!(out, "churned\n");
    assert!(dumps.len() >= 6, "{dumps:?}");
    let last = final_dumps(&dumps);
    assert_eq!(last.len(), 1);
    let r = report(last[0], "function");
    assert!(
        !by_function(&r).contains_key("churn"),
        "every churned block was freed: {r}"
    );
}

#[test]
fn forks_while_six_threads_allocate() {
    let (out, dumps, _dir) = run_stress(&sample("stress", V), &["forks"]);
    assert_eq!(out, "30 children ok\n");
    let last = final_dumps(&dumps);
    assert_eq!(last.len(), 31, "the parent and 30 children");
    let children = last
        .iter()
        .filter(|d| by_function(&report(d, "function")).get("child_leak") == Some(&(22, 1)))
        .count();
    assert_eq!(children, 30);
}

#[test]
fn dlopen_dlclose_in_a_loop() {
    let plugin = build("plugin.c", "libplugin.so", V, &["-shared", "-fPIC"]);
    let (out, dumps, _dir) =
        run_stress(&sample("stress", V), &["dlopen", plugin.to_str().unwrap()]);
    assert_eq!(out, "200 loads ok\n");
    let last = final_dumps(&dumps);
    let r = report(last[0], "function");
    assert_eq!(by_function(&r).get("plugin_leak"), Some(&(200 * 333, 200)));
}

#[test]
fn signals_landing_in_the_middle_of_malloc() {
    let (out, dumps, _dir) = run_stress(&sample("stress", V), &["signals"]);
    assert_eq!(out, "signals handled\n");
    assert!(
        dumps.len() >= 2,
        "a snapshot during the signals, and the final dump: {dumps:?}"
    );
}
