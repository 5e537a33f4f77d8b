//! Shared capacity: a try of a task with a `pool` (or of a DAG with
//! `max_active_tasks`) takes its slots after it is queued and before its
//! message is sent, and gives them back when it ends, however it ends.
//!
//! A try that finds no free slot waits in the store, not in the queue: it
//! is kept as a waiter of the pool, and admitted (its message sent) when a
//! slot frees, in the order `updraft_core::pools::admit` decides. A try
//! needing two pools takes them in a fixed order (its DAG's limit, then
//! its pool), waiting in one at a time, so no two tries wait on each other.
//!
//! Every step can die half-way: a waiter whose try moved on is forgotten
//! when it is next looked at, a holder whose try ended is given back by
//! the next tick ([`Engine::sweep_pools`]), and a queued try neither
//! holding nor waiting is found by reconcile and queued for its slots again.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use updraft_core::pools::{self, Holder, Waiter, waiting_reason};
use updraft_core::spec::DagSpec;
use updraft_core::state::{Run, TaskInstance, TaskKey, TaskState, TaskTransition};

use super::MAX_ROUNDS;
use crate::events::Event;
use crate::ports::{HandleRef, SlotClaim, TaskMessage};
use crate::{Engine, EngineError, EngineResult};

/// The prefix of the pool that holds a DAG's `max_active_tasks`.
pub const DAG_LIMIT_POOL: &str = "dag:";

/// One pool a try takes slots of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Need {
    pool: String,
    slots: u32,
    /// Known from the spec (a DAG's limit); otherwise the store's size.
    size: Option<u32>,
}

/// The pool that holds a DAG's `max_active_tasks`, if it has one: every
/// try of the DAG takes one slot of it.
fn dag_limit(spec: &DagSpec) -> Option<Need> {
    Some(Need {
        pool: format!("{DAG_LIMIT_POOL}{}", spec.id),
        slots: 1,
        size: Some(spec.max_active_tasks?),
    })
}

/// The pools a task's tries take, in the order they are taken.
pub(crate) fn needs_of(spec: &DagSpec, task_id: &str) -> Vec<Need> {
    let mut needs: Vec<Need> = dag_limit(spec).into_iter().collect();
    if let Some(need) = spec.task(task_id).and_then(|t| t.pool.as_ref()) {
        needs.push(Need {
            pool: need.pool.clone(),
            slots: need.slots,
            size: None,
        });
    }
    needs
}

/// Who a try is to a pool.
pub fn holder_id(dag: &str, run_id: &str, key: &TaskKey, try_number: u32) -> String {
    format!("{dag}/{run_id}/{key}#{try_number}")
}

/// Whether a try may hold slots: it is queued, launching or running.
fn holds_slots(instance: &TaskInstance, try_number: u32) -> bool {
    instance.try_number == try_number
        && matches!(
            instance.state,
            TaskState::Queued | TaskState::Launching | TaskState::Running
        )
}

impl Engine {
    /// Takes the slots a just-queued try needs and sends its message, or
    /// leaves it waiting for them.
    pub(crate) async fn queue_with_capacity(
        &self,
        run: &Run,
        key: &TaskKey,
        try_number: u32,
    ) -> EngineResult<()> {
        let spec = self.spec_of(run).await?;
        let priority = spec.task(key.task_id.as_str()).map_or(0, |t| t.priority);
        let of = HandleRef {
            dag: run.dag.to_string(),
            run_id: run.run_id.clone(),
            key: key.clone(),
            try_number,
        };
        let holder = holder_id(run.dag.as_str(), &run.run_id, key, try_number);
        let store = &self.ports.store;
        for need in needs_of(&spec, key.task_id.as_str()) {
            let claim = SlotClaim {
                pool: need.pool.clone(),
                holder: holder.clone(),
                of: of.clone(),
                slots: need.slots,
                at: self.ports.clock.now(),
                priority,
            };
            let held = store
                .slot_holders(&need.pool)
                .await?
                .iter()
                .any(|h| h.holder == holder);
            if held {
                continue;
            }
            // Others waiting go first, in their order: then only admission
            // hands out slots.
            let size = self.size_of(&need).await?;
            let others_wait = !store.slot_waiters(&need.pool).await?.is_empty();
            if !others_wait
                && let Some(size) = size
                && store.take_slots(&claim, size).await?
            {
                continue;
            }
            store.wait_for_slots(&claim).await?;
            self.emit(Event::WaitingForPool {
                holder: holder.clone(),
                pool: need.pool.clone(),
            });
            // A slot may have freed between the look and the wait.
            Box::pin(self.admit(&need)).await?;
            return Ok(());
        }
        let message = TaskMessage {
            dag: of.dag,
            run_id: of.run_id,
            key: of.key,
            try_number,
        };
        self.ports.queue.send(&message, Duration::ZERO).await?;
        Ok(())
    }

