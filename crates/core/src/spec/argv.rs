//! A task's command: its arguments kept in one buffer.

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

    /// Room for `args` arguments of `bytes` in all, so that a command
    /// read from a spec is allocated once at its size.
    pub(crate) fn with_capacity(args: usize, bytes: usize) -> Argv {
        Argv {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(args),
        }
    }

    /// Adds an argument at the end.
    pub(crate) fn push(&mut self, arg: &str) {
        self.text.push_str(arg);
        self.ends.push(self.text.len() as u32);
    }
}

impl<S: AsRef<str>> FromIterator<S> for Argv {
    fn from_iter<I: IntoIterator<Item = S>>(args: I) -> Self {
        let mut argv = Argv::default();
        for arg in args {
            argv.push(arg.as_ref());
        }
        argv
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
