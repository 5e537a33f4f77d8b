//! Every crash point of every use case, over any store: the N-th request a
//! use case makes
//! to its store, queue or launcher fails, for every N up to the number it
//! makes, once as an error and once as the process dying right after it.
//! Then, as on a real deployment, messages are delivered again, events
//! arrive again and ticks run, until nothing moves. Each time, every run
//! ends, no try is left running or started without a record, no task
//! instance stays in flight, no two tries of one instance run at once, no
//! retry is used up by the fault, and every state the run went through was
//! published.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use updraft_core::ids::TaskId;
use updraft_core::plan::Rerun;
use updraft_core::state::{RunState, TaskState};

use super::faults::{Fault, Faults};
use super::world::World;
use crate::ports::{Clock, Completion, StateStore, TaskQueue};
use crate::usecase::{RunRequest, Settled};
use crate::{Engine, Settings};

/// A fan-out with a join: a, then b, c and the three instances of m, then
/// e. Every try of a, b, c and e takes the one slot of pool `gpu`, so b or
/// c waits for the other; m's instances take none, so they are queued
/// together (one batch).
const SPEC: &str = "dag: d\ndefaults: { retries: 1, retry_delay: 0s, timeout: 1h }\ntasks:\n  - id: a\n    pool: gpu\n    command: [x]\n  - id: b\n    after: [a]\n    pool: gpu\n    command: [x]\n  - id: c\n    after: [a]\n    pool: gpu\n    command: [x]\n  - id: m\n    after: [a]\n    map_over: [1, 2, 3]\n    command: [x]\n  - id: e\n    after: [b, c, m]\n    pool: gpu\n    command: [x]\n";

/// The task whose tries take no slot of the pool.
const UNPOOLED: &str = "m";

const POOLS: &str = "pools:\n  gpu: 1\n";

fn settings() -> Settings {
    Settings {
        reconcile_after: Duration::from_secs(60),
        relaunch_after: Duration::from_secs(60),
        resend_after: Duration::from_secs(60),
        redelivery_backoff: Duration::ZERO,
        ..Settings::default()
    }
}

fn succeeded() -> Completion {
    Completion {
        outcome: updraft_core::plan::Outcome::Succeeded,
        exit_code: Some(0),
    }
}

/// Delivers every visible message once; `false` if there was none.
async fn deliver(world: &World, engine: &Engine) -> bool {
    let deliveries = world.queue.receive(10).await.unwrap();
    let any = !deliveries.is_empty();
    for delivery in deliveries {
        match engine
            .settle(&delivery.message, delivery.receive_count)
            .await
        {
            Ok(Settled::Done | Settled::GaveUp(_)) => world.queue.ack(&delivery).await.unwrap(),
            // Delivered again (the faulty world's queue shows it at once).
            Ok(Settled::Again(_)) | Err(_) => {}
        }
    }
    any
}

/// Ends every running try that still counts (its instance is in flight at
/// that try) well, telling the engine as the recorder would; an end the
/// engine could not take is told again next time. A try that no longer
/// counts runs on, as a stranded container would, until the engine stops
/// it. Returns how many tries of the pool that count were running at once.
async fn finish_running(world: &World) -> usize {
    let mut counting = Vec::new();
    let mut of_the_pool = 0;
    for handle in world.launcher.running() {
        let Some(at) = world.store.handle(&handle).await.unwrap() else {
            continue;
        };
        let instance = world
            .store
            .instance(&at.dag, &at.run_id, &at.key)
            .await
            .unwrap();
        let counts = instance.is_some_and(|i| i.state.is_active() && i.try_number == at.try_number);
        if counts {
            of_the_pool += usize::from(at.key.task_id.as_str() != UNPOOLED);
            counting.push(handle);
        }
    }
    let at_once = of_the_pool;
    for handle in counting {
        if world
            .engine
            .record_handle(&handle, succeeded())
            .await
            .is_ok()
        {
            world.launcher.end(&handle);
        }
    }
    at_once
}

/// What a deployment does after a fault, until nothing moves: deliveries,
/// events, ticks a few minutes apart. Returns the most tries that count
/// that ran at once.
async fn recover(world: &World) -> usize {
    let mut most = 0;
    for _ in 0..60 {
        while deliver(world, &world.engine).await {}
        most = most.max(finish_running(world).await);
        while deliver(world, &world.engine).await {}
        let runs = world.store.runs(&Default::default()).await.unwrap();
        let quiet = world.queue.receive(1).await.unwrap().is_empty();
        if quiet
            && world.launcher.running().is_empty()
            && runs.iter().all(|r| r.state.is_terminal())
            && world.store.outbox(1).await.unwrap().is_empty()
        {
            return most;
        }
        let later = world.clock.now() + TimeDelta::minutes(2);
        world.clock.set(later);
        let _ = world.engine.tick().await;
    }
    most
}

