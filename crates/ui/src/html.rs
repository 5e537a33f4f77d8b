//! Escaping, the page frame, and the pieces every page shares: times in
//! the DAG's zone, state badges, links.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use updraft_core::state::{RunState, TaskState};

use crate::http::encode;
pub use updraft_core::links::{dag_path, run_path};

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

/// A whole page: `title` (escaped here) and `body` (already HTML). A page
/// whose `live` is set is refreshed in place every two seconds by the
/// dashboard's script.
pub fn page(title: &str, body: &str, live: bool) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · updraft</title><style>{STYLE}</style>\
         <script src=\"/static/app.js\" defer></script></head>\
         <body{}><header><a href=\"/\">updraft</a><a href=\"/runs\">runs</a></header>\
         <main id=\"main\">{body}</main></body></html>\n",
        escape(title),
        if live { " data-live=\"1\"" } else { "" },
    )
}

/// A time in the DAG's zone, with UTC on hover.
pub fn time(at: DateTime<Utc>, tz: Tz) -> String {
    format!(
        "<time datetime=\"{utc}\" title=\"{utc}\">{local}</time>",
        utc = at.format("%Y-%m-%d %H:%M:%S UTC"),
        local = at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z"),
    )
}

/// An optional time, or a dash.
pub fn opt_time(at: Option<DateTime<Utc>>, tz: Tz) -> String {
    at.map_or_else(|| "—".to_string(), |at| time(at, tz))
}

/// A run's state told by a letter as well as a colour.
pub fn run_letter(state: RunState) -> char {
    match state {
        RunState::Queued => 'Q',
        RunState::Running => 'R',
        RunState::Succeeded => 'S',
        RunState::Failed => 'F',
        RunState::Cancelled => 'C',
    }
}

/// A task's state told by a letter as well as a colour.
pub fn task_letter(state: TaskState) -> char {
    match state {
        TaskState::Pending => '·',
        TaskState::Queued => 'Q',
        TaskState::Launching => 'L',
        TaskState::Running => 'R',
        TaskState::Waiting => 'A',
        TaskState::RetryWait => 'W',
        TaskState::Succeeded => 'S',
        TaskState::Failed => 'F',
        TaskState::UpstreamFailed => 'U',
        TaskState::Skipped => 'K',
        TaskState::Mapped => 'M',
    }
}

/// A run state as a badge: letter, colour, and the word.
pub fn run_badge(state: RunState) -> String {
    format!(
        "<span class=\"badge {state}\"><b>{}</b> {state}</span>",
        run_letter(state)
    )
}

/// A task state as a badge.
pub fn task_badge(state: TaskState) -> String {
    format!(
        "<span class=\"badge {state}\"><b>{}</b> {state}</span>",
        task_letter(state)
    )
}

/// A run as a small square linking to its page: its state's letter and
/// colour, its id, state and logical date (in `tz`) on hover.
pub fn run_square(run: &updraft_core::state::Run, tz: Tz) -> String {
    format!(
        "<a class=\"run {state}\" href=\"{href}\" title=\"{id} · {state} · {date}\">{letter}</a>",
        href = escape(&run_path(run.dag.as_str(), &run.run_id)),
        state = run.state,
        id = escape(&run.run_id),
        date = run
            .logical_date
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M %Z"),
        letter = run_letter(run.state),
    )
}

/// The path of a task's panel in a run.
pub fn task_path(dag: &str, run_id: &str, task: &str, map_index: Option<u32>) -> String {
    let mut path = format!("{}/tasks/{}", run_path(dag, run_id), encode(task));
    if let Some(i) = map_index {
        path.push_str(&format!("?map_index={i}"));
    }
    path
}

/// The path of one try of a task instance in its panel.
pub fn try_path(
    dag: &str,
    run_id: &str,
    key: &updraft_core::state::TaskKey,
    try_number: u32,
) -> String {
    let path = task_path(dag, run_id, key.task_id.as_str(), key.map_index);
    let joint = if key.map_index.is_some() { '&' } else { '?' };
    format!("{path}{joint}try={try_number}")
}

/// The path of an artifact's lineage.
pub fn artifact_path(uri: &str) -> String {
    format!("/lineage?uri={}", encode(uri))
}

/// A link (`href` is a path this crate built; `text` is escaped here).
pub fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", escape(href), escape(text))
}

/// A POST form's opening tag and its action token; `confirm` is what the
/// browser asks before sending it.
pub fn form(action: &str, token: &str, confirm: Option<&str>) -> String {
    let confirm = confirm
        .map(|c| format!(" data-confirm=\"{}\"", escape(c)))
        .unwrap_or_default();
    format!(
        "<form method=\"post\" action=\"{}\"{confirm}><input type=\"hidden\" name=\"token\" value=\"{}\">",
        escape(action),
        escape(token)
    )
}

/// A whole error page.
pub fn error_page(what: &str) -> String {
    page(
        "error",
        &format!(
            "<div class=\"banner\" role=\"alert\">{}</div>",
            escape(what)
        ),
        false,
    )
}

