//! Escaping and the page frame.

/// `text` safe inside HTML text and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `title` (escaped here) and `body` (already HTML).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · updraft</title><style>{STYLE}</style></head>\
         <body><header><a href=\"/\">updraft</a></header><main>{body}</main></body></html>\n",
        escape(title)
    )
}

const STYLE: &str = "\
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f7f8fa}\
header{background:#1d2330;padding:10px 20px}header a{color:#fff;font-weight:600;text-decoration:none}\
main{padding:16px 20px}table{border-collapse:collapse;width:100%;background:#fff}\
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e6eb;vertical-align:top}\
th{font-weight:600;color:#505a6b}.muted{color:#6b7485}.tag{background:#eef1f5;border-radius:3px;padding:0 4px;margin-right:3px}\
.banner{background:#fdecea;border:1px solid #f5c2bd;color:#8a1c12;padding:8px 12px;margin-bottom:12px;border-radius:4px}\
.strip{display:flex;gap:2px}.run{display:inline-block;width:16px;height:16px;border-radius:2px;color:#fff;\
font-size:11px;line-height:16px;text-align:center;font-weight:700}\
.succeeded{background:#2e7d32}.failed{background:#c62828}.running{background:#1565c0}\
.queued{background:#8d6e63}.cancelled{background:#616161}\
form.filter{margin-bottom:12px;display:flex;gap:8px}form.filter input{padding:4px 6px}";
