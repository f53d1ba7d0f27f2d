//! The core promise: every leak at exit found, with exact bytes and blocks,
//! at the right function, in code built with and without frame pointers.

use leaktrace_e2e::*;

#[test]
fn every_allocation_function_is_tracked() {
    for v in VARIANTS {
        let run = run_traced(&sample("alloc_family", v), &[], &[]);
        assert!(run.output.status.success(), "{v:?}: {}", run.stderr());
        let r = report(run.dump(), "function");
        assert_leaks(
            &r,
            &[
                ("leak_malloc", 100, 1),
                ("leak_calloc", 120, 1),
                ("leak_realloc_grow", 300, 1),
                ("leak_realloc_null", 40, 1),
                ("leak_reallocarray", 96, 1),
                ("leak_posix_memalign", 200, 1),
                ("leak_aligned_alloc", 256, 1),
                ("leak_memalign", 64, 1),
                ("leak_valloc", 10, 1),
                ("leak_pvalloc", 4096, 1),
                ("leak_malloc_zero", 0, 1),
                ("leak_many", 1000, 10),
            ],
            &format!("alloc_family {v:?}"),
        );
        // Nothing but these leaks: the totals add up exactly.
        assert_eq!(r["totals"]["live_bytes"], 6282, "{v:?}");
        assert_eq!(r["totals"]["live_blocks"], 21, "{v:?}");
        let t = &r["totals"];
        assert_eq!(
            t["allocations"].as_u64().unwrap() - t["frees"].as_u64().unwrap(),
            21,
            "{v:?}: allocations - frees must equal the live blocks"
        );
    }
}

#[test]
fn the_peak_is_exact_in_one_thread() {
    // Each thread publishes its live figures when they may pass the peak
    // (preload/src/stats.rs): a single thread's peak is exact.
    for v in VARIANTS {
        let run = run_traced(&sample("peak", v), &[], &[]);
        assert!(run.output.status.success(), "{v:?}: {}", run.stderr());
        let t = &report(run.dump(), "function")["totals"];
        assert_eq!(
            t["peak_bytes"], 6_400_000,
            "{v:?}: 64 blocks of 100,000 bytes"
        );
        assert_eq!(t["peak_blocks"], 5_000, "{v:?}: 5,000 blocks of 16 bytes");
        assert_eq!(t["live_bytes"], 1_000, "{v:?}");
        assert_eq!(t["live_blocks"], 1, "{v:?}");
    }
}

#[test]
fn libc_allocations_are_charged_to_their_caller() {
    for v in VARIANTS {
        let run = run_traced(&sample("libc_internal", v), &[], &[]);
        assert!(run.output.status.success(), "{v:?}: {}", run.stderr());
        let r = report(run.dump(), "function");
        assert_leaks(
            &r,
            &[
                ("leak_strdup", 12, 1),
                ("leak_getline", 120, 1),
                ("leak_asprintf", 9, 1),
                // glibc 2.36's FILE with its lock and wide data.
                ("leak_fopen", 472, 1),
            ],
            &format!("libc_internal {v:?}"),
        );
    }
}

#[test]
fn cpp_new_and_container_buffers() {
    for v in VARIANTS {
        let run = run_traced(&sample("cpp_leaks", v), &[], &[]);
        assert!(run.output.status.success(), "{v:?}: {}", run.stderr());
        let r = report(run.dump(), "function");
        assert_leaks(
            &r,
            &[
                ("leak_new_int()", 4, 1),
                ("leak_new_array()", 40, 1),
                ("leak_string()", 133, 2),
                ("leak_vector()", 424, 2),
                ("leak_map_node()", 88, 2),
            ],
            &format!("cpp_leaks {v:?}"),
        );
        // The string's buffer passes through libstdc++ (no frame pointers):
        // its stack must still reach leak_string.
        let by_stack = report(run.dump(), "stack");
        let through_libstdcxx = by_stack["sites"].as_array().unwrap().iter().any(|s| {
            let frames = s["frames"].as_array().unwrap();
            frames[0]["function"].as_str() == Some("operator new(unsigned long)")
                && frames.iter().any(|f| f["function"] == "leak_string()")
                && s["bytes"] == 101
        });
        assert!(
            through_libstdcxx,
            "{v:?}: no 101-byte string buffer reaching leak_string: {by_stack}"
        );
    }
}

#[test]
fn threads_are_tracked() {
    for v in VARIANTS {
        let run = run_traced(&sample("threads", v), &[], &[]);
        assert!(run.output.status.success(), "{v:?}: {}", run.stderr());
        let r = report(run.dump(), "function");
        assert_leaks(
            &r,
            &[("thread_leak", 6400, 100), ("main_leak", 8, 1)],
            &format!("threads {v:?}"),
        );
        assert!(r["totals"]["allocations"].as_u64().unwrap() >= 2_000_000);
    }
}

