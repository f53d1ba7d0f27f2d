//! Where names and lines come from: DWARF in the binary, a separate debug
//! file (by .gnu_debuglink or by build-id), the symbol table, or nothing.

use leaktrace_e2e::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tool(name: &str, args: &[&str], cwd: &Path) {
    let ok = Command::new(name)
        .args(args)
        .current_dir(cwd)
        .status()
        .unwrap()
        .success();
    assert!(ok, "{name} {args:?} failed");
}

/// A copy of alloc_family in a fresh directory.
fn copy_of_sample() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("prog");
    std::fs::copy(sample("alloc_family", Variant::O2NoFramePointers), &exe).unwrap();
    (dir, exe)
}

fn leak_malloc_frame(report: &Value) -> Value {
    report["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["bytes"] == 100 && s["blocks"] == 1)
        .expect("the 100-byte leak")["frames"][0]
        .clone()
}

fn report_with(dump: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let (code, out, err) = leakreport_raw(&args, &[dump]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn debug_file_found_by_gnu_debuglink() {
    let (dir, exe) = copy_of_sample();
    tool(
        "objcopy",
        &["--only-keep-debug", "prog", "prog.debug"],
        dir.path(),
    );
    tool("strip", &["--strip-debug", "prog"], dir.path());
    tool(
        "objcopy",
        &["--add-gnu-debuglink=prog.debug", "prog"],
        dir.path(),
    );
    let run = run_traced(&exe, &[], &[]);
    let f = leak_malloc_frame(&report_with(run.dump(), &[]));
    assert_eq!(f["function"], "leak_malloc");
    assert!(
        f["file"].as_str().unwrap().ends_with("alloc_family.c"),
        "{f}"
    );
    assert!(f["line"].is_u64());
}

#[test]
fn debug_file_found_by_build_id() {
    let (dir, exe) = copy_of_sample();
    let dump = leaktrace_format::parse(
        &std::fs::read({
            let run = run_traced(&exe, &[], &[]);
            let p = dir.path().join("dump.bin");
            std::fs::copy(run.dump(), &p).unwrap();
            p
        })
        .unwrap(),
    )
    .unwrap();
    let id: String = dump
        .modules
        .iter()
        .find(|m| m.path.ends_with("/prog"))
        .unwrap()
        .build_id
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let store = dir.path().join("debug/.build-id").join(&id[..2]);
    std::fs::create_dir_all(&store).unwrap();
    let debug = store.join(format!("{}.debug", &id[2..]));
    tool(
        "objcopy",
        &["--only-keep-debug", "prog", debug.to_str().unwrap()],
        dir.path(),
    );
    tool("strip", &["--strip-debug", "prog"], dir.path());

    let dump_path = dir.path().join("dump.bin");
    // Without the debug directory: names from the symbol table, no lines.
    let f = leak_malloc_frame(&report_with(&dump_path, &["--debug-dir", "/nonexistent"]));
    assert_eq!(f["function"], "leak_malloc");
    assert!(f["file"].is_null(), "{f}");
    // With it: lines again.
    let root = dir.path().join("debug");
    let f = leak_malloc_frame(&report_with(
        &dump_path,
        &["--debug-dir", root.to_str().unwrap()],
    ));
    assert_eq!(f["function"], "leak_malloc");
    assert!(
        f["file"].as_str().unwrap().ends_with("alloc_family.c"),
        "{f}"
    );
}

#[test]
fn nothing_known_gives_module_and_offset() {
    let (dir, exe) = copy_of_sample();
    tool("strip", &["--strip-all", "prog"], dir.path());
    let run = run_traced(&exe, &[], &[]);
    let f = leak_malloc_frame(&report_with(run.dump(), &[]));
    assert!(f["function"].is_null(), "{f}");
    assert_eq!(f["module"], exe.to_str().unwrap());
    let offset =
        u64::from_str_radix(f["offset"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let address =
        u64::from_str_radix(f["address"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert!(offset > 0 && offset < address);
    let (_, text, _) = leakreport_raw(&[], &[run.dump()]);
    assert!(
        text.contains(&format!("at ???  prog+{:#x}", offset)),
        "{text}"
    );
}

/// A stripped non-PIE program that takes strcmp's address (as gcc's driver
/// does) has an undefined `strcmp` in .dynsym whose value is its PLT slot.
/// That symbol is not the program's code: the program's frames name
/// nothing, and `leak:strcmp` suppresses none of its leaks.
#[test]
fn undefined_symbols_name_no_code() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("prog");
    let built = build(
        "nonpie_names.c",
        "nonpie_names",
        Variant::O1FramePointers,
        &["-fno-pie", "-no-pie"],
    );
    std::fs::copy(built, &exe).unwrap();
    tool("strip", &["--strip-all", "prog"], dir.path());
    let dynsym = Command::new("readelf")
        .args(["--dyn-syms", "-W"])
        .arg(&exe)
        .output()
        .unwrap();
    let dynsym = String::from_utf8_lossy(&dynsym.stdout);
    assert!(
        dynsym.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 8
                && f[7].starts_with("strcmp@")
                && f[6] == "UND"
                && u64::from_str_radix(f[1], 16).unwrap_or(0) != 0
        }),
        "the sample must have strcmp's PLT slot in .dynsym:\n{dynsym}"
    );

    let run = run_traced(&exe, &[], &[]);
    let report = report_with(run.dump(), &[]);
    let site = report["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["bytes"] == 240 && s["blocks"] == 5)
        .unwrap_or_else(|| panic!("the 5 leaked names: {report}"));
    assert_eq!(site["kind"], "definite");
    let own: Vec<&Value> = site["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["module"] == exe.to_str().unwrap())
        .collect();
    assert!(own.len() >= 3, "make_name, leak_names, main: {site}");
    for f in &own {
        assert!(f["function"].is_null(), "a frame named after no code: {f}");
    }
    let (_, text, _) = leakreport_raw(&[], &[run.dump()]);
    assert!(!text.contains("strcmp"), "{text}");
    assert!(text.contains("at ???  prog+0x"), "{text}");

    let rules = dir.path().join("strcmp.supp");
    std::fs::write(&rules, "leak:strcmp\n").unwrap();
    let report = report_with(run.dump(), &["--suppressions", rules.to_str().unwrap()]);
    assert_eq!(report["totals"]["definite_bytes"], 240, "{report}");
    assert_eq!(report["totals"]["suppressed_bytes"], 0, "{report}");
}
