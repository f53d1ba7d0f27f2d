//! What a new user meets on real programs (issue 17): a dump with no live
//! block says it was classified.

use leaktrace_e2e::*;

const V: Variant = Variant::O2NoFramePointers;

/// A program that frees everything: its exit dump has no block, and the
/// report says it was classified (no "not classified" line), in text and
/// JSON; with `LEAKTRACE_CLASSIFY=0` it says it was not.
#[test]
fn an_exit_dump_with_no_blocks_is_classified() {
    let exe = sample("frees_all", V);
    let run = run_traced(&exe, &[], &[]);
    assert!(run.output.status.success(), "{}", run.stderr());
    let d = leaktrace_format::parse(&std::fs::read(run.dump()).unwrap()).unwrap();
    assert!(d.blocks.is_empty() && d.classified, "{d:?}");
    assert_eq!(d.totals.allocations, 64);
    let (code, text, err) = leakreport_raw(&[], &[run.dump()]);
    assert_eq!(code, 0, "{err}");
    assert!(!text.contains("not classified"), "{text}");
    let json = report(run.dump(), "stack");
    assert_eq!(json["totals"]["classified"], true, "{json}");

    let run = run_traced(&exe, &[], &[("LEAKTRACE_CLASSIFY", "0")]);
    let d = leaktrace_format::parse(&std::fs::read(run.dump()).unwrap()).unwrap();
    assert!(!d.classified);
    let (_, text, _) = leakreport_raw(&[], &[run.dump()]);
    assert!(text.contains("not classified"), "{text}");
}