    /// Keeps what `pools.yaml` declares as the pools' declared sizes,
    /// writing only when it changed since this engine last wrote it.
    pub(crate) async fn declare_pools(&self, pools: &BTreeMap<String, u32>) -> EngineResult<()> {
        let unchanged = self
            .declared_pools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            == Some(pools);
        if !unchanged {
            self.ports.store.declare_pools(pools).await?;
            *self
                .declared_pools
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(pools.clone());
        }
        Ok(())
    }

    /// The slots a pool has now: a DAG's limit from its spec, a pool's
    /// from the store (set at run time, else declared); none if unknown.
    async fn size_of(&self, need: &Need) -> EngineResult<Option<u32>> {
        if need.size.is_some() {
            return Ok(need.size);
        }
        let sizes = self.ports.store.pool_sizes().await?;
        Ok(sizes
            .iter()
            .find(|s| s.pool == need.pool)
            .and_then(|s| s.slots()))
    }

    /// Hands a pool's free slots to its waiters, in the order
    /// `updraft_core::pools::admit` decides, and lets each admitted try go
    /// on (to its next pool, or to the queue).
    async fn admit(&self, need: &Need) -> EngineResult<()> {
        let Some(size) = self.size_of(need).await? else {
            return Ok(());
        };
        // Waiters whose try moved on are forgotten as they come up; the
        // slots they would have had go to the next in line.
        for _ in 0..MAX_ROUNDS {
            if !self.admit_once(need, size).await? {
                break;
            }
        }
        Ok(())
    }

    /// One round of [`Engine::admit`]; `true` if it forgot a waiter and
    /// should look again.
    async fn admit_once(&self, need: &Need, size: u32) -> EngineResult<bool> {
        let store = &self.ports.store;
        let holders = store.slot_holders(&need.pool).await?;
        let waiters = store.slot_waiters(&need.pool).await?;
        // A waiter that holds already took its slots and died before it
        // went on: it goes on first.
        let (holding, waiting): (Vec<SlotClaim>, Vec<SlotClaim>) = waiters
            .into_iter()
            .partition(|w| holders.iter().any(|h| h.holder == w.holder));
        let as_holders: Vec<Holder> = holders
            .iter()
            .map(|h| Holder {
                run: run_of(&h.of),
                slots: h.slots,
            })
            .collect();
        let as_waiters: Vec<Waiter> = waiting
            .iter()
            .map(|w| Waiter {
                run: run_of(&w.of),
                slots: w.slots,
                priority: w.priority,
                since: w.at,
                id: w.holder.clone(),
            })
            .collect();
        let admitted = pools::admit(size, &as_holders, &as_waiters);
        let chosen = holding.iter().chain(
            admitted
                .iter()
                .filter_map(|a| waiting.iter().find(|w| w.holder == a.id)),
        );
        let mut forgot = false;
        for waiter in chosen {
            let of = &waiter.of;
            let instance = store.instance(&of.dag, &of.run_id, &of.key).await?;
            if !instance
                .is_some_and(|i| i.state == TaskState::Queued && i.try_number == of.try_number)
            {
                store.stop_waiting(&need.pool, &waiter.holder).await?;
                forgot = true;
                continue;
            }
            if !store.take_slots(waiter, size).await? {
                // Another process admitted meanwhile; the rest waits for
                // the next release.
                return Ok(false);
            }
            store.stop_waiting(&need.pool, &waiter.holder).await?;
            let Some(run) = store.run(&of.dag, &of.run_id).await? else {
                continue;
            };
            self.queue_with_capacity(&run, &of.key, of.try_number)
                .await?;
        }
        Ok(forgot)
    }

