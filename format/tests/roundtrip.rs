//! Round trip and hostile-input tests of the dump format.

use leaktrace_format::*;

fn sample() -> Dump {
    Dump {
        version_minor: VERSION_MINOR,
        process: ProcessInfo {
            pid: 4242,
            ppid: 1,
            start_ns: 1_700_000_000_000_000_000,
            dump_ns: 1_700_000_001_000_000_000,
            trigger: Trigger::Exit,
            snapshot: 0,
            exe: "/usr/bin/demo".into(),
            cmdline: vec!["demo".into(), "--flag".into(), "ü".into()],
        },
        totals: Totals {
            allocations: 10,
            frees: 7,
            bytes_allocated: 1000,
            peak_bytes: 600,
            peak_blocks: 5,
        },
        modules: vec![Module {
            path: "/usr/bin/demo".into(),
            build_id: vec![0xab; 20],
            bias: 0x5555_0000_0000,
            unloaded: false,
            segments: vec![Segment {
                vaddr: 0x1000,
                memsz: 0x2000,
                flags: 5,
            }],
        }],
        stacks: vec![
            Stack {
                id: 1,
                pcs: vec![0x5555_0000_1234, 0x5555_0000_2345],
            },
            Stack { id: 9, pcs: vec![] },
        ],
        blocks: vec![
            Block {
                address: 0x1000,
                size: 24,
                stack: 1,
                allocated_ds: 7,
                kind: Kind::Definite,
            },
            Block {
                address: 0x2000,
                size: 0,
                stack: 9,
                allocated_ds: u32::MAX,
                kind: Kind::Reachable,
            },
            Block {
                address: 0x3000,
                size: 4000,
                stack: 1,
                allocated_ds: 8,
                kind: Kind::Indirect,
            },
        ],
        owners: vec![NO_OWNER, NO_OWNER, 0],
        sample_bytes: None,
        memory: Some(Memory {
            has_process: true,
            vss: 1 << 30,
            rss: 5 << 20,
            pss: 4 << 20,
            uss: 3 << 20,
            swap: 0,
            has_malloc: true,
            malloc_arena: 135_168,
            malloc_mmapped: 0,
            malloc_in_use: 2_000,
            malloc_free: 133_168,
        }),
        classified: true,
        other_malloc: Some(OtherMalloc {
            module: "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2".into(),
            functions: vec!["malloc".into(), "free".into(), "calloc".into()],
        }),
    }
}

fn encode(d: &Dump) -> Vec<u8> {
    write_dump(d, Vec::new()).unwrap()
}

#[test]
fn round_trip() {
    let d = sample();
    assert_eq!(parse(&encode(&d)).unwrap(), d);
}

#[test]
fn sampled_round_trip_and_weights() {
    let mut d = sample();
    d.sample_bytes = Some(512 * 1024);
    let back = parse(&encode(&d)).unwrap();
    assert_eq!(back, d);
    // A block as large as the mean is kept with probability 1 - 1/e.
    let w = back.weight(512 * 1024);
    assert!((w - 1.0 / (1.0 - (-1.0f64).exp())).abs() < 1e-9, "{w}");
    assert_eq!(sample().weight(100), 1.0);
}

#[test]
fn every_truncation_is_a_clear_error() {
    let bytes = encode(&sample());
    for len in 0..bytes.len() {
        let err = parse(&bytes[..len]).expect_err("a truncated dump must not parse");
        let msg = err.to_string();
        assert!(
            matches!(err, FormatError::Truncated { .. }),
            "cut at {len}: expected a truncation error, got {msg}"
        );
        assert!(!msg.contains('\n'));
    }
}

#[test]
fn every_byte_change_is_an_error_or_a_dump() {
    let bytes = encode(&sample());
    for i in 0..bytes.len() {
        for v in [0u8, 0xff, bytes[i] ^ 1] {
            let mut b = bytes.clone();
            b[i] = v;
            // Either it parses or it says why; it must never panic.
            let _ = parse(&b);
        }
    }
}

#[test]
fn foreign_and_future_files() {
    assert_eq!(
        parse(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0"),
        Err(FormatError::NotADump)
    );
    let mut b = encode(&sample());
    b[8] = 2;
    let err = parse(&b).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("version 2.{VERSION_MINOR} is not supported")),
        "{err}"
    );
}

#[test]
fn unknown_optional_records_are_skipped_required_refused() {
    let d = sample();
    let mut w = RecordWriter::new(Vec::new()).unwrap();
    w.record(tag::PROCESS, FLAG_REQUIRED, &Encoder::process(&d.process))
        .unwrap();
    w.record(77, 0, b"future optional data").unwrap();
    w.record(tag::MODULES, FLAG_REQUIRED, &Encoder::modules(&d.modules))
        .unwrap();
    w.record(tag::STACKS, FLAG_REQUIRED, &0u32.to_le_bytes())
        .unwrap();
    w.record(tag::BLOCKS, FLAG_REQUIRED, &0u64.to_le_bytes())
        .unwrap();
    let ok = w.finish().unwrap();
    let parsed = parse(&ok).unwrap();
    assert_eq!(parsed.process, d.process);
    assert!(parsed.blocks.is_empty());

    let mut w = RecordWriter::new(Vec::new()).unwrap();
    w.record(78, FLAG_REQUIRED, b"x").unwrap();
    let bad = w.finish().unwrap();
    assert_eq!(parse(&bad), Err(FormatError::UnknownRequired { tag: 78 }));
}

