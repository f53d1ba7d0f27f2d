//! Unwind rules: what the DWARF call-frame information says about stepping
//! out of the frame at a given return address, computed once with gimli and
//! kept as 32 bits in a direct-mapped, lock-free cache.

use crate::modules::{self, CodeRange};
use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use gimli::{
    BaseAddresses, CfaRule, EhFrame, EhFrameHdr, NativeEndian, RegisterRule, UnwindContext,
    UnwindSection, X86_64,
};

/// Bumped whenever the cache is cleared: remembered stacks (memo.rs) of an
/// older generation are not trusted.
pub static GENERATION: AtomicU64 = AtomicU64::new(1);

const CACHE_BITS: u32 = 16;
const CACHE_SIZE: usize = 1 << CACHE_BITS;
/// Entry: high 32 bits = pc >> 16 (tag), low 32 bits = packed rule, 0 = empty.
static CACHE: [AtomicU64; CACHE_SIZE] = [const { AtomicU64::new(0) }; CACHE_SIZE];

/// How to step out of one frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rule {
    /// CFA = (RBP if `from_rbp` else RSP) + `cfa_offset`; the caller's RBP
    /// is at CFA + `rbp_offset` when `rbp_saved`, else unchanged.
    Cfa {
        from_rbp: bool,
        cfa_offset: i64,
        rbp_saved: bool,
        rbp_offset: i64,
    },
    /// The outermost frame (`_start`, thread start): stop.
    End,
    /// No unwind information: follow the RBP chain.
    FramePointer,
}

impl Rule {
    /// Packs into 31 bits plus a valid bit, or `None` if it does not fit
    /// (such a rule is recomputed each time: correct, only slower).
    fn pack(self) -> Option<u32> {
        match self {
            Rule::End => Some(0b011),
            Rule::FramePointer => Some(0b101),
            Rule::Cfa {
                from_rbp,
                cfa_offset,
                rbp_saved,
                rbp_offset,
            } => {
                if !(0..1 << 14).contains(&cfa_offset)
                    || !(-(1 << 12)..1 << 12).contains(&rbp_offset)
                {
                    return None;
                }
                let rbp_bits = (rbp_offset as u32) & 0x1fff;
                Some(
                    1 | (u32::from(from_rbp) << 3)
                        | (u32::from(rbp_saved) << 4)
                        | ((cfa_offset as u32) << 5)
                        | (rbp_bits << 19),
                )
            }
        }
    }

    pub fn unpack(bits: u32) -> Rule {
        match (bits >> 1) & 0b11 {
            0b01 => Rule::End,
            0b10 => Rule::FramePointer,
            _ => {
                let rbp_raw = (bits >> 19) & 0x1fff;
                // Sign-extend 13 bits.
                let rbp_offset = ((rbp_raw << 19) as i32 >> 19) as i64;
                Rule::Cfa {
                    from_rbp: bits & (1 << 3) != 0,
                    rbp_saved: bits & (1 << 4) != 0,
                    cfa_offset: i64::from((bits >> 5) & 0x3fff),
                    rbp_offset,
                }
            }
        }
    }
}

/// Marks every stack walked so far as walked under other rules, so that
/// the memo and the cache of recurring stacks walk again.
pub fn rules_changed() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Forgets every cached rule (a module was unloaded: its addresses may now
/// hold other code).
pub fn clear_cache() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
    for e in CACHE.iter() {
        e.store(0, Ordering::Relaxed);
    }
    CHILD.clear();
}

/// Rules computed in a forked child, kept on one page of their own.
///
/// The child shares the 512 KiB cache with its parent copy-on-write: each
/// rule it computes was written to a page of its own (the slots are spread
/// by address), which the kernel then copied, about 3 µs a page. A
/// command substitution of bash computes 29 rules for call sites only a
/// child runs, anew in every child: 25 page copies. Here the first
/// [`CHILD_RULES`] rules of a child go to this page instead, found after a
/// miss in the cache; a child that computes more is a busy process, and
/// the rest go to the cache.
const CHILD_SLOTS: usize = 256;
const CHILD_RULES: u32 = 192;

