//! Options shared by `leakreport` and `leaktrace`.

use crate::group::GroupBy;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
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
    /// Colour in text output: only on a terminal by default.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Where separate debug files live (searched by build-id and by
    /// .gnu_debuglink); may be given several times. Default: /usr/lib/debug.
    #[arg(long, value_name = "DIR")]
    pub debug_dir: Vec<std::path::PathBuf>,
}

impl ReportOptions {
    /// The debug directories to search, in order.
    pub fn debug_roots(&self) -> Vec<std::path::PathBuf> {
        if self.debug_dir.is_empty() {
            vec![std::path::PathBuf::from("/usr/lib/debug")]
        } else {
            self.debug_dir.clone()
        }
    }
}
