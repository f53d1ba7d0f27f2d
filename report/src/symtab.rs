//! Naming an address from an ELF symbol table: the fallback when a module
//! has no DWARF (stripped distribution binaries keep `.dynsym`).
//!
//! Only symbols defined in the file name code. An undefined dynamic symbol
//! of a non-PIE executable (`strcmp@GLIBC_2.2.5`, whose value is its PLT
//! slot because the program takes its address) is not code of the file: as
//! the "nearest preceding symbol" it would name every function after the
//! PLT. And a symbol with a size names only the addresses inside it; past
//! its end the address is in code no symbol covers, shown as
//! `??? module+offset`, as valgrind does.

use crate::objects::ElfFile;
use object::{Object, ObjectSymbol, SymbolKind};

/// One function symbol: start address, size (0 = unknown), name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub address: u64,
    pub size: u64,
    pub name: String,
}

/// Function symbols of one file, sorted by address.
pub struct SymbolTable {
    entries: Vec<Symbol>,
}

impl SymbolTable {
    /// The defined function symbols of `elf`, static and dynamic.
    pub fn of(elf: &ElfFile) -> SymbolTable {
        SymbolTable::new(
            elf.object
                .symbols()
                .chain(elf.object.dynamic_symbols())
                .filter(|s| s.kind() == SymbolKind::Text && s.is_definition())
                .filter_map(|s| {
                    Some(Symbol {
                        address: s.address(),
                        size: s.size(),
                        name: s.name().ok()?.to_string(),
                    })
                }),
        )
    }

    /// A table of `symbols`; at one address the biggest one is kept.
    pub fn new(symbols: impl IntoIterator<Item = Symbol>) -> SymbolTable {
        let mut entries: Vec<Symbol> = symbols
            .into_iter()
            .filter(|s| s.address != 0 && !s.name.is_empty())
            .collect();
        entries.sort_by_key(|e| (e.address, std::cmp::Reverse(e.size)));
        entries.dedup_by_key(|e| e.address);
        SymbolTable { entries }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The symbol whose code holds `addr`: the nearest one at or before it,
    /// if it has no size or `addr` is inside it.
    pub fn lookup(&self, addr: u64) -> Option<&str> {
        let i = self
            .entries
            .partition_point(|e| e.address <= addr)
            .checked_sub(1)?;
        let s = &self.entries[i];
        (s.size == 0 || addr - s.address < s.size).then_some(s.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(symbols: &[(u64, u64, &str)]) -> SymbolTable {
        SymbolTable::new(symbols.iter().map(|&(address, size, name)| Symbol {
            address,
            size,
            name: name.to_string(),
        }))
    }

    #[test]
    fn an_address_past_a_sized_symbol_has_no_name() {
        let t = table(&[(0x1000, 0x20, "first"), (0x2000, 0x10, "second")]);
        assert_eq!(t.lookup(0x1000), Some("first"));
        assert_eq!(t.lookup(0x101f), Some("first"));
        assert_eq!(t.lookup(0x1020), None);
        assert_eq!(t.lookup(0x1fff), None);
        assert_eq!(t.lookup(0x2008), Some("second"));
        assert_eq!(t.lookup(0x0fff), None);
    }

    #[test]
    fn a_symbol_without_size_reaches_the_next_one() {
        let t = table(&[(0x1000, 0, "asm_entry"), (0x3000, 8, "sized")]);
        assert_eq!(t.lookup(0x2fff), Some("asm_entry"));
        assert_eq!(t.lookup(0x3004), Some("sized"));
    }

    #[test]
    fn the_biggest_symbol_at_an_address_wins() {
        let t = table(&[(0x1000, 0, "alias"), (0x1000, 0x40, "real"), (0, 9, "x")]);
        assert_eq!(t.lookup(0x1030), Some("real"));
        assert_eq!(t.lookup(0x1040), None);
    }
}
