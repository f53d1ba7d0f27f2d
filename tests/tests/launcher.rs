//! `leaktrace -- PROGRAM`: run, report, pass the exit status on.

use leaktrace_e2e::*;
use std::process::Command;

const V: Variant = Variant::O2NoFramePointers;

#[test]
fn runs_reports_and_keeps_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(leaktrace())
        .args(["--format", "json", "--group-by", "function", "--dump-dir"])
        .arg(dir.path())
        .arg("--")
        .arg(sample("exit_thread", V))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_leaks(&r, &[("exiting_leak", 512, 1)], "launcher");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("dumps kept in"), "{stderr}");
}

#[test]
fn program_output_and_arguments_pass_through() {
    let out = Command::new(leaktrace())
        .arg("--")
        .arg(sample("semantics", V))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("errno kept across malloc+free        errno=1234"),
        "{stdout}"
    );
    assert!(stdout.contains("LEAK SUMMARY"), "{stdout}");

    let out = Command::new(leaktrace())
        .args(["--format", "json", "--", "sh", "-c", "exit 4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn a_missing_library_is_a_clear_error() {
    let out = Command::new(leaktrace())
        .env("LEAKTRACE_LIB", "/nonexistent/libleaktrace.so")
        .args(["--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("LEAKTRACE_LIB"), "{stderr}");
}