/// What the crash points came to.
#[derive(Default, Debug)]
pub struct Tally {
    /// Crash points tried.
    pub points: usize,
    /// Tries started while another try of the same instance ran.
    pub double_launches: usize,
    /// Tries started that have no record with their handle.
    pub lost: usize,
    /// Tries still running after recovery.
    pub stranded: usize,
    /// Retries a fault used up.
    pub retries_used: usize,
    /// Pool slots still held after recovery.
    pub leaked_slots: usize,
    /// Times more tries of the pool ran at once than it has slots.
    pub over_booked: usize,
    /// Every violation, saying where.
    pub violations: Vec<String>,
}

impl Tally {
    /// Prints the figures and fails the test on any violation, or if too
    /// few crash points were tried to mean anything.
    pub fn assert_clean(&self) {
        println!(
            "crash points: {}, double launches: {}, lost: {}, stranded: {}, retries used: {}, slots leaked: {}, over-booked: {}",
            self.points,
            self.double_launches,
            self.lost,
            self.stranded,
            self.retries_used,
            self.leaked_slots,
            self.over_booked
        );
        assert!(self.violations.is_empty(), "{:#?}", self.violations);
        assert_eq!((self.double_launches, self.lost, self.stranded), (0, 0, 0));
        assert_eq!((self.leaked_slots, self.over_booked), (0, 0));
        assert!(self.points > 100, "{} crash points", self.points);
    }
}

/// Checks one world after recovery; `expected` is the state every run
/// must end in.
async fn check(world: &World, expected: RunState, what: &str, tally: &mut Tally) {
    let store = &world.store;
    tally.double_launches += world.launcher.overlaps();
    tally.stranded += world.launcher.running().len();
    let launched = world.launcher.launches();
    let published = world.bus.published();
    // No slot left held or waited for once every run ended.
    let holders = store.slot_holders("gpu").await.unwrap();
    let waiters = store.slot_waiters("gpu").await.unwrap();
    if !holders.is_empty() || !waiters.is_empty() {
        tally.leaked_slots += holders.len();
        tally.violations.push(format!(
            "{what}: pool gpu still held by {:?}, waited for by {:?}",
            holders.iter().map(|h| &h.holder).collect::<Vec<_>>(),
            waiters.iter().map(|w| &w.holder).collect::<Vec<_>>()
        ));
    }
    for run in store.runs(&Default::default()).await.unwrap() {
        for state in [RunState::Queued, RunState::Running, run.state] {
            let told = published.iter().any(|n| {
                n.detail["run_id"] == run.run_id.as_str() && n.detail["state"] == state.as_str()
            });
            if !told {
                tally.violations.push(format!(
                    "{what}: no event told that run {} was {state}",
                    run.run_id
                ));
            }
        }
        if run.state != expected {
            tally
                .violations
                .push(format!("{what}: run {} is {}", run.run_id, run.state));
        }
        let attempts = store.attempts("d", &run.run_id).await.unwrap();
        for instance in store.instances("d", &run.run_id).await.unwrap() {
            if instance.state.is_active() || instance.state == TaskState::Queued {
                tally.violations.push(format!(
                    "{what}: {} of {} is {}",
                    instance.key, run.run_id, instance.state
                ));
            }
            if expected == RunState::Succeeded && instance.try_number > instance.first_try {
                tally.retries_used += 1;
                tally.violations.push(format!(
                    "{what}: {} of {} used a retry ({:?})",
                    instance.key, run.run_id, instance.reason
                ));
            }
        }
        // Every started try has its record, with its handle.
        for handle in launched.keys().filter(|h| h.starts_with(&run.run_id)) {
            if !attempts.iter().any(|a| a.handle.as_deref() == Some(handle)) {
                tally.lost += 1;
                tally
                    .violations
                    .push(format!("{what}: {handle} has no record"));
            }
        }
    }
}

/// How a person answers a use case that failed.
#[derive(Clone, Copy, PartialEq)]
enum Then {
    /// Leaves it (the scheduler and the recorder retry on their own).
    Leave,
    /// Asks again.
    AskAgain,
}

