//! CPython under leaktrace, compared with valgrind (issue #16).
//!
//! CPython keeps its small objects in arenas it `mmap`s itself (pymalloc):
//! a dict object sits there, and its keys table, a malloc()ed block, is
//! pointed to only from the arena. A scan that leaves such memory out
//! reports blocks the program still holds as lost. Each test runs one
//! Python script that leaks nothing both traced and under
//! `valgrind --leak-check=full`, and asserts that leaktrace finds no more
//! lost bytes (definitely + indirectly lost) than valgrind does on the same
//! script.

use leaktrace_e2e::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's interpreter where there is one (a pyenv or venv `python3` may
/// be a build of its own), else `python3` on PATH. `PYTHONMALLOC` is
/// removed from valgrind's run and set empty in the traced one (CPython
/// reads an empty variable as unset), so both use pymalloc.
fn python() -> PathBuf {
    let debian = Path::new("/usr/bin/python3");
    if debian.exists() {
        return debian.to_path_buf();
    }
    let out = Command::new("sh")
        .args(["-c", "command -v python3"])
        .output()
        .expect("sh");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!path.is_empty(), "python3 is needed");
    PathBuf::from(path)
}

/// A local HTTP server (ThreadingHTTPServer on 127.0.0.1, port 0, in a
/// thread) answering a few requests made with urllib, JSON both ways, and
/// dicts, lists and sets of strings; shuts the server down and ends
/// normally (interpreter finalization runs).
const SERVER_SCRIPT: &str = r#"
import http.server, json, threading, urllib.request

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path,
                           "items": [str(i) for i in range(300)],
                           "meta": {"n": 300, "tags": sorted({"a", "b", self.path})}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
thread = threading.Thread(target=server.serve_forever)
thread.start()
port = server.server_address[1]

pages = {}
for i in range(6):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/page{i}?q={i}", timeout=30) as r:
        doc = json.loads(r.read())
    pages[doc["path"]] = doc

words = {str(i): [str(j) for j in range(i, i + 20)] for i in range(3000)}
seen = set()
for k, v in words.items():
    seen.update(v)
round_trip = json.loads(json.dumps(words))
assert round_trip == words

server.shutdown()
server.server_close()
thread.join()
print("served", len(pages), "pages,", len(words), "words,", len(seen), "seen")
"#;

/// A dict of 100,000 strings, alive when the process leaves with
/// `os._exit` (no finalization: everything is still held).
const DICT_SCRIPT: &str = "import os; d = {i: str(i) for i in range(100000)}; os._exit(0)";

/// (definitely lost, indirectly lost) bytes in valgrind's LEAK SUMMARY of
/// `python -c script`, and the whole report for messages.
fn valgrind_lost(script: &str) -> (u64, u64, String) {
    let out = Command::new("valgrind")
        .args(["--leak-check=full", "--show-leak-kinds=all"])
        .arg(python())
        .args(["-c", script])
        .env_remove("PYTHONMALLOC")
        .output()
        .expect("valgrind is installed by scripts/install-test-deps");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "python under valgrind failed ({}): {}",
        out.status,
        tail(&text)
    );
    if text.contains("All heap blocks were freed -- no leaks are possible") {
        return (0, 0, text);
    }
    let figure = |label: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no \"{label}\" in valgrind's output: {}", tail(&text)));
        // "==123==    definitely lost: 1,234 bytes in 5 blocks"
        let after = line.split_once(label).unwrap().1;
        after
            .split_whitespace()
            .next()
            .and_then(|n| n.replace(',', "").parse().ok())
            .unwrap_or_else(|| panic!("cannot read valgrind's line: {line}"))
    };
    (figure("definitely lost:"), figure("indirectly lost:"), text)
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Runs `python -c script` traced; returns its one final dump's
/// (definite, indirect) bytes as leakreport's summary gives them (default
/// suppressions, as valgrind applies its own), and the text report of the
/// biggest lost sites for messages.
fn leaktrace_lost(script: &str, trigger: &str, stdout: Option<&str>) -> (u64, u64, String) {
    let run = run_traced(&python(), &["-c", script], &[("PYTHONMALLOC", "")]);
    assert_eq!(
        run.output.status.code(),
        Some(0),
        "traced python failed: {}",
        run.stderr()
    );
    if let Some(expected) = stdout {
        assert_eq!(run.stdout(), expected, "{}", run.stderr());
    }
    let dump = run.dump().to_path_buf();
    let (code, json, err) = leakreport_raw(&["--format", "json"], &[&dump]);
    assert_eq!(code, 0, "leakreport failed: {err}");
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(r["trigger"], trigger, "{}", run.stderr());
    let t = &r["totals"];
    assert_eq!(t["classified"], true, "the final dump is classified");
    let (_, text, _) = leakreport_raw(&["--top", "8"], &[&dump]);
    (
        t["definite_bytes"].as_u64().unwrap(),
        t["indirect_bytes"].as_u64().unwrap(),
        text,
    )
}

fn compare(script: &str, trigger: &str, stdout: Option<&str>) {
    // Both at once: valgrind takes most of the time.
    let vg = std::thread::scope(|s| {
        let vg = s.spawn(|| valgrind_lost(script));
        let lt = leaktrace_lost(script, trigger, stdout);
        (vg.join().unwrap(), lt)
    });
    let ((vg_def, vg_ind, vg_text), (lt_def, lt_ind, lt_text)) = vg;
    assert!(
        lt_def + lt_ind <= vg_def + vg_ind,
        "leaktrace reports {lt_def} bytes definitely and {lt_ind} indirectly lost, \
         valgrind {vg_def} and {vg_ind} on the same script:\n\
         --- leaktrace's biggest sites ---\n{lt_text}\n\
         --- valgrind's summary ---\n{}",
        tail(&vg_text)
    );
}

#[test]
fn http_server_json_and_containers_leak_no_more_than_valgrind_says() {
    compare(
        SERVER_SCRIPT,
        "exit",
        Some("served 6 pages, 3000 words, 3019 seen\n"),
    );
}

#[test]
fn a_dict_alive_at_os_exit_is_not_lost() {
    compare(DICT_SCRIPT, "_exit", None);
}
