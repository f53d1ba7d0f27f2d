//! `--format pprof`: the leaks as a gzipped `profile.proto` (what pprof,
//! Pyroscope, Parca and speedscope read). Two sample types, leaked objects
//! (count) and leaked space (bytes); one sample per site, labelled with its
//! kind; one location per return address with its inline frames as lines;
//! one mapping per module. The protobuf wire format is written by hand:
//! the profile needs five message types and no other protobuf feature.

use crate::analysis::Analysis;
use crate::symbolize::Frame;
use std::collections::HashMap;

/// Protobuf wire encoding into a buffer.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }
    /// An integer field (omitted when 0, as proto3 does).
    fn int(&mut self, field: u32, v: u64) -> &mut Self {
        if v != 0 {
            self.key(field, 0);
            self.varint(v);
        }
        self
    }
    fn bytes(&mut self, field: u32, b: &[u8]) -> &mut Self {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn message(&mut self, field: u32, m: &Message) -> &mut Self {
        self.bytes(field, &m.0)
    }
    /// A packed repeated integer field.
    fn packed(&mut self, field: u32, values: &[u64]) -> &mut Self {
        let mut inner = Message::default();
        for &v in values {
            inner.varint(v);
        }
        self.bytes(field, &inner.0)
    }
}

/// The string table: index 0 is "".
#[derive(Default)]
struct Strings {
    table: Vec<String>,
    index: HashMap<String, u64>,
}

impl Strings {
    fn id(&mut self, s: &str) -> u64 {
        if self.table.is_empty() {
            self.table.push(String::new());
            self.index.insert(String::new(), 0);
        }
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as u64;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

/// The gzipped profile of the sites shown in every analysis.
pub fn profile(analyses: &[Analysis]) -> Result<Vec<u8>, String> {
    let raw = encode(analyses);
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw)
        .and_then(|_| gz.finish())
        .map_err(|e| format!("cannot compress the profile: {e}"))
}

/// The profile, not compressed.
pub fn encode(analyses: &[Analysis]) -> Vec<u8> {
    let mut strings = Strings::default();
    let mut p = Message::default();
    strings.id("");
    for (kind, unit) in [("leaked_objects", "count"), ("leaked_space", "bytes")] {
        let mut vt = Message::default();
        vt.int(1, strings.id(kind)).int(2, strings.id(unit));
        p.message(1, &vt);
    }

    // Mappings: one per module path, over its executable segments.
    let mut mapping_ids: HashMap<String, u64> = HashMap::new();
    let mut mappings = Vec::new();
    for a in analyses {
        for m in &a.input.dump.modules {
            if mapping_ids.contains_key(&m.path) {
                continue;
            }
            let exec: Vec<_> = m.segments.iter().filter(|s| s.flags & 1 != 0).collect();
            let (Some(lo), Some(hi)) = (
                exec.iter().map(|s| s.vaddr).min(),
                exec.iter().map(|s| s.vaddr + s.memsz).max(),
            ) else {
                continue;
            };
            let id = mappings.len() as u64 + 1;
            mapping_ids.insert(m.path.clone(), id);
            let mut mm = Message::default();
            mm.int(1, id)
                .int(2, m.bias.wrapping_add(lo))
                .int(3, m.bias.wrapping_add(hi))
                .int(4, lo)
                .int(5, strings.id(&m.path))
                .int(6, strings.id(&hex(&m.build_id)))
                .int(7, 1)
                .int(8, 1)
                .int(9, 1)
                .int(10, 1);
            mappings.push(mm);
        }
    }

    // Functions and locations, deduplicated; samples.
    let mut function_ids: HashMap<(String, String), u64> = HashMap::new();
    let mut functions = Vec::new();
    let mut location_ids: HashMap<u64, u64> = HashMap::new();
    let mut locations = Vec::new();
    let mut samples = Vec::new();
    let kind_key = strings.id("kind");
    for a in analyses {
        for site in a.shown_sites() {
            let mut ids = Vec::new();
            for group in by_address(&site.frames) {
                let address = group[0].address;
                let id = *location_ids.entry(address).or_insert_with(|| {
                    let id = locations.len() as u64 + 1;
                    let mut loc = Message::default();
                    loc.int(1, id)
                        .int(2, mapping_ids.get(&*group[0].module).copied().unwrap_or(0))
                        .int(3, address);
                    for f in group {
                        let name = crate::folded::frame_name(f).replace('\u{a0}', " ");
                        let file = f.file.clone().unwrap_or_default();
                        let fid = *function_ids
                            .entry((name.clone(), file.to_string()))
                            .or_insert_with(|| {
                                let fid = functions.len() as u64 + 1;
                                let mut fm = Message::default();
                                fm.int(1, fid)
                                    .int(2, strings.id(&name))
                                    .int(3, strings.id(&name))
                                    .int(4, strings.id(&file));
                                functions.push(fm);
                                fid
                            });
                        let mut line = Message::default();
                        line.int(1, fid).int(2, u64::from(f.line.unwrap_or(0)));
                        loc.message(4, &line);
                    }
                    locations.push(loc);
                    id
                });
                ids.push(id);
            }
            let mut sm = Message::default();
            sm.packed(1, &ids).packed(2, &[site.blocks, site.bytes]);
            let mut label = Message::default();
            label.int(1, kind_key).int(2, strings.id(site.kind.name()));
            sm.message(3, &label);
            samples.push(sm);
        }
    }
    for s in &samples {
        p.message(2, s);
    }
    for m in &mappings {
        p.message(3, m);
    }
    for l in &locations {
        p.message(4, l);
    }
    for f in &functions {
        p.message(5, f);
    }
    let time = analyses.first().map_or(0, |a| a.input.dump.process.dump_ns);
    let default_type = strings.id("leaked_space");
    for s in &strings.table {
        p.bytes(6, s.as_bytes());
    }
    p.int(9, time).int(14, default_type);
    p.0
}

/// Frames grouped by return address: a location and its inline frames,
/// innermost first (as profile.proto orders a location's lines).
fn by_address(frames: &[Frame]) -> Vec<&[Frame]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=frames.len() {
        if i == frames.len() || frames[i].address != frames[start].address {
            out.push(&frames[start..i]);
            start = i;
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::Message;

    #[test]
    fn varints() {
        let mut m = Message::default();
        m.int(1, 300);
        assert_eq!(m.0, vec![0x08, 0xac, 0x02]);
        let mut m = Message::default();
        m.packed(2, &[1, 150]);
        assert_eq!(m.0, vec![0x12, 0x03, 0x01, 0x96, 0x01]);
    }
}