/// A seqlock guards the page: `seq` is odd while a writer (holding `lock`)
/// changes a slot, and a reader that sees it change takes a miss.
#[repr(C, align(4096))]
struct ChildRules {
    seq: AtomicU32,
    lock: AtomicBool,
    /// Whether this process is a forked child that keeps its rules here.
    active: AtomicBool,
    /// Rules written here since the fork.
    written: AtomicU32,
    pcs: [AtomicU64; CHILD_SLOTS],
    rules: [AtomicU32; CHILD_SLOTS],
}

static CHILD: ChildRules = ChildRules::new();

impl ChildRules {
    const fn new() -> ChildRules {
        ChildRules {
            seq: AtomicU32::new(0),
            lock: AtomicBool::new(false),
            active: AtomicBool::new(false),
            written: AtomicU32::new(0),
            pcs: [const { AtomicU64::new(0) }; CHILD_SLOTS],
            rules: [const { AtomicU32::new(0) }; CHILD_SLOTS],
        }
    }

    #[inline(always)]
    fn slot(pc: u64) -> usize {
        (pc as usize) & (CHILD_SLOTS - 1)
    }

    /// The packed rule kept for `pc`, if any.
    fn get(&self, pc: u64) -> Result<u32, ()> {
        let before = self.seq.load(Ordering::Acquire);
        if before & 1 != 0 {
            return Err(());
        }
        let i = Self::slot(pc);
        let at = self.pcs[i].load(Ordering::Relaxed);
        let bits = self.rules[i].load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) == before && at == pc && bits != 0 {
            Ok(bits)
        } else {
            Err(())
        }
    }

    /// Keeps `bits` for `pc` if this is a child still keeping its rules
    /// here; false if the caller must use the cache.
    fn put(&self, pc: u64, bits: u32) -> bool {
        if !self.active.load(Ordering::Relaxed) {
            return false;
        }
        if self.written.fetch_add(1, Ordering::Relaxed) >= CHILD_RULES {
            self.active.store(false, Ordering::Relaxed);
            return false;
        }
        if self.lock.swap(true, Ordering::Acquire) {
            return false;
        }
        let i = Self::slot(pc);
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.pcs[i].store(pc, Ordering::Relaxed);
        self.rules[i].store(bits, Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
        self.lock.store(false, Ordering::Release);
        true
    }

    /// Empties the page (the cache is cleared), after any writer busy now
    /// (a few stores).
    fn clear(&self) {
        while self.lock.swap(true, Ordering::Acquire) {
            core::hint::spin_loop();
        }
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        for r in &self.rules {
            r.store(0, Ordering::Relaxed);
        }
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
        self.lock.store(false, Ordering::Release);
    }
}

/// In a forked child (only the forking thread exists): rules computed
/// from now on go to the child's page first. Its rules, and those its
/// parent kept there, hold for the same code at the same addresses.
pub fn after_fork_child() {
    CHILD.lock.store(false, Ordering::Relaxed);
    let seq = CHILD.seq.load(Ordering::Relaxed);
    if seq & 1 != 0 {
        // A writer of the parent's was cut short: its slot may be torn.
        for r in &CHILD.rules {
            r.store(0, Ordering::Relaxed);
        }
        CHILD.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
    }
    CHILD.written.store(0, Ordering::Relaxed);
    CHILD.active.store(true, Ordering::Release);
}

/// `FRAME_POINTER_BITS` unpacked.
#[cfg(test)]
const FRAME_POINTER_RULE: Rule = Rule::Cfa {
    from_rbp: true,
    cfa_offset: 16,
    rbp_saved: true,
    rbp_offset: -16,
};