    /// Gives back what the try a transition took over held, if it held
    /// anything, and admits the waiters of those pools.
    pub(crate) async fn release_after(
        &self,
        run: &Run,
        change: &TaskTransition,
    ) -> EngineResult<()> {
        let was_active = matches!(
            change.expect_state,
            TaskState::Queued | TaskState::Launching | TaskState::Running
        );
        if !was_active || holds_slots(&change.next, change.expect_try) {
            return Ok(());
        }
        let spec = self.spec_of(run).await?;
        let needs = needs_of(&spec, change.next.key.task_id.as_str());
        let holder = holder_id(
            run.dag.as_str(),
            &run.run_id,
            &change.next.key,
            change.expect_try,
        );
        self.give_back(&needs, &holder).await
    }

    async fn give_back(&self, needs: &[Need], holder: &str) -> EngineResult<()> {
        for need in needs {
            self.ports.store.give_back_slots(&need.pool, holder).await?;
            self.ports.store.stop_waiting(&need.pool, holder).await?;
        }
        for need in needs {
            self.admit(need).await?;
        }
        Ok(())
    }

    /// Why a queued try has not been sent yet, if it waits for a pool.
    pub async fn waiting_for(
        &self,
        run: &Run,
        instance: &TaskInstance,
    ) -> EngineResult<Option<String>> {
        let mut reasons = self
            .waiting_reasons(run, std::slice::from_ref(instance))
            .await?;
        Ok(reasons.remove(&instance.key))
    }

    /// Why each of these queued tries waits, for those waiting for a pool
    /// (each pool read once).
    pub(crate) async fn waiting_reasons(
        &self,
        run: &Run,
        instances: &[TaskInstance],
    ) -> EngineResult<HashMap<TaskKey, String>> {
        let mut reasons = HashMap::new();
        let queued: Vec<&TaskInstance> = instances
            .iter()
            .filter(|i| i.state == TaskState::Queued)
            .collect();
        if queued.is_empty() {
            return Ok(reasons);
        }
        let spec = self.spec_of(run).await?;
        let store = &self.ports.store;
        let mut pools: HashMap<String, (Vec<SlotClaim>, u32, Option<u32>)> = HashMap::new();
        for instance in queued {
            let holder = holder_id(
                run.dag.as_str(),
                &run.run_id,
                &instance.key,
                instance.try_number,
            );
            for need in needs_of(&spec, instance.key.task_id.as_str()) {
                if !pools.contains_key(&need.pool) {
                    let waiting = store.slot_waiters(&need.pool).await?;
                    let holders = store.slot_holders(&need.pool).await?;
                    let used = holders.iter().map(|h| h.slots).sum();
                    let size = self.size_of(&need).await?;
                    pools.insert(need.pool.clone(), (waiting, used, size));
                }
                let (waiting, used, size) = &pools[&need.pool];
                if !waiting.iter().any(|w| w.holder == holder) {
                    continue;
                }
                let reason = match size {
                    Some(size) => waiting_reason(&need.pool, *size, *used),
                    None => format!(
                        "waiting for pool {}: it is not declared in pools.yaml",
                        need.pool
                    ),
                };
                reasons.insert(instance.key.clone(), reason);
                break;
            }
        }
        Ok(reasons)
    }

    /// Gives back the slots of holders whose tries ended without giving
    /// them back (their process died), forgets waiters that no longer
    /// wait, and admits waiters: what a tick does for every pool, so that
    /// a leaked slot is free again by the next tick.
    pub(crate) async fn sweep_pools(&self, specs: &[&DagSpec]) -> EngineResult<()> {
        let store = &self.ports.store;
        let mut needs: Vec<Need> = store
            .pool_sizes()
            .await?
            .into_iter()
            .map(|s| Need {
                pool: s.pool,
                slots: 1,
                size: None,
            })
            .collect();
        needs.extend(specs.iter().filter_map(|spec| dag_limit(spec)));
        for need in &needs {
            for holder in store.slot_holders(&need.pool).await? {
                let of = &holder.of;
                let instance = store.instance(&of.dag, &of.run_id, &of.key).await?;
                if !instance.is_some_and(|i| holds_slots(&i, of.try_number)) {
                    store.give_back_slots(&need.pool, &holder.holder).await?;
                    self.emit(Event::SlotsReclaimed {
                        holder: holder.holder.clone(),
                        pool: need.pool.clone(),
                    });
                }
            }
            self.admit(need).await?;
        }
        Ok(())
    }

