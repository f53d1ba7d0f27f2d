//! Live processes: snapshots on a signal and at intervals, ends that are not
//! exit(), children, growth over time, ages and process memory.

use leaktrace_e2e::*;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

const V: Variant = Variant::O2NoFramePointers;

/// Starts `exe` traced, dumps going to `dir/lt`, and waits for its "ready".
fn start(exe: &Path, dir: &Path, env: &[(&str, &str)]) -> Child {
    let (child, line) = spawn_traced(Command::new(exe), dir, env);
    assert_eq!(line.trim(), "ready");
    child
}

fn kill(child: &Child, sig: i32) {
    // SAFETY: sending a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// Waits (up to 30 s) for `child` to end; kills it and fails if it does not.
fn wait_end(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the traced program did not end within 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (up to 30 s: CI machines are slow) until `path` exists.
fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn json(args: &[&str], files: &[&Path]) -> serde_json::Value {
    let mut all = vec!["--format", "json", "--show-reachable"];
    all.extend_from_slice(args);
    let (code, out, err) = leakreport_raw(&all, files);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn site<'a>(report: &'a serde_json::Value, function: &str) -> &'a serde_json::Value {
    report["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["function"] == function)
        .unwrap_or_else(|| panic!("no site {function}: {report}"))
}

#[test]
fn snapshots_on_signal_then_final_dump_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start(&sample("grow_forever", V), dir.path(), &[]);
    let pid = child.id();
    let snap = |k: u32| dir.path().join(format!("lt.{pid}.{k}.bin"));
    std::thread::sleep(Duration::from_millis(100));
    kill(&child, libc::SIGUSR1);
    wait_for(&snap(1));
    std::thread::sleep(Duration::from_millis(200));
    kill(&child, libc::SIGUSR1);
    wait_for(&snap(2));
    kill(&child, libc::SIGTERM);
    let status = wait_end(&mut child);
    assert_eq!(
        status.signal(),
        Some(libc::SIGTERM),
        "still dies of SIGTERM"
    );
    let last = dir.path().join(format!("lt.{pid}.bin"));
    assert!(last.exists(), "final dump written on SIGTERM");

    let first = json(&["--group-by", "function"], &[&snap(1)]);
    let second = json(&["--group-by", "function"], &[&snap(2)]);
    let fin = json(&["--group-by", "function"], &[&last]);
    assert_eq!(first["trigger"], "signal");
    assert_eq!(first["snapshot"], 1);
    assert_eq!(second["snapshot"], 2);
    assert_eq!(fin["trigger"], "fatal-signal");
    assert_eq!(fin["snapshot"], 0);
    for r in [&first, &second, &fin] {
        // Each dump is complete: the steady block and only 64-byte leaks
        // (in the final dump, lost but for the newest, maybe still held).
        let sites = by_function(r);
        assert_eq!(sites["steady_cache"], (4096, 1));
        let (bytes, blocks) = sites["grow_leak"];
        assert_eq!(bytes, 64 * blocks);
        assert!(r["sites"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["function"] != "churn"));
        assert!(r["memory"]["rss"].as_u64().unwrap() > 0, "{}", r["memory"]);
    }
    let grown = |r: &serde_json::Value| by_function(r)["grow_leak"].1;
    assert!(
        grown(&second) > grown(&first),
        "the second snapshot holds more"
    );
    assert!(grown(&fin) >= grown(&second));

    // All three together: growth per site, the growing one first.
    let g = json(&["--group-by", "function"], &[&snap(2), &last, &snap(1)]);
    assert_eq!(g["kind"], "growth");
    assert_eq!(g["dumps"].as_array().unwrap().len(), 3);
    assert_eq!(g["dumps"][0]["snapshot"], 1, "ordered by time");
    let top = &g["sites"][0];
    assert_eq!(top["function"], "grow_leak");
    assert_eq!(top["only_grows"], true);
    assert!(top["bytes_per_second"].as_f64().unwrap() > 0.0);
    let steady = g["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["function"] == "steady_cache")
        .unwrap();
    assert_eq!(steady["bytes"], serde_json::json!([4096, 4096, 4096]));
    assert_eq!(steady["only_grows"], false);

    // --diff: only the growing site, by what it added.
    let d = json(&["--diff", "--group-by", "function"], &[&snap(1), &last]);
    assert_eq!(d["kind"], "diff");
    let sites = d["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 1, "{d}");
    assert_eq!(sites[0]["function"], "grow_leak");
    assert_eq!(
        sites[0]["bytes_added"].as_u64().unwrap(),
        64 * (grown(&fin) - grown(&first))
    );
    let (_, text, _) = leakreport_raw(&[], &[&snap(1), &snap(2)]);
    assert!(text.contains("SITES BY GROWTH"), "{text}");
    assert!(text.contains("never shrank"), "{text}");
}

#[test]
fn another_snapshot_signal_and_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start(
        &sample("grow_forever", V),
        dir.path(),
        &[("LEAKTRACE_SIGNAL", "USR2")],
    );
    let pid = child.id();
    kill(&child, libc::SIGUSR2);
    wait_for(&dir.path().join(format!("lt.{pid}.1.bin")));
    kill(&child, libc::SIGINT);
    assert_eq!(wait_end(&mut child).signal(), Some(libc::SIGINT));
    assert!(dir.path().join(format!("lt.{pid}.bin")).exists());
}

#[test]
fn periodic_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start(
        &sample("grow_forever", V),
        dir.path(),
        &[("LEAKTRACE_INTERVAL", "50ms")],
    );
    let pid = child.id();
    wait_for(&dir.path().join(format!("lt.{pid}.3.bin")));
    kill(&child, libc::SIGHUP);
    assert_eq!(wait_end(&mut child).signal(), Some(libc::SIGHUP));
    let r = json(&[], &[&dir.path().join(format!("lt.{pid}.2.bin"))]);
    assert_eq!(r["trigger"], "interval");
}

/// Every snapshot taken while four threads churn is consistent: the live
/// blocks it holds are its allocations minus its frees.
#[test]
fn snapshots_every_10ms_under_four_churning_threads() {
    let run = run_traced(
        &sample("churn_threads", V),
        &[],
        &[("LEAKTRACE_INTERVAL", "10ms")],
    );
    assert!(run.output.status.success(), "{}", run.stderr());
    assert_eq!(run.stdout(), "done\n");
    assert!(
        run.dumps.len() >= 2,
        "a snapshot and the final dump: {:?}",
        run.dumps
    );
    for path in &run.dumps {
        let dump = leaktrace_format::parse(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(
            dump.blocks.len() as u64,
            dump.totals.allocations - dump.totals.frees,
            "{}",
            path.display()
        );
    }
    let last = final_dumps(&run.dumps)[0];
    let r = report(last, "function");
    assert_eq!(by_function(&r).get("final_leak"), Some(&(480, 10)));
}

fn run_signal_case(mode: &str) -> (Run, String) {
    let exe = sample("signal_cases", V);
    let native = Command::new(&exe).arg(mode).output().unwrap();
    let run = run_traced(&exe, &[mode], &[]);
    assert_eq!(run.output.status.code(), native.status.code(), "{mode}");
    assert_eq!(run.output.stdout, native.stdout, "{mode}");
    (run, String::from_utf8_lossy(&native.stdout).into_owned())
}

#[test]
fn the_programs_own_handler_still_runs() {
    for mode in ["sigaction", "signal"] {
        let (run, out) = run_signal_case(mode);
        assert_eq!(
            out, "handler ran 2 times; the action is the program's: yes\n",
            "{mode}"
        );
        // Two signals before the dump thread woke: one snapshot serves both.
        let snapshots: Vec<&PathBuf> = run
            .dumps
            .iter()
            .filter(|p| p.to_str().unwrap().ends_with(".1.bin"))
            .collect();
        assert_eq!(snapshots.len(), 1, "{mode}: {:?}", run.dumps);
        let r = report(snapshots[0], "function");
        assert_eq!(by_function(&r).get("held_leak"), Some(&(77, 1)));
    }
}

#[test]
fn a_signal_every_program_thread_blocks_still_snapshots() {
    let (run, out) = run_signal_case("blocked");
    assert_eq!(out, "blocked and sent\n");
    assert_eq!(run.dumps.len(), 2, "{:?}", run.dumps);
}

#[test]
fn a_snapshot_signal_the_program_handles_and_blocks_waits_for_it() {
    // Our thread must not take the signal from the program: natively it
    // stays pending until unblocked and its handler runs at the unblock
    // (CPython's test_signal checks exactly this); a thread of ours that
    // took it and passed it on could be late.
    let (run, out) = run_signal_case("handled_blocked");
    assert_eq!(
        out,
        "pending: yes; handled before unblock: 0, at unblock: 1\n"
    );
    let stderr = String::from_utf8_lossy(&run.output.stderr);
    assert!(stderr.contains("snapshot before unblock: no"), "{stderr}");
    // The program's thread took it, at the unblock: the snapshot follows.
    assert_eq!(run.dumps.len(), 2, "{:?}", run.dumps);
}

#[test]
fn a_program_handling_sigterm_decides_how_it_ends() {
    let (run, _) = run_signal_case("term");
    assert_eq!(run.output.status.code(), Some(3));
    let r = report(run.dump(), "function");
    assert_eq!(r["trigger"], "_exit", "its handler called _exit(3)");
}

#[test]
fn exit_without_exit_handlers_and_ages() {
    let run = run_traced(&sample("aging", V), &[], &[]);
    assert_eq!(run.output.status.code(), Some(5));
    let r = report(run.dump(), "function");
    assert_eq!(r["trigger"], "_exit");
    let old = site(&r, "old_leak");
    assert_eq!(old["bytes"], 500);
    assert!(old["oldest_age_s"].as_f64().unwrap() >= 1.4, "{old}");
    assert!(site(&r, "new_leak")["oldest_age_s"].as_f64().unwrap() < 1.0);
    let filtered = json(
        &["--older-than", "1s", "--group-by", "function"],
        &[run.dump()],
    );
    let names: Vec<&str> = filtered["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["function"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["old_leak"]);
    assert_eq!(filtered["totals"]["leaked_bytes"], 500);
}

#[test]
fn fork_and_exec_children_have_their_own_dumps() {
    for v in VARIANTS {
        let run = run_traced(&sample("fork_exec", v), &[], &[]);
        assert_eq!(run.stdout(), "children exited 0 and 4\n");
        assert_eq!(run.dumps.len(), 3, "{v:?}: {:?}", run.dumps);
        let mut seen: Vec<Vec<(String, u64)>> = run
            .dumps
            .iter()
            .map(|d| {
                let mut leaks: Vec<(String, u64)> = by_function(&report(d, "function"))
                    .into_iter()
                    .filter(|(f, _)| f.ends_with("_leak"))
                    .map(|(f, (bytes, _))| (f, bytes))
                    .collect();
                leaks.sort();
                leaks
            })
            .collect();
        seen.sort();
        let s = |f: &str, b: u64| (f.to_string(), b);
        assert_eq!(
            seen,
            vec![
                vec![s("child_leak", 200), s("parent_leak", 100)],
                vec![s("exec_leak", 300)],
                vec![s("parent_leak", 100)],
            ],
            "{v:?}"
        );
    }
    let run = run_traced(&sample("fork_exec", V), &[], &[("LEAKTRACE_FOLLOW", "0")]);
    assert_eq!(run.stdout(), "children exited 0 and 4\n");
    let r = report(run.dump(), "function");
    assert_eq!(by_function(&r).get("parent_leak"), Some(&(100, 1)));
}

#[test]
fn the_launcher_reports_every_process() {
    let out = Command::new(leaktrace())
        .args(["--format", "json", "--group-by", "function"])
        .arg(sample("fork_exec", V))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // The program's own output comes first, then the report.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = stdout
        .strip_prefix("children exited 0 and 4\n")
        .unwrap_or_else(|| panic!("{stdout}"));
    let v: serde_json::Value = serde_json::from_str(report).unwrap();
    let reports = v.as_array().unwrap();
    assert_eq!(reports.len(), 3);
    assert!(reports.iter().all(|r| r["trigger"] == "exit"));
}
