//! End-to-end tests of local mode: the real `updraft` binary on a temporary
//! spec and state directory. One module per area.

mod airflow_examples;
mod authoring;
mod control_flow;
mod dev_loop;
mod doctor;
mod errors;
mod events;
mod examples;
mod experiments;
mod hardening;
mod mapping;
mod pools;
mod quoting;
mod reruns;
mod retention;
mod scheduling;
mod triggers;