/// The packed rule of a function that keeps the standard frame pointer
/// (`push rbp; mov rbp, rsp`): CFA = RBP + 16, caller's RBP at CFA − 16.
pub const FRAME_POINTER_BITS: u32 =
    1 | (1 << 3) | (1 << 4) | (16 << 5) | ((-16i32 as u32 & 0x1fff) << 19);

/// Whether packed `bits` say CFA = RSP + offset, RBP unchanged.
#[inline(always)]
pub fn is_stack_pointer_only(bits: u32) -> bool {
    // Valid, a CFA rule, from RSP, RBP not saved.
    bits & 0b11111 == 1
}

/// The CFA offset of such a rule.
#[inline(always)]
pub fn stack_pointer_offset(bits: u32) -> u64 {
    u64::from((bits >> 5) & 0x3fff)
}

/// The packed rule cached for `pc`, if any: one load and a compare.
#[inline(always)]
pub fn cached(pc: u64) -> Result<u32, ()> {
    let entry = CACHE[(pc as usize) & (CACHE_SIZE - 1)].load(Ordering::Relaxed);
    // Equal tags leave only the low 32 bits, the rule; 0 is an empty entry.
    let tag = (pc >> CACHE_BITS) << 32;
    if entry ^ tag < 1 << 32 && entry != 0 {
        Ok(entry as u32)
    } else {
        cached_in_child(pc)
    }
}

/// A rule kept on the child's page (see [`ChildRules`]), after a miss.
#[inline(never)]
fn cached_in_child(pc: u64) -> Result<u32, ()> {
    CHILD.get(pc)
}

/// A cache miss: computes the rule with gimli and caches it, on the
/// thread's side stack (gimli needs more stack than a small thread has).
#[cold]
#[inline(never)]
pub fn rule_miss(pc: u64) -> Rule {
    super::space::on_side_stack(|| compute_and_cache(pc))
}

fn compute_and_cache(pc: u64) -> Rule {
    let slot = &CACHE[(pc as usize) & (CACHE_SIZE - 1)];
    let tag = (pc >> CACHE_BITS) as u32;
    let range = match modules::find(pc) {
        Some(r) => r,
        None => {
            if !modules::on_unknown_pc(pc) {
                return Rule::FramePointer;
            }
            match modules::find(pc) {
                Some(r) => r,
                None => return Rule::FramePointer,
            }
        }
    };
    let rule = compute_rule(range, pc).unwrap_or(Rule::FramePointer);
    if let Some(bits) = rule.pack() {
        if !CHILD.put(pc, bits) {
            slot.store((u64::from(tag) << 32) | u64::from(bits), Ordering::Relaxed);
        }
    }
    rule
}

