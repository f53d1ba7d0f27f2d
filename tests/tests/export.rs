//! Pictures and exports: folded stacks, the flamegraph, pprof (decoded by
//! protoc, an independent decoder) and the HTML report (rendered by
//! headless Chromium).

use leaktrace_e2e::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const V: Variant = Variant::O2NoFramePointers;

fn reach_dump() -> Run {
    let plugin = build("tls_plugin.c", "libtlsplugin.so", V, &["-shared", "-fPIC"]);
    run_traced(&sample("reach", V), &[plugin.to_str().unwrap()], &[])
}

fn export(format: &str, files: &[&Path], extra: &[&str]) -> Vec<u8> {
    let out = Command::new(leakreport())
        .args(["--format", format])
        .args(extra)
        .args(files)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn folded_stacks_and_flamegraph() {
    let run = reach_dump();
    let folded = String::from_utf8(export("folded", &[run.dump()], &[])).unwrap();
    let mut by_leaf: HashMap<String, u64> = HashMap::new();
    for line in folded.lines() {
        let (stack, bytes) = line.rsplit_once(' ').unwrap();
        assert!(stack.starts_with("_start;"), "outermost first: {line}");
        let leaf = stack.rsplit(';').next().unwrap().to_string();
        *by_leaf.entry(leaf).or_default() += bytes.parse::<u64>().unwrap();
    }
    assert_eq!(by_leaf.get("dead_stack"), Some(&111), "{folded}");
    assert_eq!(by_leaf.get("cycle_node"), Some(&240));
    assert_eq!(by_leaf.get("held_by_interior_pointer"), Some(&109));
    assert_eq!(by_leaf.get("held_by_global"), None, "reachable not shown");
    let all = String::from_utf8(export("folded", &[run.dump()], &["--show-reachable"])).unwrap();
    assert!(all.lines().any(|l| l.ends_with(";held_by_global 101")));

    let svg = String::from_utf8(export("flamegraph", &[run.dump()], &[])).unwrap();
    assert!(svg.starts_with("<?xml"), "{}", &svg[..80]);
    assert!(svg.contains("<svg") && svg.contains("dead_stack"));
    assert!(svg.contains("leaktrace: bytes not freed"));
}

/// A node of protoc's text output: fields in order, nested messages.
#[derive(Debug, Default)]
struct Node {
    fields: Vec<(String, String)>,
    children: Vec<(String, Node)>,
}

impl Node {
    fn parse(text: &str) -> Node {
        let mut stack = vec![(String::new(), Node::default())];
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(name) = line.strip_suffix(" {") {
                stack.push((name.to_string(), Node::default()));
            } else if line == "}" {
                let (name, node) = stack.pop().unwrap();
                stack.last_mut().unwrap().1.children.push((name, node));
            } else if let Some((k, v)) = line.split_once(": ") {
                let v = v.trim_matches('"').to_string();
                stack.last_mut().unwrap().1.fields.push((k.to_string(), v));
            }
        }
        stack.pop().unwrap().1
    }
    fn all(&self, name: &str) -> Vec<&Node> {
        self.children
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, c)| c)
            .collect()
    }
    fn values(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn num(&self, name: &str) -> u64 {
        self.values(name).first().map_or(0, |v| v.parse().unwrap())
    }
}

