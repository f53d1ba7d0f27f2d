//! LEAKTRACE_SAMPLE: record a sample of allocations by bytes and estimate
//! the leaks from it.

use leaktrace_e2e::*;

#[test]
fn a_sampled_run_estimates_a_large_leak() {
    let exe = sample("big_leak", Variant::O2NoFramePointers);
    // Exact without sampling.
    let full = run_traced(&exe, &[], &[]);
    let r = report(full.dump(), "function");
    assert_leaks(
        &r,
        &[
            ("leak_big", 20_000_000, 20_000),
            ("leak_grown", 20_000_000, 20_000),
        ],
        "full",
    );
    assert_eq!(r["sampled"], false);

    // With one sample per 64 KiB, each 1000-byte block is kept with
    // probability 1 - exp(-1000/65536) ≈ 1.5 %: about 300 of 20,000, so
    // the estimate's standard deviation is about 6 %. ±25 % is 4 sigma.
    let run = run_traced(&exe, &[], &[("LEAKTRACE_SAMPLE", "64k")]);
    assert!(run.output.status.success(), "{}", run.stderr());
    let r = report(run.dump(), "function");
    assert_eq!(r["sampled"], true);
    assert_eq!(r["sample_bytes"], 65536);
    // leak_grown's blocks count by their last realloc, to 1000 bytes: the
    // same estimate. A block recorded at an earlier size is forgotten when
    // realloc moves past it, sampled or not (else it would count as 100,
    // 250 or 500 leaked bytes more, and clean_regrow would leak).
    for function in ["leak_big", "leak_grown"] {
        let site = r["sites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["function"] == function)
            .unwrap_or_else(|| panic!("no {function} site: {r}"));
        let bytes = site["bytes"].as_f64().unwrap();
        let blocks = site["blocks"].as_f64().unwrap();
        let recorded = site["recorded_blocks"].as_u64().unwrap();
        assert!(
            (bytes / 20e6 - 1.0).abs() < 0.25,
            "{function}: estimated {bytes} bytes for 20,000,000"
        );
        assert!(
            (blocks / 20e3 - 1.0).abs() < 0.25,
            "{function}: estimated {blocks} blocks for 20,000"
        );
        assert!(
            recorded > 100 && recorded < 600,
            "{function}: {recorded} blocks recorded"
        );
    }
    let functions = all_functions(&r);
    assert!(
        functions
            .iter()
            .all(|f| f != "clean_churn" && f != "clean_regrow"),
        "{functions:?}"
    );

    // The text report says the figures are estimates.
    let (code, text, _) = leakreport_raw(&[], &[run.dump()]);
    assert_eq!(code, 0);
    assert!(text.contains("figures marked ~ are estimates"), "{text}");
}

#[test]
fn a_bad_sample_size_is_said_and_everything_recorded() {
    let run = run_traced(
        &sample("alloc_family", Variant::O2NoFramePointers),
        &[],
        &[("LEAKTRACE_SAMPLE", "lots")],
    );
    assert!(
        run.stderr().contains("LEAKTRACE_SAMPLE"),
        "{}",
        run.stderr()
    );
    let r = report(run.dump(), "function");
    assert_eq!(r["sampled"], false);
    assert_eq!(r["totals"]["leaked_blocks"], 21);
}
