//! What leakreport does with a dump that parses: symbolize it (opening the
//! files its modules name), group, classify, apply the suppressions, print
//! text and JSON — never a panic, a hang or a huge allocation, whatever
//! the counts, kinds, owners, stacks and module paths say.
#![no_main]

use clap::Parser;
use leaktrace_report::analysis::{analyse_with, Depth};
use leaktrace_report::cli::ReportOptions;
use leaktrace_report::input::Input;
use leaktrace_report::suppress::{Suppressions, DEFAULTS};
use leaktrace_report::symbolize::ObjectCache;
use libfuzzer_sys::fuzz_target;

thread_local! {
    /// One cache for the whole run, as leakreport has: the objects a
    /// module path names are opened once and kept (reachable, not leaked).
    static OBJECTS: std::cell::RefCell<ObjectCache> =
        std::cell::RefCell::new(ObjectCache::new(Vec::new()));
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    options: ReportOptions,
}

fuzz_target!(|data: &[u8]| {
    let Ok(dump) = leaktrace_format::parse(data) else {
        return;
    };
    // Even bytes: the default report; odd: everything shown, by function.
    let args: &[&str] = if data.len() % 2 == 0 {
        &["leakreport"]
    } else {
        &["leakreport", "--show-reachable", "--group-by", "function", "--top", "3"]
    };
    let options = Args::parse_from(args).options;
    let suppressions = Suppressions::parse(DEFAULTS, "defaults").expect("the built-in rules");
    let input = Input {
        path: "fuzzed.bin".into(),
        dump,
    };
    let depth = if data.len() % 3 == 0 {
        Depth::Printed
    } else {
        Depth::Full
    };
    let a = OBJECTS.with(|objects| {
        let mut objects = objects.borrow_mut();
        analyse_with(input, &options, &suppressions, &mut objects, depth)
    });
    let style = leaktrace_report::text::Style { on: false };
    let _ = leaktrace_report::text::render(&a, &style);
    let _ = serde_json::to_string(&leaktrace_report::json::report(&a));
});
