//! Folded stacks (`--format folded`) and the flamegraph drawn from them
//! (`--format flamegraph`, with the inferno crate): one line per site,
//! outermost frame first, frames joined by `;`, then the bytes.

use crate::analysis::Analysis;
use crate::symbolize::Frame;

/// A frame's name in a folded line: the function, else module+offset. `;`
/// separates frames and a space precedes the count, so neither may appear.
pub fn frame_name(f: &Frame) -> String {
    let name = match &f.function {
        Some(name) => name.to_string(),
        None => format!(
            "{}+{:#x}",
            f.module.rsplit('/').next().unwrap_or(&f.module),
            f.offset
        ),
    };
    name.replace(';', ":").replace(' ', "\u{a0}")
}

/// The folded lines of the sites shown in every analysis (bytes summed by
/// stack), sorted so equal stacks are adjacent.
pub fn lines(analyses: &[Analysis]) -> Vec<String> {
    let mut totals: std::collections::BTreeMap<String, u64> = Default::default();
    for a in analyses {
        for s in a.shown_sites() {
            let stack = s
                .frames
                .iter()
                .rev()
                .map(frame_name)
                .collect::<Vec<_>>()
                .join(";");
            let stack = if stack.is_empty() {
                "(no stack)".to_string()
            } else {
                stack
            };
            *totals.entry(stack).or_default() += s.bytes;
        }
    }
    totals
        .into_iter()
        .filter(|(_, bytes)| *bytes > 0)
        .map(|(stack, bytes)| format!("{stack} {bytes}"))
        .collect()
}

/// An interactive SVG flamegraph of `lines`, titled `title`.
pub fn flamegraph(lines: &[String], title: &str) -> Result<String, String> {
    use inferno::flamegraph::{color::BasicPalette, Options, Palette};
    let mut options = Options::default();
    options.title = title.to_string();
    options.count_name = "bytes".to_string();
    options.name_type = "Function:".to_string();
    options.colors = Palette::Basic(BasicPalette::Mem);
    let mut out = Vec::new();
    if lines.is_empty() {
        // inferno refuses an empty profile; an empty graph says the truth.
        let empty = ["(no leaks) 1".to_string()];
        inferno::flamegraph::from_lines(&mut options, empty.iter().map(String::as_str), &mut out)
    } else {
        inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut out)
    }
    .map_err(|e| format!("cannot draw the flamegraph: {e}"))?;
    String::from_utf8(out).map_err(|e| format!("cannot draw the flamegraph: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_never_break_the_format() {
        let f = Frame {
            function: Some("operator new(unsigned long); x".into()),
            file: None,
            line: None,
            inlined: false,
            module: "/lib/libstdc++.so.6".into(),
            address: 0x10,
            offset: 0x10,
        };
        let name = frame_name(&f);
        assert!(!name.contains(';') && !name.contains(' '), "{name}");
        let g = flamegraph(&["a;b 10".to_string(), "a;c 5".to_string()], "t").unwrap();
        assert!(
            g.starts_with("<?xml") && g.contains("<svg"),
            "{}",
            &g[..100]
        );
    }
}