fn decode_pprof(gz: &[u8]) -> Node {
    use std::io::Read;
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut raw)
        .expect("the profile is gzipped");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("profile.pb");
    std::fs::write(&file, &raw).unwrap();
    let out = Command::new("protoc")
        .arg(format!(
            "--proto_path={}",
            root().join("tests/data").display()
        ))
        .args(["--decode=perftools.profiles.Profile", "profile.proto"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .expect("protoc is installed by scripts/install-test-deps");
    assert!(
        out.status.success(),
        "protoc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Node::parse(&String::from_utf8(out.stdout).unwrap())
}

#[test]
fn pprof_decodes_with_protoc() {
    let run = reach_dump();
    let p = decode_pprof(&export("pprof", &[run.dump()], &[]));
    let strings = p.values("string_table");
    let s = |i: u64| strings.get(i as usize).copied().unwrap_or("?");
    let types: Vec<(&str, &str)> = p
        .all("sample_type")
        .iter()
        .map(|t| (s(t.num("type")), s(t.num("unit"))))
        .collect();
    assert_eq!(
        types,
        vec![("leaked_objects", "count"), ("leaked_space", "bytes")]
    );
    assert_eq!(s(p.num("default_sample_type")), "leaked_space");

    let functions: HashMap<u64, &str> = p
        .all("function")
        .iter()
        .map(|f| (f.num("id"), s(f.num("name"))))
        .collect();
    let locations: HashMap<u64, &Node> = p
        .all("location")
        .iter()
        .map(|l| (l.num("id"), *l))
        .collect();
    let leaf = |sample: &Node| -> &str {
        let first: u64 = sample.values("location_id")[0].parse().unwrap();
        let lines = locations[&first].all("line");
        functions[&lines.last().unwrap().num("function_id")]
    };
    let samples = p.all("sample");
    let dead = samples
        .iter()
        .find(|x| leaf(x) == "dead_stack")
        .expect("a sample for dead_stack");
    assert_eq!(dead.values("value"), vec!["1", "111"]);
    let label = &dead.all("label")[0];
    assert_eq!(
        (s(label.num("key")), s(label.num("str"))),
        ("kind", "definite")
    );
    let total: u64 = samples
        .iter()
        .map(|x| x.values("value")[1].parse::<u64>().unwrap())
        .sum();
    // The sites shown by default: the same suppressions, no reachable ones.
    let (_, json, _) = leakreport_raw(&["--format", "json"], &[run.dump()]);
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    let t = &r["totals"];
    assert_eq!(
        total,
        t["definite_bytes"].as_u64().unwrap()
            + t["indirect_bytes"].as_u64().unwrap()
            + t["possible_bytes"].as_u64().unwrap()
    );
    // Every location maps to a module, with the executable among them.
    let mappings = p.all("mapping");
    assert!(mappings
        .iter()
        .any(|m| s(m.num("filename")).ends_with("/reach")));
    assert!(locations.values().all(|l| l.num("mapping_id") != 0));

    // Inline frames: strdup's caller in libc_internal has getline's inline
    // wrapper; some location there holds more than one line.
    let run = run_traced(&sample("libc_internal", V), &[], &[]);
    let p = decode_pprof(&export("pprof", &[run.dump()], &[]));
    assert!(p.all("location").iter().any(|l| l.all("line").len() > 1));
}

fn chromium_dom(page: &Path, hash: &str) -> (String, String) {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("file://{}{hash}", page.display()))
        .output()
        .expect("chromium is installed by scripts/install-test-deps");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The byte counts of the table's rows, in order.
fn row_bytes(dom: &str) -> Vec<u64> {
    row_numbers(dom, 2)
}

/// The `n`th numeric column (1: "#", 2: bytes, 3: blocks, 4: indirect, 5:
/// total) of the table's rows, in order.
fn row_numbers(dom: &str, n: usize) -> Vec<u64> {
    dom.split("<tr class=\"site\">")
        .skip(1)
        .map(|row| {
            let cell = row.split("<td class=\"num\">").nth(n).unwrap();
            cell.split('<')
                .next()
                .unwrap()
                .replace(',', "")
                .parse()
                .unwrap()
        })
        .collect()
}

fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect()
}

#[test]
fn html_report_renders_in_chromium() {
    let run = reach_dump();
    let dir = tempfile::tempdir().unwrap();
    let page: PathBuf = dir.path().join("report.html");
    let html = export("html", &[run.dump()], &[]);
    let text = String::from_utf8(html).unwrap();
    assert!(
        only_svg_namespaces(&text),
        "nothing fetched from the network"
    );
    std::fs::write(&page, &text).unwrap();

    let (dom, log) = chromium_dom(&page, "");
    assert!(console_errors(&log).is_empty(), "{log}");
    assert!(dom.contains("data-rendered=\"yes\""), "{dom}");
    assert!(
        dom.contains("<div id=\"errors\"></div>"),
        "script errors shown"
    );
    assert!(dom.contains("definitely lost:"));
    assert!(dom.contains("VSS "), "process memory in the summary");
    assert!(dom.contains("id=\"flamegraph\""));
    // Ranked as the text report: by total (own bytes and the indirect
    // bytes a definite site owns), biggest first.
    let totals = row_numbers(&dom, 5);
    assert_eq!(totals.len(), 6, "{totals:?}");
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "{totals:?}");

    // Sorting (the same code the column headers' clicks run) and filtering.
    let (dom, log) = chromium_dom(&page, "#sort=bytes&dir=asc");
    assert!(console_errors(&log).is_empty(), "{log}");
    let asc = row_bytes(&dom);
    assert!(asc.windows(2).all(|w| w[0] <= w[1]), "{asc:?}");
    // A click on the total header (sorted descending) turns it ascending.
    let (dom, log) = chromium_dom(&page, "#click=total");
    assert!(console_errors(&log).is_empty(), "{log}");
    let mut asc = totals.clone();
    asc.reverse();
    assert_eq!(row_numbers(&dom, 5), asc, "clicking sorts");
    assert!(
        dom.contains("class=\"sorted-asc\""),
        "the header shows the order"
    );
    let (dom, _) = chromium_dom(&page, "#filter=dead_stack");
    assert_eq!(row_bytes(&dom), vec![111]);
    assert!(
        dom.contains("at dead_stack (reach.c:"),
        "stacks with source lines"
    );
}

/// The only URLs the page holds are the SVG namespace its script uses
/// (the flamegraph is embedded, base64-encoded).
fn only_svg_namespaces(text: &str) -> bool {
    text.match_indices("http")
        .all(|(i, _)| text[i..].starts_with("http://www.w3.org/"))
}

#[test]
fn html_report_charts_a_series_of_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_traced(&sample("aging", V), &[], &[("LEAKTRACE_INTERVAL", "300ms")]);
    assert!(run.dumps.len() >= 3, "{:?}", run.dumps);
    let files: Vec<&Path> = run.dumps.iter().map(PathBuf::as_path).collect();
    let page = dir.path().join("series.html");
    std::fs::write(&page, export("html", &files, &[])).unwrap();
    let (dom, log) = chromium_dom(&page, "");
    assert!(console_errors(&log).is_empty(), "{log}");
    assert!(dom.contains("growth of"), "{dom}");
    assert!(dom.matches("<polyline").count() >= 1, "a line per top site");
    assert!(dom.contains("old_leak"));
}
