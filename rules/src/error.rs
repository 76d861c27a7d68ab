//! The one error a rules file is refused with.

use std::fmt;

/// Why a rules file was refused: the 1-based line it is about, when one applies, and a message the
/// territory's administrator can act on. The API answers it as `422 invalid_rules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    pub line: Option<usize>,
    pub message: String,
}

impl RulesError {
    /// An error about the whole file rather than one line of it.
    pub(crate) fn whole_file(message: impl Into<String>) -> RulesError {
        RulesError { line: None, message: message.into() }
    }

    /// An error about the text that starts at byte `offset` of `source`.
    pub(crate) fn at(source: &str, offset: usize, message: impl Into<String>) -> RulesError {
        RulesError { line: Some(line_of(source, offset)), message: message.into() }
    }
}

/// The 1-based line of byte `offset` in `source`; an offset past the end is on the last line.
pub(crate) fn line_of(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source.as_bytes()[..end].iter().filter(|&&byte| byte == b'\n').count() + 1
}

impl fmt::Display for RulesError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(formatter, "line {line}: {}", self.message),
            None => formatter.write_str(&self.message),
        }
    }
}

impl std::error::Error for RulesError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_on_a_line_is_displayed_with_its_line_first() {
        let error =
            RulesError { line: Some(12), message: "unknown key `tokens_per_acton` in [[categories]]".to_owned() };
        assert_eq!(error.to_string(), "line 12: unknown key `tokens_per_acton` in [[categories]]");
    }

    #[test]
    fn an_error_on_the_whole_file_is_displayed_without_a_line() {
        let error = RulesError::whole_file("the file must define at least one [[categories]]");
        assert_eq!(error.to_string(), "the file must define at least one [[categories]]");
    }

    #[test]
    fn lines_are_counted_from_one() {
        let source = "a\nb\nc";
        assert_eq!(line_of(source, 0), 1);
        assert_eq!(line_of(source, 2), 2);
        assert_eq!(line_of(source, 4), 3);
        assert_eq!(line_of(source, 99), 3);
    }
}
