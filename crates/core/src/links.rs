//! The dashboard's paths, for the dashboard's own links and for the `ui`
//! link an event carries: one spelling for both.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// What a link escapes: all but RFC 3986's unreserved characters.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `text` safe as one path segment or query value of a link.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, ESCAPED).to_string()
}

/// Percent-decoding (of a path, a query or form value, an S3 key in a
/// notification); a `%` not followed by two hex digits stays as it is,
/// and bytes that are not UTF-8 become U+FFFD.
pub fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The path of a DAG's grid.
pub fn dag_path(dag: &str) -> String {
    format!("/dags/{}", encode(dag))
}

/// The path of a run's page.
pub fn run_path(dag: &str, run_id: &str) -> String {
    format!("/dags/{}/runs/{}", encode(dag), encode(run_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_with_a_zone_offset_is_one_segment() {
        assert_eq!(
            run_path("etl", "scheduled__2026-11-22T02:00:00+09:00"),
            "/dags/etl/runs/scheduled__2026-11-22T02%3A00%3A00%2B09%3A00"
        );
    }
}
