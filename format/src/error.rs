//! Why a dump could not be read.

use std::fmt;

/// Everything that can be wrong with a dump. Each variant renders as one
/// line that a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The file does not start with the leaktrace magic.
    NotADump,
    /// The file is a dump of a major version this reader does not know.
    UnsupportedVersion { major: u16, minor: u16 },
    /// The file ends before the structure it announced.
    Truncated { at: u64, what: &'static str },
    /// A record's content contradicts itself.
    Corrupt { at: u64, what: String },
    /// A record this reader must understand but does not.
    UnknownRequired { tag: u32 },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::NotADump => write!(f, "not a leaktrace dump (bad magic)"),
            FormatError::UnsupportedVersion { major, minor } => write!(
                f,
                "dump format version {major}.{minor} is not supported (this reader understands {}.x); \
                 a newer leakreport is needed",
                crate::VERSION_MAJOR
            ),
            FormatError::Truncated { at, what } => {
                write!(f, "truncated dump: ends at byte {at} inside {what}")
            }
            FormatError::Corrupt { at, what } => write!(f, "corrupt dump at byte {at}: {what}"),
            FormatError::UnknownRequired { tag } => write!(
                f,
                "dump needs record type {tag:#x}, which this leakreport does not know; a newer leakreport is needed"
            ),
        }
    }
}

impl std::error::Error for FormatError {}
