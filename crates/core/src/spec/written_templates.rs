//! The templates of a task as it is read.

use crate::spec::read::{Reader, Written};
use crate::template::check_substitutions;
use crate::yaml::Pos;

/// A task's templates as they are read. One made only of substitutions
/// (most are) is checked on the spot, while its text is at hand; the rest
/// wait: those that read outputs (checked against the graph), read `item`
/// (checked once `map_over` is known) or need the parser.
#[derive(Default)]
pub(crate) struct Templates<'n> {
    waiting: Vec<Written<'n>>,
    errors: Vec<(Pos, String)>,
}

impl<'n> Templates<'n> {
    /// Checks `template` now, or keeps it for later.
    pub fn push(&mut self, template: Written<'n>) {
        match check_substitutions(&template.0) {
            Some(Ok(used)) if used.outputs.is_empty() && !used.reads_item => {}
            Some(Err(why)) => self.errors.push((template.1, why)),
            _ => self.waiting.push(template),
        }
    }

    /// Reports the errors found so far; the templates left to check.
    pub fn finish(self, reader: &mut Reader<'_>) -> Vec<Written<'n>> {
        for (pos, why) in self.errors {
            reader.error(pos, why);
        }
        self.waiting
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn only_templates_that_read_outputs_or_item_or_need_the_parser_wait() {
        let mut templates = Templates::default();
        let at = |line| Pos { line, col: 1 };
        for (line, text) in [
            (1, "s3://b/{{ ds }}"),
            (2, "{{ outputs.a.rows }}"),
            (3, "{{ item }}"),
            (4, "{% if ds %}x{% endif %}"),
            (5, "{{ nope }}"),
        ] {
            templates.push((Cow::Borrowed(text), at(line)));
        }
        let mut reader = Reader::new("t.yaml");
        let waiting: Vec<u32> = templates
            .finish(&mut reader)
            .iter()
            .map(|(_, pos)| pos.line)
            .collect();
        assert_eq!(waiting, [2, 3, 4]);
        let errors: Vec<String> = reader.errors.iter().map(|d| d.to_string()).collect();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .starts_with("t.yaml:5:1: template `{{ nope }}` reads unknown variable `nope`"),
            "{errors:?}"
        );
    }
}