const STYLE: &str = "\
header a{margin-right:16px}nav.actions{display:flex;gap:8px;margin:8px 0 16px;flex-wrap:wrap}\
nav.actions form,nav.actions a.button,td form{display:inline}button,a.button{font:inherit;padding:3px 10px;border:1px solid #9aa3b2;\
border-radius:4px;background:#fff;color:#1d2330;cursor:pointer;text-decoration:none}\
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px}dl.facts dt{color:#505a6b}dl.facts dd{margin:0}\
.badge{display:inline-block;border-radius:3px;padding:0 5px;color:#fff;font-size:12px}\
.pending{background:#b0b7c3}.launching{background:#4f83cc}.retry_wait{background:#ef8f00}\
.upstream_failed{background:#e57373}.skipped{background:#bdbdbd;color:#333}.mapped{background:#6a5acd}\
.grid{width:auto}.grid .cell{width:20px;padding:2px 1px;text-align:center;vertical-align:bottom}\
.grid th.task{width:220px}.grid tr.durations th{border-bottom:0}.grid td.cell a{display:block;min-width:20px;border-radius:2px;color:#fff;\
text-decoration:none;font-size:11px;font-weight:700}.grid th.task{white-space:nowrap}\
pre.log{background:#10141c;color:#d8dee9;padding:10px;overflow:auto;max-height:480px;white-space:pre-wrap}\
svg text{font:12px system-ui,sans-serif}svg .label{fill:#fff}svg .edge{stroke:#9aa3b2;fill:none;stroke-width:1.5}\
svg rect.succeeded{fill:#2e7d32}svg rect.failed{fill:#c62828}svg rect.running{fill:#1565c0}svg rect.queued{fill:#8d6e63}\
svg rect.pending{fill:#b0b7c3}svg rect.launching{fill:#4f83cc}svg rect.retry_wait{fill:#ef8f00}\
svg rect.waiting{fill:#00897b}svg rect.upstream_failed{fill:#e57373}svg rect.skipped{fill:#bdbdbd}svg rect.mapped{fill:#6a5acd}svg rect.cancelled{fill:#616161}\
svg rect.wait{fill:#d7ccc8}svg rect.under{opacity:.5}svg line.median{stroke:#1d2330;stroke-dasharray:4 3}section{margin-bottom:24px}\
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f7f8fa}\
header{background:#1d2330;padding:10px 20px;display:flex;align-items:center}header .who{margin-left:auto;color:#c9ced6;font-size:13px}header .who a{margin-right:0}header .signout{display:inline;margin:0}header .signout button{background:none;border:0;padding:0;color:#fff;font:inherit;font-weight:600;cursor:pointer}header a{color:#fff;font-weight:600;text-decoration:none}\
main{padding:16px 20px}table{border-collapse:collapse;width:100%;background:#fff}\
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e6eb;vertical-align:top}\
th{font-weight:600;color:#505a6b}.muted{color:#6b7485}.tag{background:#eef1f5;border-radius:3px;padding:0 4px;margin-right:3px}\
.banner{background:#fdecea;border:1px solid #f5c2bd;color:#8a1c12;padding:8px 12px;margin-bottom:12px;border-radius:4px}\
.strip{display:flex;gap:2px}.run{display:inline-block;width:16px;height:16px;border-radius:2px;color:#fff;\
font-size:11px;line-height:16px;text-align:center;font-weight:700;text-decoration:none}\
.succeeded{background:#2e7d32}.failed{background:#c62828}.running{background:#1565c0}\
.queued{background:#8d6e63}.cancelled{background:#616161}.waiting{background:#00897b}\
form.filter{margin-bottom:12px;display:flex;flex-wrap:wrap;gap:8px}\
tr.dates th.date span{writing-mode:vertical-rl;transform:rotate(180deg);font-size:10px;font-weight:normal;color:#5f6b7a;white-space:nowrap}\
svg.plot{background:#fff;border:1px solid #dde1e6;margin:0 12px 12px 0}svg.plot line.axis{stroke:#5f6b7a}\
svg.plot text{font-size:11px;fill:#1d2330}svg.plot text.name{font-weight:600}svg.plot polyline.line{fill:none;stroke:#1565c0;stroke-width:1.5}\
svg.plot circle.point{fill:#1565c0;stroke:#fff}svg.plot circle.point.failed{fill:#c62828}div.plots{display:flex;flex-wrap:wrap}\
form.plot{display:flex;gap:12px;align-items:center;margin-bottom:8px}\
section.failures pre.tail{background:#1d2330;color:#e8eaed;padding:8px;overflow-x:auto;font-size:12px;max-height:20em}form.filter input{padding:4px 6px}\
label.param{display:flex;flex-direction:column;gap:2px;max-width:420px;margin-bottom:8px}label.param small{font-size:12px}";

/// 128 random bits as hex, from the system's random source.
pub fn random_token() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // No /dev/urandom: the standard library's per-process random keys.
        use std::hash::{BuildHasher, RandomState};
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let word = RandomState::new().hash_one(i);
            chunk.copy_from_slice(&word.to_le_bytes());
        }
    }
    updraft_core::ids::hex(&bytes)
}
