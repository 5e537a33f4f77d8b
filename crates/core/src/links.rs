//! The dashboard's paths, for the dashboard's own links and for the `ui`
//! link an event carries: one spelling for both.

/// `text` safe as one path segment or query value of a link.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
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
