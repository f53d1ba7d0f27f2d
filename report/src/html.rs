//! `--format html`: one self-contained page (nothing is fetched from the
//! network): the JSON reports embedded in `assets/report.html`, whose
//! script draws the summary with process memory, the sortable and
//! filterable table of sites with their stacks, a chart of live bytes over
//! time for each series of snapshots, and the flamegraph of the sites shown.

use crate::json_growth::JsonItem;

const TEMPLATE: &str = include_str!("../assets/report.html");

/// The page for `items`, with `flamegraph` (an SVG document) at the end,
/// as a `data:` URL: an `<object>` shows it as its own document, where its
/// script (search, zoom) runs as in the standalone file.
pub fn page(items: &[JsonItem], flamegraph: Option<String>) -> Result<String, String> {
    let data = serde_json::json!({
        "items": items,
        "flamegraph": flamegraph.map(|svg| format!("data:image/svg+xml;base64,{}", base64(svg.as_bytes()))),
    });
    let json =
        serde_json::to_string(&data).map_err(|e| format!("cannot encode the report: {e}"))?;
    // Inside <script>, "</script" would end the element early and "<!--"
    // change how the rest is read: names and paths may hold anything. "<"
    // appears only inside JSON strings, where "\u003c" is the same.
    let json = json.replace('<', "\\u003c");
    Ok(TEMPLATE.replacen("/*DATA*/", &json, 1))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char
            } else {
                '='
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::json_growth::{JsonItem, JsonSeries};

    /// The JSON between the data element's tags, as a browser cuts it.
    fn embedded(page: &str) -> serde_json::Value {
        let data = page
            .split("<script id=\"data\" type=\"application/json\">")
            .nth(1)
            .unwrap();
        let data = data.split("</script>").next().unwrap();
        serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}"))
    }

    #[test]
    fn data_cannot_close_the_script() {
        let exe = "/tmp/</script><script>alert(1)</script><!--<script>";
        let item = JsonItem::Growth(JsonSeries {
            kind: "growth",
            pid: 7,
            exe: exe.into(),
            dumps: Vec::new(),
            total_sites: 0,
            sites: Vec::new(),
        });
        let page = super::page(&[item], Some("<svg></svg>".into())).unwrap();
        let data = embedded(&page);
        assert_eq!(data["items"][0]["exe"], exe);
        assert_eq!(
            data["flamegraph"],
            "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4="
        );
        assert_eq!(page.matches("</script>").count(), 2, "the template's own");
        assert!(!page.contains("<!--"), "no comment opened in the script");
    }

    #[test]
    fn base64() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(super::base64(&[0xff, 0xfe, 0x80]), "//6A");
    }
}
