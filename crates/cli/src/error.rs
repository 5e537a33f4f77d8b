//! How the CLI fails: one line, what and where; exit 1 for the user's
//! mistakes, 2 when the infrastructure failed.

use std::fmt;

use updraft_engine::EngineError;
use updraft_engine::ports::PortError;

/// The exit status of a command whose reader went away (`updraft runs |
/// head`): a shell's for a process a broken pipe ended, as for `cat`.
pub const READER_GONE: u8 = 141;

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// Bad input; exit 1.
    User(String),
    /// A store, queue, file system or process failure; exit 2.
    Infra(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::User(_) => 1,
            CliError::Infra(_) => 2,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (CliError::User(m) | CliError::Infra(m)) = self;
        // One line, whatever the cause carried.
        f.write_str(&m.replace('\n', "; "))
    }
}

/// The use cases' fields that the commands take as flags: their errors
/// name the flag (`--from: …`).
const FLAG_FIELDS: &[&str] = &[
    "from",
    "to",
    "since",
    "until",
    "state",
    "param",
    "map_index",
    "next",
];

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid {
                field: Some(field),
                message,
            } if FLAG_FIELDS.contains(&field) => {
                CliError::User(format!("--{}: {message}", field.replace('_', "-")))
            }
            // A positional argument (a task, a pool, a version): the
            // message names it.
            EngineError::Invalid { message, .. } => CliError::User(message),
            e if e.is_infrastructure() => CliError::Infra(e.to_string()),
            _ => CliError::User(e.to_string()),
        }
    }
}

impl CliError {
    /// A use case's error about a positional argument: bad input says
    /// what is wrong without naming a flag.
    pub fn of_argument(e: EngineError) -> CliError {
        match e {
            EngineError::Invalid { message, .. } => CliError::User(message),
            e => e.into(),
        }
    }
}

impl From<PortError> for CliError {
    fn from(e: PortError) -> Self {
        CliError::Infra(e.to_string())
    }
}

/// Command results.
pub type CliResult<T> = Result<T, CliError>;
