//! AWS errors as one line a user can act on: a service's own code and
//! message (`ClientException: Unable to describe task definition.`), or,
//! when no answer came, the chain of causes.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use updraft_engine::ports::{LaunchError, PortError};

/// One line for an SDK error of any AWS client.
pub fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error.as_service_error() {
        Some(service) => match (service.code(), service.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            _ => DisplayErrorContext(error).to_string(),
        },
        None => DisplayErrorContext(error).to_string(),
    }
}

/// Maps an SDK error to a port error that says what was being done
/// (`"ECS RunTask"`), the SDK error kept as its source.
pub fn fail<E, R>(doing: &str) -> impl Fn(SdkError<E, R>) -> PortError + '_
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| PortError::described(format!("{doing}: {}", describe(&e)), e)
}

/// Maps an SDK error of a launch call to a launch error: refused when the
/// service named one of `refusals` (the request itself is wrong: a later
/// delivery would get the same answer), unavailable otherwise (throttling,
/// a 5xx, no answer), which is delivered again.
pub fn fail_launch<'a, E, R>(
    doing: &'a str,
    refusals: &'a [&'a str],
) -> impl Fn(SdkError<E, R>) -> LaunchError + 'a
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| {
        let line = format!("{doing}: {}", describe(&e));
        match e.code() {
            Some(code) if refusals.contains(&code) => LaunchError::Refused(line),
            _ => LaunchError::Unavailable(PortError::described(line, e)),
        }
    }
}
