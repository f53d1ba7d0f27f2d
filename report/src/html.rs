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
    // Inside <script>, "</" could end the element early.
    let json = json.replace("</", "<\\/");
    Ok(TEMPLATE.replacen("/*DATA*/", &json, 1))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn data_cannot_close_the_script() {
        let page = super::page(&[], Some("<svg></svg>".into())).unwrap();
        let data = page
            .split("<script id=\"data\" type=\"application/json\">")
            .nth(1)
            .unwrap();
        let data = data.split("</script>").next().unwrap();
        assert!(
            data.contains("data:image/svg+xml;base64,PHN2Zz48L3N2Zz4="),
            "{data}"
        );
    }

    #[test]
    fn base64() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}
