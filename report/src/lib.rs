//! The analysis half of leaktrace: `leakreport` and the `leaktrace`
//! launcher.
//!
//! The pipeline, one module a step:
//! [`input`] reads dump files (format: the `leaktrace-format` crate) →
//! [`objects`] finds each module's binary and debug file on disk →
//! [`symbolize`] turns every unique return address into frames (DWARF with
//! inline frames, else the symbol table ([`symtab`]), else
//! `module+0xoffset`), opening each object once for all the dumps →
//! [`group`] merges blocks into call sites ([`owners`]: a definite site
//! carries the indirect bytes it owns), [`analysis`] applies the user's
//! filters → [`text`] or [`json`] prints them. Several dumps of one process
//! become a [`series`] (growth per site over time) and two can be compared
//! ([`diff`]), printed by [`text_growth`] and [`json_growth`]; [`output`]
//! decides which. Pictures and exports: [`folded`] (folded stacks and the
//! flamegraph), [`html`] (a self-contained page), [`pprof`].
//! [`cli`] holds the options both binaries share, and [`launch`] runs a
//! program under the preload library.

pub mod analysis;
pub mod cli;
pub mod collate;
pub mod diff;
pub mod folded;
pub mod group;
pub mod html;
pub mod input;
pub mod json;
pub mod json_growth;
pub mod json_processes;
pub mod launch;
pub mod objects;
pub mod output;
pub mod owners;
pub mod pprof;
pub mod processes;
pub mod series;
pub mod suppress;
pub mod symbolize;
pub mod symtab;
pub mod text;
pub mod text_growth;
pub mod text_processes;

/// Exit status for unreadable input (bad dump, missing binary).
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit status for leaks `--fail-on` counts (LeakSanitizer's).
pub const EXIT_LEAKS: i32 = 23;
/// Exit status when the report could not be written (a full disk, an I/O
/// error; a closed pipe is not one): sysexits' EX_IOERR.
pub const EXIT_CANNOT_WRITE: i32 = 74;
