//! Errors of the use cases, by what a shell does with them: the user's
//! (a missing thing, bad input, a lost race; exit 1, HTTP 404/400/409) or
//! the infrastructure's (exit 2, HTTP 503/500).
//!
//! Messages name the thing (a DAG, a run, the field `from`), never a CLI
//! flag or a form: each shell adds its own wording.

use crate::ports::PortError;

/// Why a use case did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A DAG, run, task, version or pool that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Input that cannot work as given; `field` names the input when one
    /// is to blame (`from`, `state`, `param`, …). Retrying fails the same.
    #[error("{}", match field { Some(field) => format!("{field}: {message}"), None => message.clone() })]
    Invalid {
        /// The input at fault, as the use case names it.
        field: Option<&'static str>,
        /// What is wrong with it.
        message: String,
    },
    /// The thing is not in a state that allows it (a run already ended), or
    /// another writer kept changing it: try again, or look first.
    #[error("{0}")]
    Conflict(String),
    /// A store, queue, spec source or launcher failed: worth retrying.
    #[error("{0}")]
    Unavailable(#[from] PortError),
    /// Stored state that cannot be right (a run's spec version missing or
    /// no longer parsing): neither the user's doing nor worth retrying.
    #[error("{0}")]
    Internal(String),
}

/// The field an undeployed spec version is reported against.
pub const SPEC_VERSION: &str = "spec_version";

impl EngineError {
    /// A thing that does not exist.
    pub fn not_found(message: impl Into<String>) -> EngineError {
        EngineError::NotFound(message.into())
    }

    /// The run that does not exist.
    pub fn no_run(dag: &str, run_id: &str) -> EngineError {
        EngineError::not_found(format!("DAG `{dag}` has no run `{run_id}`"))
    }

    /// Bad input in the named field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> EngineError {
        EngineError::Invalid {
            field: Some(field),
            message: message.into(),
        }
    }

    /// A request that cannot work, no one field to blame.
    pub fn refused(message: impl Into<String>) -> EngineError {
        EngineError::Invalid {
            field: None,
            message: message.into(),
        }
    }

    /// A state that does not allow it, or a lost race.
    pub fn conflict(message: impl Into<String>) -> EngineError {
        EngineError::Conflict(message.into())
    }

    /// Stored state that cannot be right.
    pub fn internal(message: impl Into<String>) -> EngineError {
        EngineError::Internal(message.into())
    }

    /// A run's pinned spec version that no deploy made, or whose stored
    /// source is not that version: nothing of it may run.
    pub fn undeployed(message: impl Into<String>) -> EngineError {
        EngineError::invalid(SPEC_VERSION, message)
    }

    /// Whether the infrastructure failed (a later try may work), rather
    /// than the request.
    pub fn is_infrastructure(&self) -> bool {
        matches!(self, EngineError::Unavailable(_) | EngineError::Internal(_))
    }
}

/// Use-case results.
pub type EngineResult<T> = Result<T, EngineError>;

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    #[test]
    fn a_port_failure_keeps_its_cause_as_the_source() {
        let cause = std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer");
        let error = EngineError::from(PortError::new("reading the table", cause));
        assert_eq!(error.to_string(), "reading the table: no answer");
        assert!(error.is_infrastructure());
        let port = error.source().expect("the port error");
        let io = port.source().expect("the I/O error");
        assert_eq!(io.to_string(), "no answer");
    }

    #[test]
    fn bad_input_names_its_field_and_is_the_users() {
        let error = EngineError::invalid("from", "2026-11-10 is after the range's end, 2026-11-01");
        assert_eq!(
            error.to_string(),
            "from: 2026-11-10 is after the range's end, 2026-11-01"
        );
        assert!(!error.is_infrastructure());
    }
}