    /// A queued try that neither holds nor waits for the slots it needs
    /// (its process died between queueing it and taking them): queued for
    /// its slots again. `true` if it needs slots at all, so reconcile does
    /// not simply send its message again.
    pub(crate) async fn requeue_for_capacity(
        &self,
        run: &Run,
        instance: &TaskInstance,
    ) -> EngineResult<bool> {
        let spec = self.spec_of(run).await?;
        let needs = needs_of(&spec, instance.key.task_id.as_str());
        if needs.is_empty() {
            return Ok(false);
        }
        let holder = holder_id(
            run.dag.as_str(),
            &run.run_id,
            &instance.key,
            instance.try_number,
        );
        let store = &self.ports.store;
        for need in &needs {
            if store
                .slot_waiters(&need.pool)
                .await?
                .iter()
                .any(|w| w.holder == holder)
            {
                return Ok(true);
            }
        }
        // Holding all, or some: queue_with_capacity goes on from there (and
        // sends the message again if it holds all, as reconcile would).
        self.queue_with_capacity(run, &instance.key, instance.try_number)
            .await?;
        Ok(true)
    }
}

/// A pool as `updraft pools` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolReport {
    /// The pool (`dag:<id>` for a DAG's `max_active_tasks`).
    pub pool: String,
    /// Its slots now; none if it is held or waited for but not declared.
    pub slots: Option<u32>,
    /// What `pools.yaml` (or the DAG's spec) declares.
    pub declared: Option<u32>,
    /// What `updraft pools set` set, winning over `declared`.
    pub set: Option<u32>,
    /// The tries holding slots.
    pub holders: Vec<SlotClaim>,
    /// The tries waiting for slots.
    pub waiting: Vec<SlotClaim>,
}

impl PoolReport {
    /// Slots held.
    pub fn used(&self) -> u32 {
        self.holders.iter().map(|h| h.slots).sum()
    }
}

impl Engine {
    /// Every pool and DAG limit: slots, who holds them, who waits.
    pub async fn pools(&self) -> EngineResult<Vec<PoolReport>> {
        let loaded = self.sync_specs().await?;
        let store = &self.ports.store;
        let mut reports: Vec<PoolReport> = store
            .pool_sizes()
            .await?
            .into_iter()
            .map(|s| PoolReport {
                slots: s.slots(),
                pool: s.pool,
                declared: s.declared,
                set: s.set,
                holders: Vec::new(),
                waiting: Vec::new(),
            })
            .collect();
        for limit in loaded.dags.iter().filter_map(|(spec, _)| dag_limit(spec)) {
            reports.push(PoolReport {
                pool: limit.pool,
                slots: limit.size,
                declared: limit.size,
                set: None,
                holders: Vec::new(),
                waiting: Vec::new(),
            });
        }
        for report in &mut reports {
            report.holders = store.slot_holders(&report.pool).await?;
            report.waiting = store.slot_waiters(&report.pool).await?;
            report.waiting.sort_by(|a, b| {
                (std::cmp::Reverse(a.priority), a.at).cmp(&(std::cmp::Reverse(b.priority), b.at))
            });
        }
        reports.sort_by(|a, b| a.pool.cmp(&b.pool));
        Ok(reports)
    }

    /// Changes a pool's slots at run time (`None`: back to what
    /// `pools.yaml` declares); waiters are admitted at once if it grew.
    pub async fn set_pool_slots(&self, pool: &str, slots: Option<u32>) -> EngineResult<()> {
        if pool.starts_with(DAG_LIMIT_POOL) {
            return Err(EngineError::invalid(
                "pool",
                format!("`{pool}` is a DAG's max_active_tasks: change it in the DAG's spec"),
            ));
        }
        if slots == Some(0) {
            return Err(EngineError::invalid(
                "slots",
                "a pool needs at least 1 slot",
            ));
        }
        updraft_core::ids::DagId::parse(pool)
            .map_err(|why| EngineError::invalid("pool", why.replace("DAG id", "pool name")))?;
        self.sync_specs().await?;
        self.ports.store.set_pool_slots(pool, slots).await?;
        let need = Need {
            pool: pool.to_string(),
            slots: 1,
            size: None,
        };
        self.admit(&need).await
    }
}

fn run_of(of: &HandleRef) -> String {
    format!("{}/{}", of.dag, of.run_id)
}
