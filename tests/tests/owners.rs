//! Issue #16, points 4 and 5, end to end.
//!
//! Loss records: `c-samples/owned_vectors.cpp` loses 10 objects, each the
//! only owner of a 4,000-byte `std::vector<char>`. valgrind says "40,240
//! (240 direct, 40,000 indirect) bytes in 10 blocks are definitely lost";
//! leakreport must rank the objects first with the same figures, name them
//! as the buffers' owner, and say so in JSON too.
//!
//! Growth by kind: `c-samples/growth_kinds.c` loses blocks and fills a
//! cache faster; with classified periodic snapshots the lost growth ranks
//! first and each site says its kind.

use leaktrace_e2e::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const LINE_1: &str =
    "40,240 (240 direct, 40,000 indirect) bytes in 10 blocks, definitely lost  (site 1 of 2)";
const LINE_2: &str =
    "40,000 bytes in 10 blocks, indirectly lost, owned by site 1 (make_holder)  (site 2 of 2)";

fn headlines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains("(site ")).collect()
}

#[test]
fn the_objects_come_first_with_the_vectors_they_own() {
    for v in VARIANTS {
        let run = run_traced(&sample("owned_vectors", v), &[], &[]);
        let (code, text, err) = leakreport_raw(&[], &[run.dump()]);
        assert_eq!(code, 0, "{v:?}: {err}");
        assert_eq!(headlines(&text), [LINE_1, LINE_2], "{v:?}:\n{text}");

        let (code, out, err) = leakreport_raw(&["--format", "json"], &[run.dump()]);
        assert_eq!(code, 0, "{v:?}: {err}");
        let r: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(r["totals"]["owners_known"], true, "{v:?}");
        assert_eq!(r["totals"]["definite_bytes"], 240, "{v:?}");
        assert_eq!(r["totals"]["indirect_bytes"], 40_000, "{v:?}");
        let s = &r["sites"];
        let first = (
            &s[0]["id"],
            &s[0]["kind"],
            &s[0]["function"],
            &s[0]["bytes"],
            &s[0]["blocks"],
            &s[0]["indirect_bytes"],
            &s[0]["indirect_blocks"],
            &s[0]["total_bytes"],
        );
        assert_eq!(
            first,
            (
                &1.into(),
                &"definite".into(),
                &"make_holder".into(),
                &240.into(),
                &10.into(),
                &40_000.into(),
                &10.into(),
                &40_240.into()
            ),
            "{v:?}: {out}"
        );
        assert_eq!(s[1]["id"], 2, "{v:?}");
        assert_eq!(s[1]["kind"], "indirect", "{v:?}");
        assert_eq!(s[1]["bytes"], 40_000, "{v:?}");
        assert_eq!(s[1]["owner"], 1, "{v:?}");
        assert_eq!(s[1]["owner_function"], "make_holder", "{v:?}");
        assert_eq!(s[1]["total_bytes"], 40_000, "{v:?}");

        // --fail-on counts each kind by its own blocks, as before.
        for (on, expected) in [("definite", 23), ("indirect", 23), ("possible", 0)] {
            let (code, _, err) = leakreport_raw(&["--fail-on", on], &[run.dump()]);
            assert_eq!(code, expected, "{v:?} --fail-on {on}: {err}");
        }
    }
}

#[test]
fn valgrind_gives_the_same_loss_record() {
    let exe = sample("owned_vectors", Variant::O1FramePointers);
    let out = Command::new("valgrind")
        .args(["--leak-check=full", "--error-exitcode=0"])
        .arg(&exe)
        .output()
        .expect("valgrind is installed by scripts/install-test-deps");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(
            "40,240 (240 direct, 40,000 indirect) bytes in 10 blocks are definitely lost"
        ),
        "{text}"
    );
}

fn growth_report(dumps: &[PathBuf]) -> Value {
    let files: Vec<&Path> = dumps.iter().map(PathBuf::as_path).collect();
    let (code, out, err) = leakreport_raw(&["--format", "json"], &files);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}): {out}"))
}

#[test]
fn lost_growth_ranks_before_a_faster_cache() {
    let exe = sample("growth_kinds", Variant::O2NoFramePointers);
    let run = run_traced(
        &exe,
        &[],
        &[("LEAKTRACE_CLASSIFY", "1"), ("LEAKTRACE_INTERVAL", "300ms")],
    );
    assert!(run.dumps.len() >= 3, "{:?} {}", run.dumps, run.stderr());
    let r = growth_report(&run.dumps);
    assert_eq!(r["kind"], "growth", "{r}");
    assert!(r["dumps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["classified"] == true));
    let sites = r["sites"].as_array().unwrap();
    let (lose, remember) = (&sites[0], &sites[1]);
    assert_eq!(lose["function"], "lose", "{r}");
    assert_eq!(lose["growth_kinds"], serde_json::json!(["lost"]), "{r}");
    assert_eq!(lose["lost_growth"], true);
    assert_eq!(remember["function"], "remember", "{r}");
    assert_eq!(remember["growth_kinds"], serde_json::json!(["reachable"]));
    assert_eq!(remember["lost_growth"], false);
    // The cache grows twice as fast: it is its kind that ranks it second.
    assert!(
        remember["bytes_per_second"].as_f64() > lose["bytes_per_second"].as_f64(),
        "{r}"
    );
    // Every 100-byte block is lost at every dump, every 200-byte one held.
    assert_eq!(lose["lost_bytes"], lose["bytes"].clone(), "{r}");
    assert_eq!(
        remember["reachable_bytes"],
        remember["bytes"].clone(),
        "{r}"
    );

    let files: Vec<&Path> = run.dumps.iter().map(PathBuf::as_path).collect();
    let (_, text, _) = leakreport_raw(&[], &files);
    let heads = headlines(&text);
    assert!(
        heads[0].ends_with("never shrank, lost  (site 1 of 2)")
            && heads[1].ends_with("never shrank, still reachable  (site 2 of 2)"),
        "{text}"
    );
    assert!(text.contains("\n    lost:   "), "{text}");
    assert!(text.contains("\n    still reachable: "), "{text}");
}
