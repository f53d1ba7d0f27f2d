//! Options shared by `leakreport` and `leaktrace`.

use crate::group::GroupBy;
use crate::processes::View;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable, valgrind style.
    Text,
    /// One object per dump or series (schema in README.md).
    Json,
    /// A self-contained HTML page: summary, sortable table, stacks, charts.
    Html,
    /// An interactive SVG flamegraph of the bytes by stack.
    Flamegraph,
    /// Folded stacks ("a;b;c bytes"), for other flamegraph tools.
    Folded,
    /// Gzipped pprof profile.proto, for pprof, Pyroscope, Parca, speedscope.
    Pprof,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// How to present leaks.
#[derive(Clone, Debug, clap::Args)]
pub struct ReportOptions {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Show only the N biggest call sites.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Hide call sites that leak fewer than N bytes.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub min_bytes: u64,
    /// One site per distinct stack, or per innermost function of the
    /// program's own code (merging stacks that differ further out).
    #[arg(long, value_enum, default_value_t = GroupBy::Stack)]
    pub group_by: GroupBy,
    /// How to report the dumps of many processes (a script, make, a test
    /// suite): `summary`, one line a process, leaking ones first, then the
    /// leaks of all, identical leaks of many processes of one program
    /// (same executable, stack and kind) merged with a count; `full`, every
    /// process's whole report; `auto`, whole reports for up to 5 processes
    /// and the summary for more. Text and JSON.
    #[arg(long, value_enum, default_value_t = View::Auto, value_name = "VIEW")]
    pub processes: View,
    /// Colour in text output: only on a terminal by default.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Only blocks allocated at least this long before the dump (`30s`,
    /// `5m`, `1h`, `500ms`; units ns, us, ms, s, m or min, h, d, as for
    /// LEAKTRACE_INTERVAL; a bare number is seconds): what a long-running
    /// process leaks slowly.
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    pub older_than: Option<f64>,
    /// Also show blocks still pointed to at exit (hidden by default: they
    /// are in use, not leaked).
    #[arg(long)]
    pub show_reachable: bool,
    /// Suppressions in LeakSanitizer's format (`leak:PATTERN` per line); may
    /// be given several times.
    #[arg(long, value_name = "FILE")]
    pub suppressions: Vec<std::path::PathBuf>,
    /// Do not apply the built-in suppressions for the known one-time
    /// allocations of glibc, the loader and libstdc++.
    #[arg(long)]
    pub no_default_suppressions: bool,
    /// Exit with status 23 (LeakSanitizer's) when leaks of these kinds
    /// remain unsuppressed: definite, indirect, possible, any (comma
    /// separated).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "KINDS")]
    pub fail_on: Vec<crate::analysis::FailOn>,
    /// Where separate debug files live (searched by build-id and by
    /// .gnu_debuglink); may be given several times. Default: /usr/lib/debug.
    #[arg(long, value_name = "DIR")]
    pub debug_dir: Vec<std::path::PathBuf>,
}

impl ReportOptions {
    /// The suppressions to apply: the built-in ones unless turned off, and
    /// every `--suppressions` file. The error is one line naming the file.
    pub fn suppressions(&self) -> Result<crate::suppress::Suppressions, String> {
        use crate::suppress::{Suppressions, DEFAULTS};
        let mut all = if self.no_default_suppressions {
            Suppressions::default()
        } else {
            Suppressions::parse(DEFAULTS, "built-in suppressions")?
        };
        for path in &self.suppressions {
            let shown = path.display().to_string();
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
            all.extend(Suppressions::parse(&text, &shown)?);
        }
        Ok(all)
    }

    /// `--top` and `--min-bytes`.
    pub fn cut(&self) -> crate::collate::Cut {
        crate::collate::Cut {
            top: self.top,
            min_bytes: self.min_bytes,
        }
    }

    /// The debug directories to search, in order.
    pub fn debug_roots(&self) -> Vec<std::path::PathBuf> {
        if self.debug_dir.is_empty() {
            vec![std::path::PathBuf::from("/usr/lib/debug")]
        } else {
            self.debug_dir.clone()
        }
    }
}

/// `--older-than`: a duration as leaktrace_format::parse_duration reads it
/// (the units of `LEAKTRACE_INTERVAL` too), in seconds.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    leaktrace_format::parse_duration(text)
        .map(|d| d.as_secs_f64())
        .ok_or_else(|| {
            format!(
                "{text:?} is not a duration (like 30s, 5m or 500ms; units: {})",
                leaktrace_format::DURATION_UNITS
            )
        })
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        // The units of LEAKTRACE_INTERVAL (leaktrace_format::parse_duration).
        assert_eq!(parse_duration("500ms"), Ok(0.5));
        assert_eq!(parse_duration("2min"), Ok(120.0));
        assert_eq!(parse_duration("1d"), Ok(86400.0));
        let e = parse_duration("soon").unwrap_err();
        assert!(
            e.contains("\"soon\" is not a duration") && e.contains("min"),
            "{e}"
        );
    }
}
