//! Errors of the use cases: the user's (exit 1) or the infrastructure's
//! (exit 2, worth retrying).

use crate::ports::PortError;

/// Why a use case did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Bad input: an unknown DAG, run or task, a bad date. Retrying the
    /// same request will fail the same way.
    #[error("{0}")]
    User(String),
    /// A store, queue, spec source or launcher failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

impl EngineError {
    /// A user error from any message.
    pub fn user(message: impl Into<String>) -> EngineError {
        EngineError::User(message.into())
    }
}

/// Use-case results.
pub type EngineResult<T> = Result<T, EngineError>;
