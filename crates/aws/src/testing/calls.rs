//! Counting the requests the SDK sends, per service and operation, with an
//! interceptor on every client: the figures behind "API calls per attempt".

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// Requests sent, by (service, operation); retries count again.
#[derive(Clone, Debug, Default)]
pub struct CallCounter(Arc<Mutex<BTreeMap<(String, String), usize>>>);

impl CallCounter {
    /// The counts so far, and zero from now on.
    pub fn take(&self) -> BTreeMap<(String, String), usize> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Counts one request made without an SDK client (the service kinds'
    /// caller).
    pub fn count(&self, service: &str, operation: &str) {
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((service.to_string(), operation.to_string()))
            .or_default() += 1;
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            let key = (metadata.service().to_string(), metadata.name().to_string());
            *self
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(key)
                .or_default() += 1;
        }
        Ok(())
    }
}

/// The IAM actions the request about to be sent needs.
fn needed_actions(
    context: &BeforeTransmitInterceptorContextRef<'_>,
    cfg: &ConfigBag,
) -> Option<BTreeSet<String>> {
    let metadata = cfg.load::<Metadata>()?;
    let request = context.request();
    Some(crate::permissions::actions(
        metadata.service(),
        metadata.name(),
        request.uri(),
        request.body().bytes().unwrap_or_default(),
    ))
}

/// The IAM actions of every request sent (see [`crate::permissions`]):
/// on one function's clients, what that function's role must allow.
#[derive(Clone, Debug, Default)]
pub struct ActionRecorder(Arc<Mutex<BTreeSet<String>>>);

impl ActionRecorder {
    /// The actions needed so far.
    pub fn actions(&self) -> BTreeSet<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records the actions of the calls of a [`Caller`](crate::call::Caller)
    /// it observes, as it does those of the SDK clients it intercepts.
    pub fn call_observer(&self) -> crate::call::CallObserver {
        let recorded = self.0.clone();
        Arc::new(move |service, action, params| {
            let needed = crate::permissions::call_actions(service, action, params);
            recorded
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(needed);
        })
    }
}

impl Intercept for ActionRecorder {
    fn name(&self) -> &'static str {
        "ActionRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(needed) = needed_actions(context, cfg) {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(needed);
        }
        Ok(())
    }
}

/// Refuses, as IAM would, every request needing an action outside
/// `allowed` (a role's or policy's actions, [`super::template_actions`]):
/// clients that can do what a policy's holder can. Resources are not
/// checked, so these clients may do more than the policy allows, never less.
#[derive(Debug)]
pub struct PolicyLimit(pub BTreeSet<String>);

impl Intercept for PolicyLimit {
    fn name(&self) -> &'static str {
        "PolicyLimit"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(needed) = needed_actions(context, cfg) else {
            return Ok(());
        };
        match needed.iter().find(|action| !self.0.contains(*action)) {
            Some(action) => Err(format!("AccessDenied: the policy does not allow {action}").into()),
            None => Ok(()),
        }
    }
}

/// Refuses every request whose body writes an item in state `.0` (say
/// `launching`): a DynamoDB outage for exactly that write, while everything
/// else still reaches the server.
#[derive(Debug)]
pub struct RefuseState(pub &'static str);

impl Intercept for RefuseState {
    fn name(&self) -> &'static str {
        "RefuseState"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.request().body().bytes().unwrap_or_default();
        let state = format!(r#""state":{{"S":"{}"}}"#, self.0);
        if String::from_utf8_lossy(body).contains(&state) {
            return Err("injected: DynamoDB is unavailable".into());
        }
        Ok(())
    }
}

/// Fails the next `times` requests of one operation (`"RunTask"`) as a
/// service that did not answer would, retries included: an outage of
/// exactly that call.
#[derive(Debug)]
pub struct FailOperation {
    operation: &'static str,
    left: Mutex<usize>,
}

impl FailOperation {
    /// Fails the next `times` requests of `operation`.
    pub fn new(operation: &'static str, times: usize) -> FailOperation {
        FailOperation {
            operation,
            left: Mutex::new(times),
        }
    }
}

impl Intercept for FailOperation {
    fn name(&self) -> &'static str {
        "FailOperation"
    }

    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        if metadata.name() == self.operation && *left > 0 {
            *left -= 1;
            return Err(format!("injected: {} is unavailable", self.operation).into());
        }
        Ok(())
    }
}