#[test]
fn forged_counts_do_not_allocate() {
    let d = sample();
    let mut w = RecordWriter::new(Vec::new()).unwrap();
    w.record(tag::PROCESS, FLAG_REQUIRED, &Encoder::process(&d.process))
        .unwrap();
    w.record(tag::BLOCKS, FLAG_REQUIRED, &u64::MAX.to_le_bytes())
        .unwrap();
    let err = parse(&w.finish().unwrap()).unwrap_err();
    assert!(err.to_string().contains("claims"), "{err}");
}

/// Found by fuzzing: modules with an empty path, no build-id and no
/// segment take 24 bytes each, and a file of them is a valid dump.
#[test]
fn the_smallest_modules_parse() {
    let mut d = sample();
    d.modules = (0..7)
        .map(|i| Module {
            path: String::new(),
            build_id: Vec::new(),
            bias: i,
            unloaded: false,
            segments: Vec::new(),
        })
        .collect();
    assert_eq!(parse(&encode(&d)).unwrap(), d);
}

/// The blocks and kinds of `d`, with an owners record of `entries` (which
/// need not match the blocks: the point is to see what the reader makes of
/// them).
fn with_owners(d: &Dump, entries: &[u32]) -> Vec<u8> {
    let mut plain = d.clone();
    plain.owners.clear();
    let bytes = encode(&plain);
    // Put the record just before END, keeping END's count right.
    let end = bytes.len() - RECORD_HEADER_LEN - 8;
    let records = u64::from_le_bytes(bytes[end + RECORD_HEADER_LEN..].try_into().unwrap());
    let mut w = Vec::new();
    w.extend_from_slice(&bytes[..end]);
    let payload = Encoder::owners(entries);
    w.extend_from_slice(&tag::OWNERS.to_le_bytes());
    w.extend_from_slice(&0u32.to_le_bytes());
    w.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    w.extend_from_slice(&payload);
    w.extend_from_slice(&bytes[end..end + RECORD_HEADER_LEN]);
    w.extend_from_slice(&(records + 1).to_le_bytes());
    w
}

#[test]
fn owners_round_trip_and_name_a_definite_block() {
    let d = sample();
    let bytes = encode(&d);
    let back = parse(&bytes).unwrap();
    assert_eq!(back.owners, vec![NO_OWNER, NO_OWNER, 0]);
    assert_eq!(back.owner(2), Some(0));
    assert_eq!(back.owner(0), None);
    // The payload as the preload library writes it: u64 count, u32 each.
    let payload = Encoder::owners(&d.owners);
    assert_eq!(payload.len(), 8 + 4 * 3);
    assert_eq!(&payload[..8], &3u64.to_le_bytes());
    assert_eq!(&payload[16..20], &0u32.to_le_bytes());
    assert_eq!(with_owners(&d, &d.owners), bytes);
}

#[test]
fn a_dump_without_owners_has_none() {
    let mut d = sample();
    d.owners.clear();
    let back = parse(&encode(&d)).unwrap();
    assert!(back.owners.is_empty());
    assert_eq!(back.owner(2), None);
}

#[test]
fn owners_that_name_no_definite_block_mean_none() {
    let d = sample();
    // Block 2 (indirect) names: itself, the reachable block, a block past
    // the end; block 0 (definite) names block 0; block 1 (reachable) names
    // the definite block.
    for entries in [[NO_OWNER, NO_OWNER, 2], [NO_OWNER, NO_OWNER, 1], [0, 0, 3]] {
        let back = parse(&with_owners(&d, &entries)).unwrap();
        assert_eq!(back.owners, vec![NO_OWNER; 3], "{entries:?}");
    }
    let back = parse(&with_owners(&d, &[NO_OWNER, NO_OWNER, u32::MAX - 1])).unwrap();
    assert_eq!(back.owners, vec![NO_OWNER; 3]);
}

#[test]
fn an_owners_count_other_than_the_blocks_is_corrupt() {
    let d = sample();
    for entries in [&[0u32, 0][..], &[NO_OWNER; 4][..], &[][..]] {
        let err = parse(&with_owners(&d, entries)).unwrap_err();
        assert!(
            err.to_string().contains(&format!(
                "the owners record has {} entries for 3 blocks",
                entries.len()
            )),
            "{err}"
        );
    }
}

/// A classified dump with no live blocks still says it was classified
/// (1.3: the kinds record is written with no entries); an unclassified one
/// does not.
#[test]
fn an_empty_classified_dump_says_so() {
    let mut d = sample();
    d.blocks.clear();
    d.owners.clear();
    d.stacks.clear();
    let back = parse(&encode(&d)).unwrap();
    assert!(back.classified && back.blocks.is_empty());
    d.classified = false;
    assert!(!parse(&encode(&d)).unwrap().classified);
}
