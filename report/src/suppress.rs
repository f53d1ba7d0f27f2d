//! Suppressions in LeakSanitizer's format: one `leak:PATTERN` per line,
//! `#` comments. A site is suppressed when a pattern matches the function,
//! the source file or the module of any of its frames. A pattern matches
//! anywhere in the name unless anchored with `^` (start) or `$` (end); `*`
//! matches any run of characters.

use crate::symbolize::Frame;

/// The known one-time allocations of glibc, the dynamic loader and
/// libstdc++ that are not the program's leaks (`--no-default-suppressions`
/// turns them off).
pub const DEFAULTS: &str = "\
# Thread-local storage and the vector of TLS blocks (their pointers point
# past the start, so they show as possible).
leak:_dl_allocate_tls
leak:_dl_resize_dtv
leak:_dl_update_slotinfo
# Objects the loader keeps for dlopen()ed libraries.
leak:_dl_new_object
leak:_dl_map_object
leak:_dl_open
leak:_dl_init_paths
# glibc's name-service, iconv and locale caches, filled once.
leak:__nss_
leak:__gconv_open
leak:_nl_find_locale
leak:__libc_setlocale
# libstdc++'s exception-handling globals and emergency pool.
leak:__cxa_get_globals
leak:__cxa_thread_atexit
leak:pool::pool
";

/// A set of patterns.
#[derive(Clone, Debug, Default)]
pub struct Suppressions {
    patterns: Vec<String>,
    /// The first pattern each text met so far matches: a run over many
    /// dumps sees the same libc and loader frames thousands of times.
    first_match: std::cell::RefCell<std::collections::HashMap<String, Option<usize>>>,
}

impl Suppressions {
    /// Parses suppression text; the error names the line.
    pub fn parse(text: &str, origin: &str) -> Result<Suppressions, String> {
        let mut patterns = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.strip_prefix("leak:") {
                Some(p) if !p.trim().is_empty() => patterns.push(p.trim().to_string()),
                _ => {
                    return Err(format!(
                        "{origin}:{}: expected `leak:PATTERN`, found {line:?}",
                        n + 1
                    ))
                }
            }
        }
        Ok(Suppressions {
            patterns,
            first_match: Default::default(),
        })
    }

    pub fn extend(&mut self, other: Suppressions) {
        self.patterns.extend(other.patterns);
        self.first_match.get_mut().clear();
    }

    /// The first pattern matching a frame of `frames`.
    pub fn matching(&self, frames: &[Frame]) -> Option<&str> {
        if self.patterns.is_empty() {
            return None;
        }
        // The first pattern matching any text = the least of each text's
        // first matching pattern.
        let texts = frames.iter().flat_map(|f| {
            [f.function.as_deref(), f.file.as_deref(), Some(&*f.module)]
                .into_iter()
                .flatten()
        });
        let first = texts.filter_map(|t| self.first_match_of(t)).min()?;
        Some(self.patterns[first].as_str())
    }

    fn first_match_of(&self, text: &str) -> Option<usize> {
        if let Some(&known) = self.first_match.borrow().get(text) {
            return known;
        }
        let found = self.patterns.iter().position(|p| matches(p, text));
        self.first_match
            .borrow_mut()
            .insert(text.to_string(), found);
        found
    }
}

/// LeakSanitizer's template match: `*` wildcards, `^`/`$` anchors,
/// otherwise a match anywhere.
pub fn matches(pattern: &str, text: &str) -> bool {
    let (anchored_start, p) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let (anchored_end, p) = match p.strip_suffix('$') {
        Some(rest) => (true, rest),
        None => (false, p),
    };
    let parts: Vec<&str> = p.split('*').collect();
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        let first = i == 0;
        let last = i == parts.len() - 1;
        if first && anchored_start {
            if !text.starts_with(part) {
                return false;
            }
            pos = part.len();
        } else if last && anchored_end {
            if text.len() < pos + part.len() || !text.ends_with(part) {
                return false;
            }
            pos = text.len();
        } else {
            match text[pos..].find(part) {
                Some(at) => pos += at + part.len(),
                None => return false,
            }
        }
    }
    // `^` alone or a pattern of stars matches everything; `$` needs the
    // last part at the end (checked above) or, with no parts, anything.
    !anchored_end || parts.last().is_some_and(|l| l.is_empty()) || pos == text.len()
}

#[cfg(test)]
mod tests {
    use super::{matches, Suppressions, DEFAULTS};

    #[test]
    fn templates() {
        assert!(matches("leak_", "my_leak_fn"));
        assert!(matches("^my_", "my_leak_fn"));
        assert!(!matches("^leak", "my_leak_fn"));
        assert!(matches("_fn$", "my_leak_fn"));
        assert!(!matches("leak$", "my_leak_fn"));
        assert!(matches("my*fn", "my_leak_fn"));
        assert!(matches("^my*leak*$", "my_leak"));
        assert!(!matches("^my*leak$", "my_leak_fn"));
        assert!(matches("libfoo.so", "/usr/lib/libfoo.so.1"));
        assert!(matches("*", "anything"));
    }

    #[test]
    fn files() {
        assert!(Suppressions::parse(DEFAULTS, "defaults").is_ok());
        let s = Suppressions::parse("# c\n\nleak:foo\n  leak:^bar$ \n", "f").unwrap();
        assert_eq!(s.patterns, vec!["foo", "^bar$"]);
        let e = Suppressions::parse("leak:a\nrace:b\n", "f.supp").unwrap_err();
        assert!(e.starts_with("f.supp:2:"), "{e}");
    }
}
