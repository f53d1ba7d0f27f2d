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
