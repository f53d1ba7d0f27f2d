//! leakreport's output and its handling of bad input.

use leaktrace_e2e::*;
use std::path::Path;

const V: Variant = Variant::O1FramePointers;

/// Unclassified: these tests are about the report's filters and formats,
/// with each function's blocks in one site (tests/tests/reach.rs has kinds).
fn traced_dump() -> Run {
    run_traced(
        &sample("alloc_family", V),
        &[],
        &[("LEAKTRACE_CLASSIFY", "0")],
    )
}

fn assert_one_line_error(code: i32, stderr: &str, file: &Path, what: &str) {
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(file.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains(what), "expected {what:?} in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_files_give_one_line_and_exit_2() {
    let run = traced_dump();
    let bytes = std::fs::read(run.dump()).unwrap();
    let dir = tempfile::tempdir().unwrap();

    let truncated = dir.path().join("truncated.bin");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let (code, _, err) = leakreport_raw(&[], &[&truncated]);
    assert_one_line_error(code, &err, &truncated, "truncated");

    let foreign = Path::new("/etc/passwd");
    let (code, _, err) = leakreport_raw(&[], &[foreign]);
    assert_one_line_error(code, &err, foreign, "not a leaktrace dump");

    let future = dir.path().join("future.bin");
    let mut b = bytes.clone();
    b[8] = 9;
    std::fs::write(&future, &b).unwrap();
    let (code, _, err) = leakreport_raw(&[], &[&future]);
    let expected = format!(
        "version 9.{} is not supported",
        leaktrace_format::VERSION_MINOR
    );
    assert_one_line_error(code, &err, &future, &expected);

    let missing = dir.path().join("missing.bin");
    let (code, _, err) = leakreport_raw(&[], &[&missing]);
    assert_one_line_error(code, &err, &missing, "cannot read");

    let empty = dir.path().join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let (code, _, err) = leakreport_raw(&["--format", "json"], &[&empty]);
    assert_one_line_error(code, &err, &empty, "truncated");
}

#[test]
fn every_truncation_of_a_real_dump_is_refused_cleanly() {
    let run = traced_dump();
    let bytes = std::fs::read(run.dump()).unwrap();
    for len in (0..bytes.len()).step_by(97) {
        let err = leaktrace_format::parse(&bytes[..len]).unwrap_err();
        assert!(err.to_string().contains("truncated"), "cut at {len}: {err}");
    }
}

#[test]
fn a_rebuilt_binary_is_said_not_misreported() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("prog");
    std::fs::copy(sample("alloc_family", V), &exe).unwrap();
    let run = run_traced(&exe, &[], &[]);
    // Replace the binary by another program: its build-id differs.
    std::fs::copy(sample("deep", V), &exe).unwrap();
    let (code, out, err) = leakreport_raw(&["--format", "json"], &[run.dump()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("build-id") && err.contains(exe.to_str().unwrap()),
        "{err}"
    );
    assert!(
        !out.contains("leak_malloc"),
        "no names from the wrong binary"
    );
    assert!(!out.contains("recurse"), "no names from the wrong binary");
    // The figures are all still there.
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["totals"]["leaked_bytes"], 6282);
}

#[test]
fn a_missing_binary_is_said_and_frames_stay_as_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("prog");
    std::fs::copy(sample("alloc_family", V), &exe).unwrap();
    let run = run_traced(&exe, &[], &[]);
    std::fs::remove_file(&exe).unwrap();
    let (code, out, err) = leakreport_raw(&["--format", "json"], &[run.dump()]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot read") && err.contains(exe.to_str().unwrap()),
        "{err}"
    );
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["totals"]["leaked_blocks"], 21);
    let f = &r["sites"][0]["frames"][0];
    assert_eq!(f["module"], exe.to_str().unwrap());
    assert!(f["function"].is_null());
    assert!(f["offset"].as_str().unwrap().starts_with("0x"));
}

#[test]
fn json_schema() {
    let run = traced_dump();
    let r = report(run.dump(), "stack");
    for key in [
        "pid", "ppid", "exe", "cmdline", "trigger", "totals", "sites",
    ] {
        assert!(!r[key].is_null(), "missing {key}");
    }
    for key in [
        "leaked_bytes",
        "leaked_blocks",
        "allocations",
        "frees",
        "peak_bytes",
    ] {
        assert!(r["totals"][key].is_u64(), "missing totals.{key}");
    }
    let sites = r["sites"].as_array().unwrap();
    let bytes: Vec<u64> = sites.iter().map(|s| s["bytes"].as_u64().unwrap()).collect();
    assert!(
        bytes.windows(2).all(|w| w[0] >= w[1]),
        "sites by bytes descending: {bytes:?}"
    );
    let frame = &sites[0]["frames"][0];
    for key in [
        "function", "file", "line", "inlined", "module", "address", "offset",
    ] {
        assert!(frame.get(key).is_some(), "missing frame.{key}");
    }
    assert_eq!(frame["function"], "leak_pvalloc");
    assert!(frame["file"].as_str().unwrap().ends_with("alloc_family.c"));
    assert!(frame["line"].is_u64());
    assert_eq!(frame["inlined"], false);
}

#[test]
fn filters_formats_and_several_files() {
    let a = traced_dump();
    let b = run_traced(&sample("deep", V), &[], &[]);
    let (code, out, _) = leakreport_raw(&["--format", "json", "--top", "2"], &[a.dump()]);
    assert_eq!(code, 0);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["sites"].as_array().unwrap().len(), 2);
    assert_eq!(r["totals"]["leaked_bytes"], 6282, "totals are not filtered");

    let (_, out, _) = leakreport_raw(&["--format", "json", "--min-bytes", "200"], &[a.dump()]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let sizes: Vec<u64> = r["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, vec![4096, 1000, 300, 256, 200]);

    let (code, out, _) = leakreport_raw(&["--format", "json"], &[a.dump(), b.dump()]);
    assert_eq!(code, 0);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r.as_array().unwrap().len(), 2);
    assert_eq!(r[1]["totals"]["leaked_bytes"], 48);

    let (code, out, _) = leakreport_raw(&[], &[a.dump()]);
    assert_eq!(code, 0);
    assert!(out.contains("LEAK SUMMARY"));
    assert!(out.contains("6,282 bytes in 21 blocks"), "{out}");
    assert!(out.contains("4,096 bytes in 1 block"));
    assert!(out.contains("at leak_pvalloc (alloc_family.c:"), "{out}");
    assert!(!out.contains('\x1b'), "no colour when piped");
    let (_, out, _) = leakreport_raw(&["--color", "always"], &[a.dump()]);
    assert!(out.contains('\x1b'));
}
