//! A shell script forking many processes, traced by the launcher and then
//! reported again by leakreport (issue 17, point 1): one line a process,
//! and the identical leaks of the 40 runs of demo.c one leak "in 40
//! processes of demo".

use leaktrace_e2e::*;
use std::path::PathBuf;
use std::process::Command;

const V: Variant = Variant::O1FramePointers;
const SCRIPT: &str = "for i in $(seq 40); do \"$0\" >/dev/null; x=$(echo $i); done";

/// The launcher's output for SCRIPT with `args`, and the run's dumps.
fn traced(args: &[&str], dir: &std::path::Path) -> (String, Vec<PathBuf>) {
    let out = Command::new(leaktrace())
        .args(args)
        .arg("--dump-dir")
        .arg(dir)
        .args(["--", "bash", "-c", SCRIPT])
        .arg(sample("demo", V))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let run_dir = std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // In the launcher's order: by pid.
    let mut dumps = dumps_in(&run_dir);
    dumps.sort_by_key(|p| {
        let name = p.file_name().unwrap().to_str().unwrap();
        name.split('.').nth(1).unwrap().parse::<u64>().unwrap()
    });
    (String::from_utf8(out.stdout).unwrap(), dumps)
}

#[test]
fn a_script_of_many_processes_is_summarized() {
    let dir = tempfile::tempdir().unwrap();
    let (text, dumps) = traced(&[], dir.path());
    // bash, seq, 40 subshells and 40 runs of demo.
    assert_eq!(dumps.len(), 82, "{dumps:?}");
    assert!(
        text.starts_with("leaktrace: 82 processes (82 dumps): 40 leaking"),
        "{text}"
    );
    let leak = "135 bytes in 3 blocks each";
    assert!(
        text.contains(&format!(
            "5,400 (1,920 direct, 3,480 indirect) bytes in 120 blocks, definitely lost, in 40 processes of demo ({leak})"
        )),
        "{text}"
    );
    assert!(text.contains("    at make_record (demo.c:"), "{text}");
    // One line a process: the 40 that leak first.
    let table: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("PROCESSES"))
        .skip(2)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(table.len(), 82, "{text}");
    assert!(
        table[..40]
            .iter()
            .all(|l| l.contains(" 135 ") && l.contains("demo")),
        "{table:#?}"
    );

    // leakreport on the dumps kept says the same, in JSON too.
    let files: Vec<&std::path::Path> = dumps.iter().map(PathBuf::as_path).collect();
    let (code, again, err) = leakreport_raw(&[], &files);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again, text);
    let (code, json, err) = leakreport_raw(&["--format", "json"], &files);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j["kind"], "processes");
    assert_eq!(j["totals"]["processes"], 82);
    assert_eq!(j["totals"]["leaking_processes"], 40);
    let demo = j["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["function"] == "make_record" && s["kind"] == "definite")
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(demo["processes"], 40);
    assert_eq!(demo["total_bytes"], 5400);
    assert_eq!(demo["min_process_bytes"], 135);

    // Every process's own report on request.
    let (code, json, err) = leakreport_raw(&["--format", "json", "--processes", "full"], &files);
    assert_eq!(code, 0, "{err}");
    let all: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 82);
}

#[test]
fn the_launcher_gives_every_report_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let (text, _) = traced(&["--processes", "full"], dir.path());
    assert_eq!(text.matches("\nLEAK SUMMARY\n").count(), 82, "{text}");
}
