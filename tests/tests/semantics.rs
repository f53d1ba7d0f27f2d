//! The program must not notice the tracker: same results, errno, output
//! and exit status as a native run.

use leaktrace_e2e::*;
use std::process::Command;

#[test]
fn results_and_errno_are_unchanged() {
    for v in VARIANTS {
        let exe = sample("semantics", v);
        let native = Command::new(&exe).output().unwrap();
        let traced = run_traced(&exe, &[], &[]);
        assert_eq!(native.status.code(), Some(7));
        assert_eq!(traced.output.status.code(), Some(7), "{}", traced.stderr());
        assert_eq!(
            String::from_utf8_lossy(&native.stdout),
            traced.stdout(),
            "{v:?}"
        );
        assert!(traced.stderr().is_empty(), "{v:?}: {}", traced.stderr());
        // Failed allocations are not recorded, and the block a failed
        // realloc left in place was freed: only stdout's buffer is live,
        // still reachable.
        let r = report(traced.dump(), "stack");
        assert_eq!(r["totals"]["live_blocks"], 1, "{v:?}: {r}");
        assert_eq!(r["totals"]["live_bytes"], 4096, "{v:?}");
        assert_eq!(r["totals"]["reachable_bytes"], 4096, "{v:?}");
        assert_eq!(r["totals"]["leaked_bytes"], 0, "{v:?}");
        let t = &r["totals"];
        assert_eq!(
            t["allocations"].as_u64().unwrap() - t["frees"].as_u64().unwrap(),
            1
        );
    }
}

#[test]
fn output_of_real_programs_is_unchanged() {
    for (prog, args) in [
        ("ls", &["-l", "/usr/lib"][..]),
        ("sort", &["/etc/passwd"][..]),
        (
            "python3",
            &["-c", "import json; print(json.dumps(list(range(50))))"][..],
        ),
    ] {
        let native = Command::new(prog).args(args).output().unwrap();
        let path = which(prog);
        let traced = run_traced(&path, args, &[]);
        assert_eq!(native.status.code(), traced.output.status.code(), "{prog}");
        assert_eq!(
            String::from_utf8_lossy(&native.stdout),
            traced.stdout(),
            "{prog}"
        );
        assert!(!traced.dumps.is_empty(), "{prog} left no dump");
    }
}

fn which(prog: &str) -> std::path::PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .output()
        .unwrap();
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn threads_on_small_stacks_start_and_short_lived_threads_reuse_their_room() {
    for v in VARIANTS {
        let exe = sample("small_stacks", v);
        let run = run_traced(&exe, &[], &[]);
        let out = run.stdout();
        // The capture's room is outside TLS, which glibc carves out of each
        // thread's stack: a 16 KiB stack still fits.
        assert_eq!(
            run.output.status.code(),
            Some(0),
            "{v:?}: {out}{}",
            run.stderr()
        );
        assert!(out.contains("small-stack threads started: 4 of 4"), "{out}");
        // 4,000 threads one after another reuse the room of those before:
        // mapped anew for each, it would add ~100 MiB.
        let grown: i64 = out
            .lines()
            .find_map(|l| l.strip_prefix("VmData grew by "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{out}"));
        assert!(
            grown < 16,
            "{v:?}: VmData grew by {grown} MiB over 4,000 threads"
        );
        let r = report(run.dump(), "function");
        assert_leaks(
            &r,
            &[("on_small_stack", 400, 4), ("short_lived", 32_000, 4_000)],
            &format!("{v:?}"),
        );
    }
}
