//! Any bytes given to the dump reader: an error or a dump, never a panic, a
//! hang or a huge allocation (libFuzzer's RSS limit catches the last). A
//! dump that parses must also write back to bytes that parse to the same
//! dump.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(dump) = leaktrace_format::parse(data) {
        let bytes = leaktrace_format::write_dump(&dump, Vec::new()).expect("writing to memory");
        let again = leaktrace_format::parse(&bytes).expect("a written dump parses");
        assert_eq!(again.blocks, dump.blocks);
        assert_eq!(again.stacks, dump.stacks);
        assert_eq!(again.modules, dump.modules);
        assert_eq!(again.owners, dump.owners);
    }
});