#[test]
fn a_leak_200_frames_down() {
    for v in VARIANTS {
        let exe = sample("deep", v);
        // Default depth: 64 frames, innermost first.
        let run = run_traced(&exe, &[], &[]);
        let r = report(run.dump(), "stack");
        let frames = r["sites"][0]["frames"].as_array().unwrap();
        assert_eq!(frames.len(), 64, "{v:?}");
        assert_eq!(frames[0]["function"], "leak_at_bottom", "{v:?}");
        assert!(
            frames[1..].iter().all(|f| f["function"] == "recurse"),
            "{v:?}"
        );
        // LEAKTRACE_DEPTH=300 keeps the whole stack down to main.
        let run = run_traced(&exe, &[], &[("LEAKTRACE_DEPTH", "300")]);
        let r = report(run.dump(), "stack");
        let names: Vec<&str> = r["sites"][0]["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["function"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(
            names.iter().filter(|n| **n == "recurse").count(),
            201,
            "{v:?}: {names:?}"
        );
        assert!(names.contains(&"main"), "{v:?}: {names:?}");
        assert_eq!(r["sites"][0]["bytes"], 48);
    }
}

#[test]
fn a_dlclosed_plugin_is_still_symbolized() {
    for v in VARIANTS {
        let plugin = build("plugin.c", "libplugin.so", v, &["-shared", "-fPIC"]);
        let host = sample("dlopen_host", v);
        let run = run_traced(&host, &[plugin.to_str().unwrap()], &[]);
        assert!(run.output.status.success(), "{v:?}: {}", run.stderr());
        let dump = leaktrace_format::parse(&std::fs::read(run.dump()).unwrap()).unwrap();
        let m = dump
            .modules
            .iter()
            .find(|m| m.path.ends_with("libplugin.so"))
            .expect("the plugin is in the module map");
        assert!(m.unloaded, "the plugin is marked unloaded");
        let r = report(run.dump(), "function");
        assert_leaks(&r, &[("plugin_leak", 333, 1)], &format!("plugin {v:?}"));
    }
}

#[test]
fn exit_from_a_second_thread_while_others_allocate() {
    for v in VARIANTS {
        let run = run_traced(&sample("exit_thread", v), &[], &[]);
        assert_eq!(run.output.status.code(), Some(3), "{v:?}: {}", run.stderr());
        let r = report(run.dump(), "function");
        assert_leaks(
            &r,
            &[("exiting_leak", 512, 1)],
            &format!("exit_thread {v:?}"),
        );
        assert_eq!(r["trigger"], "exit");
    }
}

#[test]
fn allocations_before_our_constructor_are_tracked() {
    for v in VARIANTS {
        let lib = build("ctor_lib.c", "libctorleak.so", v, &["-shared", "-fPIC"]);
        let dir = lib.parent().unwrap().to_str().unwrap().to_string();
        let host = build(
            "ctor_host.c",
            "ctor_host",
            v,
            &[
                &format!("-L{dir}"),
                "-lctorleak",
                &format!("-Wl,-rpath,{dir}"),
            ],
        );
        let run = run_traced(&host, &[], &[]);
        assert!(run.output.status.success(), "{v:?}: {}", run.stderr());
        let r = report(run.dump(), "function");
        assert_leaks(&r, &[("ctor_leak", 77, 1)], &format!("ctor {v:?}"));
    }
}

#[test]
fn rust_names_are_demangled() {
    for v in VARIANTS {
        let run = run_traced(&rust_sample("rust_leak", v), &[], &[]);
        assert!(run.output.status.success(), "{v:?}: {}", run.stderr());
        let r = report(run.dump(), "function");
        assert_leaks(
            &r,
            &[
                ("rust_leak::leak_vec", 1000, 1),
                ("rust_leak::leak_box", 128, 1),
                ("rust_leak::leak_string", 64, 1),
            ],
            &format!("rust {v:?}"),
        );
        assert!(
            all_functions(&r)
                .iter()
                .all(|f| !f.starts_with("_ZN") && !f.starts_with("_R")),
            "{v:?}: a mangled name is left"
        );
    }
}

