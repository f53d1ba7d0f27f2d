//! Failures inside the tracker never become the program's: out of memory
//! for its own tables, a file-size limit (a full disk as the program sees
//! it), every descriptor closed. One line on stderr at most, and the
//! program's output and exit status as in a native run.

use leaktrace_e2e::*;
use std::path::Path;
use std::process::{Command, Output};

const V: Variant = Variant::O2NoFramePointers;

/// Runs `exe` under `sh -c 'ulimit LIMIT; exec exe'`, natively or traced.
fn limited(limit: &str, exe: &Path, traced_into: Option<&Path>) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit {limit} && exec \"$0\""))
        .arg(exe);
    if let Some(dir) = traced_into {
        cmd.env("LD_PRELOAD", library())
            .env("LEAKTRACE_OUT", dir.join("lt"));
    }
    cmd.output().unwrap()
}

#[test]
fn a_file_size_limit_skips_the_dump_not_the_program() {
    let exe = sample("demo", V);
    let native = limited("-f 2", &exe, None);
    let dir = tempfile::tempdir().unwrap();
    let traced = limited("-f 2", &exe, Some(dir.path()));
    assert_eq!(
        traced.status.code(),
        native.status.code(),
        "not killed by SIGXFSZ"
    );
    assert_eq!(traced.stdout, native.stdout);
    let err = String::from_utf8_lossy(&traced.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot write dump") && err.contains("File too large"),
        "{err}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no dump and no temporary file left"
    );
}

#[test]
fn no_memory_for_the_tracker_stops_tracking_only() {
    let exe = sample("demo", V);
    // 1 GB of address space: the program fits, the 4 GB the library
    // reserves for stacks does not.
    let native = limited("-v 1000000", &exe, None);
    let dir = tempfile::tempdir().unwrap();
    let traced = limited("-v 1000000", &exe, Some(dir.path()));
    assert_eq!(traced.status.code(), native.status.code());
    assert_eq!(traced.stdout, native.stdout);
    let err = String::from_utf8_lossy(&traced.stderr);
    assert_eq!(
        err.trim(),
        "leaktrace: cannot reserve memory for stacks; tracking stopped"
    );
}

#[test]
fn a_program_that_closes_every_descriptor_still_gets_its_dump() {
    let run = run_traced(&sample("close_fds", V), &[], &[]);
    assert_eq!(run.output.status.code(), Some(6));
    let r = report(run.dump(), "function");
    assert_eq!(by_function(&r).get("leak_after_closing"), Some(&(64, 1)));
}
