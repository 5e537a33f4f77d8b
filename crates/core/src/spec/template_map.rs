//! Names mapped to templated strings: a task's `environment` and
//! `hyperparameters`.

/// Names mapped to templated strings, sorted by name, each name once.
///
/// A sorted vector rather than a `BTreeMap`: a task has a handful of them,
/// and a tree allocates a node of over 500 bytes for the first one, which
/// for a spec of ten thousand tasks was a sixth of validating it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateMap(Vec<(String, String)>);

impl TemplateMap {
    /// The pairs in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// How many names are set.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no name is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A name given twice keeps its last value, as inserting into a map would.
impl FromIterator<(String, String)> for TemplateMap {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        let mut pairs: Vec<(String, String)> = pairs.into_iter().collect();
        // Stable, so of equal names the last written stays last.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                std::mem::swap(later, earlier);
            }
            same
        });
        TemplateMap(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> TemplateMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_in_name_order_and_finds_each_name() {
        let vars = map(&[("b", "2"), ("a", "1"), ("c", "3")]);
        let names: Vec<&str> = vars.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(vars.get("a"), Some("1"));
        assert_eq!(vars.get("c"), Some("3"));
        assert_eq!(vars.get("d"), None);
        assert_eq!(vars.len(), 3);
    }

    #[test]
    fn a_name_given_twice_keeps_its_last_value() {
        let vars = map(&[("a", "first"), ("b", "2"), ("a", "second"), ("a", "last")]);
        assert_eq!(vars.len(), 2);
        assert_eq!(vars.get("a"), Some("last"));
        assert_eq!(vars.get("b"), Some("2"));
    }
}