#[test]
fn stacks_are_interned_and_inline_frames_shown() {
    // 2 million allocations from a handful of call sites: a handful of stacks.
    let run = run_traced(&sample("threads", Variant::O2NoFramePointers), &[], &[]);
    let dump = leaktrace_format::parse(&std::fs::read(run.dump()).unwrap()).unwrap();
    assert!(
        dump.stacks.len() <= 10,
        "{} stacks stored",
        dump.stacks.len()
    );
    // std::vector's allocation path is inlined into leak_vector.
    let run = run_traced(&sample("cpp_leaks", Variant::O2NoFramePointers), &[], &[]);
    let r = report(run.dump(), "function");
    let site = r["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["function"] == "leak_vector()" && s["bytes"] == 400)
        .unwrap();
    let frames = site["frames"].as_array().unwrap();
    assert!(frames.iter().any(|f| f["inlined"] == true), "{site}");
    let last_inlined = frames.iter().rposition(|f| f["inlined"] == true).unwrap();
    assert_eq!(
        frames[last_inlined + 1]["inlined"],
        false,
        "an inlined frame is followed by its host"
    );
}

#[test]
fn coroutine_and_signal_stacks() {
    for v in VARIANTS {
        let run = run_traced(&sample("other_stacks", v), &[], &[]);
        assert!(run.output.status.success(), "{v:?}: {:?}", run.output);
        let r = report(run.dump(), "stack");
        // The walk stopped at the frame whose RBP led out of the stack.
        let odd = r["sites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["frames"][0]["function"] == "no_unwind_info_malloc")
            .unwrap_or_else(|| panic!("{v:?}: {r}"));
        assert_eq!(
            (odd["bytes"].as_u64(), odd["blocks"].as_u64()),
            (Some(999), Some(1))
        );
        for (leak, caller, bytes, blocks) in [
            ("co_leak", "co_body", 43_210, 10),
            ("altstack_leak", "on_usr2", 777, 1),
        ] {
            let site = r["sites"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["frames"][0]["function"] == leak)
                .unwrap_or_else(|| panic!("{v:?}: no site at {leak}: {r}"));
            assert_eq!(
                (site["bytes"].as_u64(), site["blocks"].as_u64()),
                (Some(bytes), Some(blocks)),
                "{v:?} {leak}"
            );
            assert_eq!(site["frames"][1]["function"], caller, "{v:?}: {site}");
        }
    }
}

/// `LEAKTRACE_STACK_CACHE=0` (every capture walks: what the bench
/// compares against) and the default give the same stacks, byte for byte.
#[test]
fn the_stack_cache_changes_no_stack() {
    for v in VARIANTS {
        for name in ["same_depth", "deep", "alloc_family"] {
            let folded = |env: &[(&str, &str)]| {
                let run = run_traced(&sample(name, v), &[], env);
                let (code, out, err) =
                    leakreport_raw(&["--show-reachable", "--format", "folded"], &[run.dump()]);
                assert_eq!(code, 0, "{err}");
                out
            };
            let cached = folded(&[]);
            let walked = folded(&[("LEAKTRACE_STACK_CACHE", "0")]);
            assert!(cached.lines().count() >= 1, "{v:?} {name}: {cached}");
            assert_eq!(cached, walked, "{v:?} {name}");
        }
    }
}

#[test]
fn same_inner_frames_under_different_callers() {
    for v in VARIANTS {
        let run = run_traced(&sample("same_depth", v), &[], &[]);
        let r = report(run.dump(), "stack");
        for caller in ["caller_a", "caller_b"] {
            let site = r["sites"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| {
                    s["frames"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|f| f["function"] == caller)
                })
                .unwrap_or_else(|| panic!("{v:?}: no site through {caller}: {r}"));
            assert_eq!(
                (site["bytes"].as_u64(), site["blocks"].as_u64()),
                (Some(2000), Some(50)),
                "{v:?} {caller}"
            );
            let names: Vec<&str> = site["frames"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["function"].as_str().unwrap_or("?"))
                .collect();
            assert_eq!(&names[..4], &["leaf", "middle", caller, "main"], "{v:?}");
        }
    }
}

#[test]
fn fork_while_another_thread_allocates() {
    let run = run_traced(
        &sample("fork_children", Variant::O2NoFramePointers),
        &[],
        &[],
    );
    assert_eq!(run.output.status.code(), Some(0), "{}", run.stderr());
    assert_eq!(
        run.dumps.len(),
        21,
        "the parent and 20 children each leave a dump"
    );
    let mut children = 0;
    for dump in &run.dumps {
        let r = report(dump, "function");
        let sites = by_function(&r);
        if r["ppid"].as_u64() == Some(u64::from(std::process::id())) {
            assert_eq!(sites.get("parent_leak"), Some(&(11, 1)), "{sites:?}");
            assert!(!sites.contains_key("child_leak"));
        } else {
            children += 1;
            assert_eq!(sites.get("child_leak"), Some(&(22, 1)), "{sites:?}");
            assert!(!sites.contains_key("parent_leak"), "made after the fork");
        }
    }
    assert_eq!(children, 20);
}

#[test]
fn stacks_deeper_than_the_remembered_part_stay_whole() {
    for v in VARIANTS {
        // Unclassified: the three blocks' kinds would split the site.
        let run = run_traced(
            &sample("deeper", v),
            &[],
            &[("LEAKTRACE_DEPTH", "1024"), ("LEAKTRACE_CLASSIFY", "0")],
        );
        let r = report(run.dump(), "stack");
        let sites = r["sites"].as_array().unwrap();
        assert_eq!(sites.len(), 1, "{v:?}: one stack for the three blocks");
        assert_eq!(
            (sites[0]["bytes"].as_u64(), sites[0]["blocks"].as_u64()),
            (Some(144), Some(3))
        );
        let names: Vec<&str> = sites[0]["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["function"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(names[0], "leak_three", "{v:?}");
        assert_eq!(
            names.iter().filter(|n| **n == "descend").count(),
            401,
            "{v:?}"
        );
        assert!(names.contains(&"main"), "{v:?}");
    }
}