/// Runs `setup`, then `case` under every crash point, recovering and
/// checking after each.
async fn every_crash_point<S, C>(
    name: &str,
    (expected, then): (RunState, Then),
    (fresh, tally): (&FreshStore<'_>, &mut Tally),
    setup: S,
    case: C,
) where
    S: AsyncFn(&World) -> String,
    C: AsyncFn(&World, &str),
{
    for fault in [Fault::Error, Fault::Crash] {
        for n in 1.. {
            let faults = Faults::default();
            let world = World::with_faults(&[POOLS, SPEC], fresh(&faults), settings(), &faults);
            let run_id = setup(&world).await;
            faults.arm(n, fault);
            case(&world, &run_id).await;
            let (requests, hit) = faults.disarm();
            if !hit {
                assert!(n > 1, "{name} made no request at all");
                break;
            }
            assert!(requests >= n);
            tally.points += 1;
            let step = faults.log()[n - 1].clone();
            if then == Then::AskAgain {
                case(&world, &run_id).await;
            }
            let at_once = recover(&world).await;
            let what = format!("{name}, {fault:?} at request {n} ({step})");
            if at_once > 1 {
                tally.over_booked += 1;
                tally.violations.push(format!(
                    "{what}: {at_once} tries of a pool of 1 ran at once"
                ));
            }
            check(&world, expected, &what, tally).await;
        }
    }
}

/// Triggers a run; returns its id.
async fn triggered(world: &World) -> String {
    let run = world
        .engine
        .trigger("d", RunRequest::by("tester"))
        .await
        .unwrap();
    run.run_id
}

/// Triggers a run and launches `a`; returns the run id.
async fn a_running(world: &World) -> String {
    let run_id = triggered(world).await;
    while deliver(world, &world.engine).await {}
    assert_eq!(world.launcher.running().len(), 1);
    run_id
}

/// Makes an empty store and the same store failing as the faults say
/// (a [`FaultyStore`](super::FaultyStore) around it, or a client whose
/// requests an SDK interceptor fails).
pub type FreshStore<'a> = dyn Fn(&Faults) -> (Arc<dyn StateStore>, Arc<dyn StateStore>) + 'a;

/// A use case whose crash points are tried, so a slow store can share them
/// out between tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UseCase {
    /// A manual run made.
    Trigger,
    /// A queued try launched.
    Dispatch,
    /// A try's end recorded.
    Record,
    /// The minute tick, finding an end whose event was lost.
    Tick,
    /// A task rerun with its downstream.
    Rerun,
    /// A running run cancelled.
    Cancel,
}

impl UseCase {
    /// Every use case, in the order a run meets them.
    pub const ALL: [UseCase; 6] = [
        UseCase::Trigger,
        UseCase::Dispatch,
        UseCase::Record,
        UseCase::Tick,
        UseCase::Rerun,
        UseCase::Cancel,
    ];
}

/// Tries every crash point of trigger, dispatch, record, tick, rerun and
/// cancel, each on a world over a fresh store from `fresh`.
pub async fn every_crash_point_of_every_use_case(fresh: &FreshStore<'_>) -> Tally {
    every_crash_point_of(&UseCase::ALL, fresh).await
}

/// Tries every crash point of the given use cases, each on a world over a
/// fresh store from `fresh`.
pub async fn every_crash_point_of(use_cases: &[UseCase], fresh: &FreshStore<'_>) -> Tally {
    let mut tally = Tally::default();
    for use_case in use_cases {
        crash_points_of(*use_case, fresh, &mut tally).await;
    }
    tally
}

async fn crash_points_of(use_case: UseCase, fresh: &FreshStore<'_>, tally: &mut Tally) {
    let ends_well = (RunState::Succeeded, Then::Leave);
    match use_case {
        UseCase::Trigger => {
            every_crash_point(
                "trigger",
                ends_well,
                (fresh, tally),
                async |_| String::new(),
                async |world, _| {
                    let _ = world.engine.trigger("d", RunRequest::by("tester")).await;
                },
            )
            .await;
        }
        UseCase::Dispatch => {
            every_crash_point(
                "dispatch",
                ends_well,
                (fresh, tally),
                triggered,
                async |world, _| {
                    let delivery = world.queue.receive(1).await.unwrap().remove(0);
                    let _ = world
                        .engine
                        .settle(&delivery.message, delivery.receive_count)
                        .await;
                },
            )
            .await;
        }
        UseCase::Record => {
            every_crash_point(
                "record",
                ends_well,
                (fresh, tally),
                a_running,
                async |world, _| {
                    let handle = world.launcher.running().into_iter().next().unwrap();
                    world.launcher.end(&handle);
                    let _ = world.engine.record_handle(&handle, succeeded()).await;
                },
            )
            .await;
        }
        UseCase::Tick => {
            every_crash_point(
                "tick",
                ends_well,
                (fresh, tally),
                async |world| {
                    // a ran and ended, but its event was lost: the tick finds out.
                    let run_id = a_running(world).await;
                    let handle = world.launcher.running().into_iter().next().unwrap();
                    world.launcher.end(&handle);
                    world.clock.set(world.clock.now() + TimeDelta::minutes(2));
                    run_id
                },
                async |world, _| {
                    let _ = world.engine.tick().await;
                },
            )
            .await;
        }
        UseCase::Rerun => {
            every_crash_point(
                "rerun",
                (RunState::Succeeded, Then::AskAgain),
                (fresh, tally),
                async |world| {
                    let run_id = a_running(world).await;
                    finish_running(world).await;
                    recover(world).await;
                    run_id
                },
                async |world, run_id| {
                    let request = Rerun {
                        tasks: vec![TaskId::parse("b").unwrap()],
                        downstream: true,
                        ..Rerun::default()
                    };
                    let _ = world
                        .engine
                        .rerun("d", run_id, &request, "tester", None)
                        .await;
                },
            )
            .await;
        }
        UseCase::Cancel => {
            every_crash_point(
                "cancel",
                (RunState::Cancelled, Then::AskAgain),
                (fresh, tally),
                a_running,
                async |world, run_id| {
                    let _ = world.engine.cancel("d", run_id, "tester", None).await;
                },
            )
            .await;
        }
    }
}
