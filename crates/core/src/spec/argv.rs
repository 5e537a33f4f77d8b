//! A task's command: its arguments kept in one buffer.

use std::borrow::Cow;

/// A task's arguments (each a template), in one string with where each
/// ends: a spec of ten thousand tasks would otherwise allocate, keep and
/// free an allocation per argument.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Argv {
    text: String,
    ends: Vec<u32>,
}

impl Argv {
    /// The arguments in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + Clone {
        (0..self.ends.len()).map(|i| {
            let start = i.checked_sub(1).map_or(0, |before| self.ends[before]);
            &self.text[start as usize..self.ends[i] as usize]
        })
    }

    /// How many arguments.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

impl<'a> FromIterator<Cow<'a, str>> for Argv {
    fn from_iter<I: IntoIterator<Item = Cow<'a, str>>>(args: I) -> Self {
        // Gathered first so that the text and the ends are each allocated
        // once, at their size.
        let args = args.into_iter();
        let mut gathered = Vec::with_capacity(args.size_hint().1.unwrap_or(0));
        gathered.extend(args);
        let mut text = String::with_capacity(gathered.iter().map(|a| a.len()).sum());
        let ends = gathered
            .iter()
            .map(|arg| {
                text.push_str(arg);
                text.len() as u32
            })
            .collect();
        Argv { text, ends }
    }
}

impl<'a> FromIterator<&'a str> for Argv {
    fn from_iter<I: IntoIterator<Item = &'a str>>(args: I) -> Self {
        args.into_iter().map(Cow::Borrowed).collect()
    }
}

impl serde::Serialize for Argv {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_each_argument_whole_even_empty_ones() {
        let argv: Argv = ["python", "", "step.py", "--day", "{{ ds }}"]
            .into_iter()
            .collect();
        let args: Vec<&str> = argv.iter().collect();
        assert_eq!(args, ["python", "", "step.py", "--day", "{{ ds }}"]);
        assert_eq!(argv.len(), 5);
        assert_eq!(
            serde_json::to_string(&argv).unwrap(),
            r#"["python","","step.py","--day","{{ ds }}"]"#
        );
        assert!(Argv::default().is_empty());
        assert_eq!(Argv::default().iter().count(), 0);
    }
}
