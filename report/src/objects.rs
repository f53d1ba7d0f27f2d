//! Finding and opening the files that describe a module: the binary itself
//! and, where the distribution splits it out, its debug file — by build-id
//! (`/usr/lib/debug/.build-id/xx/rest.debug`) and by `.gnu_debuglink`.
//!
//! Files are memory-mapped and deliberately kept for the life of the
//! process, so parsed sections can be borrowed as `'static` slices; the
//! symbolizer opens each distinct object once per run, so what is kept is
//! bounded by the objects, not by the dumps.
//!
//! The paths come from a dump, which may come from anyone: only regular
//! files are opened (never blocking on a FIFO or a device), and a
//! compressed section is expanded only to a size its compressed bytes
//! could plausibly hold.

use object::{Object, ObjectSection};
use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};

/// An opened ELF file.
pub struct ElfFile {
    pub path: PathBuf,
    pub object: object::File<'static>,
}

impl ElfFile {
    pub fn open(path: &Path) -> Result<ElfFile, String> {
        let file = open_regular(path)?;
        // SAFETY: the mapping is read-only; a binary replaced on disk while
        // we read it yields wrong names, not memory unsafety in practice.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| e.to_string())?;
        let data: &'static [u8] = Box::leak(Box::new(map));
        let object =
            object::File::parse(data).map_err(|e| format!("not a readable ELF file ({e})"))?;
        Ok(ElfFile {
            path: path.to_path_buf(),
            object,
        })
    }

    pub fn build_id(&self) -> Option<Vec<u8>> {
        self.object.build_id().ok().flatten().map(<[u8]>::to_vec)
    }

    pub fn has_dwarf(&self) -> bool {
        self.object
            .section_by_name(".debug_info")
            .is_some_and(|s| s.size() > 0)
    }

    /// A section's bytes, decompressed if needed; empty when absent, or
    /// when it claims to expand beyond what its compressed bytes can hold.
    pub fn section(&self, name: &str) -> &'static [u8] {
        let Some(section) = self.object.section_by_name(name) else {
            return &[];
        };
        let Ok(compressed) = section.compressed_data() else {
            return &[];
        };
        if compressed.format != object::CompressionFormat::None
            && !plausible_expansion(compressed.data.len() as u64, compressed.uncompressed_size)
        {
            return &[];
        }
        match compressed.decompress() {
            Ok(Cow::Borrowed(b)) => b,
            Ok(Cow::Owned(v)) => Box::leak(v.into_boxed_slice()),
            Err(_) => &[],
        }
    }
}

/// The most a compressed section may expand to: deflate and zstd stay
/// far below 2048:1 on real debug info, and nothing here needs more than
/// 1 GiB in one section.
fn plausible_expansion(compressed: u64, uncompressed: u64) -> bool {
    uncompressed <= compressed.saturating_mul(2048) && uncompressed <= 1 << 30
}

/// Opens `path` for reading if it is a regular file. `O_NONBLOCK` keeps a
/// FIFO named by a hostile dump from blocking the open; the type is then
/// checked on the open file itself, so it cannot change in between.
pub fn open_regular(path: &Path) -> Result<File, String> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| e.to_string())?;
    let kind = file.metadata().map_err(|e| e.to_string())?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "a special file"
    };
    Err(format!("it is {what}, not a binary"))
}

/// Hex form of a build-id.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Looks for the separate debug file of `binary` (which has `build_id`)
/// under each of `roots` (normally `/usr/lib/debug`): first
/// `<root>/.build-id/xx/rest.debug`, then the `.gnu_debuglink` name beside
/// the binary, in its `.debug/` folder, and at `<root>/<binary's dir>/`.
pub fn find_debug_file(
    binary: &Path,
    build_id: &[u8],
    elf: Option<&ElfFile>,
    roots: &[PathBuf],
) -> Option<ElfFile> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if build_id.len() >= 2 {
        let h = hex(build_id);
        for root in roots {
            candidates.push(
                root.join(".build-id")
                    .join(&h[..2])
                    .join(format!("{}.debug", &h[2..])),
            );
        }
    }
    if let Some(Ok(Some((name, _crc)))) = elf.map(|e| e.object.gnu_debuglink()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let dir = binary.parent().unwrap_or(Path::new("/"));
        candidates.push(dir.join(&name));
        candidates.push(dir.join(".debug").join(&name));
        for root in roots {
            let rel = dir.strip_prefix("/").unwrap_or(dir);
            candidates.push(root.join(rel).join(&name));
        }
    }
    candidates
        .into_iter()
        .filter(|c| c.as_path() != binary && c.is_file())
        .filter_map(|c| ElfFile::open(&c).ok())
        // A debug file for another build would give wrong lines.
        .find(|f| build_id.is_empty() || f.build_id().is_none_or(|id| id == build_id))
}
