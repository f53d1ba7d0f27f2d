//! A chain of preloads: leaktrace in front of jemalloc must forward to it
//! (dlsym(RTLD_NEXT)) and track exactly the same leaks.
//! Needs Debian's libjemalloc2 (scripts/test installs it).

use leaktrace_e2e::*;
use std::process::Command;

const JEMALLOC: &str = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";

fn chain() -> String {
    assert!(
        std::path::Path::new(JEMALLOC).exists(),
        "{JEMALLOC} is missing: apt-get install libjemalloc2 (scripts/test does)"
    );
    format!("{} {JEMALLOC}", library().display())
}

#[test]
fn leaks_under_jemalloc_are_exact() {
    let exe = sample("alloc_family", Variant::O2NoFramePointers);
    let run = run_traced(&exe, &[], &[("LD_PRELOAD", &chain())]);
    assert!(run.output.status.success(), "{}", run.stderr());
    let r = report(run.dump(), "function");
    assert_leaks(
        &r,
        &[
            ("leak_malloc", 100, 1),
            ("leak_calloc", 120, 1),
            ("leak_realloc_grow", 300, 1),
            ("leak_pvalloc", 4096, 1),
            ("leak_many", 1000, 10),
            ("leak_malloc_zero", 0, 1),
        ],
        "jemalloc",
    );
}

#[test]
fn results_under_jemalloc_are_unchanged() {
    let exe = sample("semantics", Variant::O2NoFramePointers);
    let native = Command::new(&exe)
        .env("LD_PRELOAD", JEMALLOC)
        .output()
        .unwrap();
    let run = run_traced(&exe, &[], &[("LD_PRELOAD", &chain())]);
    assert_eq!(native.status.code(), Some(7));
    assert_eq!(run.output.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&native.stdout), run.stdout());
}