/// Evaluates the CFI row for `pc` with gimli.
fn compute_rule(range: &CodeRange, pc: u64) -> Option<Rule> {
    if range.eh_frame_hdr == 0 || range.eh_frame == 0 {
        return None;
    }
    // SAFETY: both sections lie in loaded segments of the module that holds
    // `pc`, which is on this thread's stack and so cannot be unloaded now.
    let (hdr, frame) = unsafe {
        (
            core::slice::from_raw_parts(
                range.eh_frame_hdr as *const u8,
                range.eh_frame_hdr_len as usize,
            ),
            core::slice::from_raw_parts(
                range.eh_frame as *const u8,
                (range.eh_frame_end - range.eh_frame) as usize,
            ),
        )
    };
    let bases = BaseAddresses::default()
        .set_eh_frame_hdr(range.eh_frame_hdr)
        .set_eh_frame(range.eh_frame)
        .set_text(range.start);
    let parsed = EhFrameHdr::new(hdr, NativeEndian).parse(&bases, 8).ok()?;
    let table = parsed.table()?;
    let eh_frame = EhFrame::new(frame, NativeEndian);
    let mut ctx = Box::new(UnwindContext::new());
    let row = table
        .unwind_info_for_address(&eh_frame, &bases, &mut ctx, pc, EhFrame::cie_from_offset)
        .ok()?;
    // No rule for the return address (or an explicit "undefined") marks the
    // outermost frame.
    if matches!(
        row.register(X86_64::RA),
        None | Some(RegisterRule::Undefined)
    ) {
        return Some(Rule::End);
    }
    let (from_rbp, cfa_offset) = match *row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } if register == X86_64::RSP => {
            (false, offset)
        }
        CfaRule::RegisterAndOffset { register, offset } if register == X86_64::RBP => {
            (true, offset)
        }
        _ => return None,
    };
    let (rbp_saved, rbp_offset) = match row.register(X86_64::RBP) {
        Some(RegisterRule::Offset(off)) => (true, off),
        None | Some(RegisterRule::Undefined | RegisterRule::SameValue) => (false, 0),
        _ => return None,
    };
    Some(Rule::Cfa {
        from_rbp,
        cfa_offset,
        rbp_saved,
        rbp_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::Rule;

    #[test]
    fn a_childs_rules_are_kept_on_its_page_until_cleared() {
        use super::{ChildRules, CHILD_RULES, CHILD_SLOTS};
        use core::sync::atomic::Ordering;
        let page = Box::new(ChildRules::new());
        // Not a forked child: the cache takes the rule.
        assert!(!page.put(0x7f00_1234, 5));
        assert_eq!(page.get(0x7f00_1234), Err(()));
        page.active.store(true, Ordering::Relaxed);
        assert!(page.put(0x7f00_1234, 5));
        assert_eq!(page.get(0x7f00_1234), Ok(5));
        // Another address in the same slot is not taken for it.
        assert_eq!(page.get(0x7f00_1234 + CHILD_SLOTS as u64), Err(()));
        // A writer busy: a reader misses, and another writer leaves the
        // rule to the cache.
        page.seq.fetch_add(1, Ordering::Relaxed);
        assert_eq!(page.get(0x7f00_1234), Err(()));
        page.seq.fetch_add(1, Ordering::Relaxed);
        page.lock.store(true, Ordering::Relaxed);
        assert!(!page.put(0x7f00_2000, 7));
        page.lock.store(false, Ordering::Relaxed);
        page.clear();
        assert_eq!(page.get(0x7f00_1234), Err(()));
        // Past CHILD_RULES rules, a busy child uses the cache.
        let mut kept = 0;
        for pc in 0..u64::from(CHILD_RULES) + 10 {
            kept += u32::from(page.put(0x7f00_0000 + pc, 9));
        }
        assert_eq!(kept, CHILD_RULES - 2);
        assert!(!page.active.load(Ordering::Relaxed));
    }

    #[test]
    fn rules_pack_and_unpack() {
        for rule in [
            Rule::End,
            Rule::FramePointer,
            Rule::Cfa {
                from_rbp: false,
                cfa_offset: 8,
                rbp_saved: false,
                rbp_offset: 0,
            },
            Rule::Cfa {
                from_rbp: true,
                cfa_offset: 16,
                rbp_saved: true,
                rbp_offset: -16,
            },
            Rule::Cfa {
                from_rbp: false,
                cfa_offset: 16383,
                rbp_saved: true,
                rbp_offset: -4096,
            },
        ] {
            assert_eq!(Rule::unpack(rule.pack().unwrap()), rule);
        }
        assert_eq!(
            super::FRAME_POINTER_RULE.pack(),
            Some(super::FRAME_POINTER_BITS)
        );
        let rsp_only = Rule::Cfa {
            from_rbp: false,
            cfa_offset: 56,
            rbp_saved: false,
            rbp_offset: 0,
        }
        .pack()
        .unwrap();
        assert!(super::is_stack_pointer_only(rsp_only));
        assert_eq!(super::stack_pointer_offset(rsp_only), 56);
        assert!(!super::is_stack_pointer_only(super::FRAME_POINTER_BITS));
        assert_eq!(
            Rule::Cfa {
                from_rbp: false,
                cfa_offset: 1 << 14,
                rbp_saved: false,
                rbp_offset: 0
            }
            .pack(),
            None
        );
    }
}
