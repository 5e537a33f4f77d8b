//! Shared capacity: named pools of slots that tries take before they
//! launch and give back when they end. Which waiting tries get the slots
//! that are free is decided here, purely: higher `priority` first; among
//! equal priorities the run holding the fewest of the pool's slots, so a
//! huge fan-out of one run cannot hold back another run's single task for
//! longer than one slot's turnover; then the longest waiting.
//!
//! The order is strict: when the best waiting try needs more slots than
//! are free, none behind it is admitted, so a try needing many slots is
//! never starved by a stream of small ones.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// A try that holds slots of a pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The run it belongs to (`dag/run_id`): fairness is across runs.
    pub run: String,
    /// How many slots it holds.
    pub slots: u32,
}

/// A try waiting for slots of a pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiter {
    /// The run it belongs to (`dag/run_id`).
    pub run: String,
    /// How many slots it needs (its task's `pool_slots`).
    pub slots: u32,
    /// Its task's `priority`.
    pub priority: i32,
    /// Since when it waits.
    pub since: DateTime<Utc>,
    /// Tells waiters apart when all else is equal (`task[index]#try`).
    pub id: String,
}

/// Why a try cannot take slots now, for `show` and the dashboard.
pub fn waiting_reason(pool: &str, size: u32, used: u32) -> String {
    format!("waiting for pool {pool}: {used} of {size} slots used")
}

/// The waiters to admit now, in the order they take their slots, given a
/// pool of `size` slots and what `holders` hold. A waiter needing more
/// slots than the pool has is never admitted (validation refuses such
/// specs; a pool made smaller at run time leaves them waiting).
pub fn admit<'w>(size: u32, holders: &[Holder], waiting: &'w [Waiter]) -> Vec<&'w Waiter> {
    let mut used: u32 = holders.iter().map(|h| h.slots).sum();
    let mut held: BTreeMap<&str, u32> = BTreeMap::new();
    for holder in holders {
        *held.entry(holder.run.as_str()).or_default() += holder.slots;
    }
    let mut left: Vec<&Waiter> = waiting.iter().collect();
    let mut admitted = Vec::new();
    while !left.is_empty() {
        let best = (0..left.len())
            .min_by_key(|&i| {
                let w = left[i];
                let runs_share = held.get(w.run.as_str()).copied().unwrap_or(0);
                (std::cmp::Reverse(w.priority), runs_share, w.since, &w.id)
            })
            .unwrap_or(0);
        let waiter = left[best];
        if used.saturating_add(waiter.slots) > size {
            break;
        }
        used += waiter.slots;
        *held.entry(waiter.run.as_str()).or_default() += waiter.slots;
        admitted.push(waiter);
        left.swap_remove(best);
    }
    admitted
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use proptest::prelude::*;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::seconds(seconds)
    }

    fn waiter(run: &str, id: &str, priority: i32, slots: u32, since: i64) -> Waiter {
        Waiter {
            run: run.into(),
            slots,
            priority,
            since: t(since),
            id: id.into(),
        }
    }

    fn ids(admitted: &[&Waiter]) -> Vec<String> {
        admitted.iter().map(|w| w.id.clone()).collect()
    }

    #[test]
    fn higher_priority_first_then_the_run_holding_least_then_the_oldest() {
        let holders = vec![Holder {
            run: "fanout".into(),
            slots: 1,
        }];
        let waiting = vec![
            waiter("fanout", "f1", 0, 1, 0),
            waiter("fanout", "f2", 0, 1, 1),
            waiter("nightly", "n1", 0, 1, 5),
            waiter("urgent", "u1", 10, 1, 9),
        ];
        assert_eq!(ids(&admit(3, &holders, &waiting)), ["u1", "n1"]);
        assert_eq!(ids(&admit(4, &holders, &waiting)), ["u1", "n1", "f1"]);
    }

    #[test]
    fn a_try_needing_more_than_is_free_holds_back_those_behind_it() {
        let waiting = vec![waiter("a", "big", 5, 2, 0), waiter("b", "small", 0, 1, 0)];
        let holders = vec![Holder {
            run: "c".into(),
            slots: 1,
        }];
        assert!(
            admit(2, &holders, &waiting).is_empty(),
            "no small one jumps it"
        );
        assert_eq!(ids(&admit(3, &holders, &waiting)), ["big"]);
        assert!(admit(1, &[], &[waiter("a", "huge", 0, 2, 0)]).is_empty());
    }

    #[test]
    fn the_reason_says_how_full_the_pool_is() {
        assert_eq!(
            waiting_reason("gpu", 2, 2),
            "waiting for pool gpu: 2 of 2 slots used"
        );
    }

    fn random_waiters() -> impl Strategy<Value = Vec<Waiter>> {
        prop::collection::vec((0usize..4, -2i32..3, 1u32..3, 0i64..50), 0..40).prop_map(|ws| {
            ws.into_iter()
                .enumerate()
                .map(|(i, (run, priority, slots, since))| {
                    waiter(&format!("r{run}"), &format!("w{i}"), priority, slots, since)
                })
                .collect()
        })
    }

    proptest! {
        /// Slots in use never pass the pool's size; every admitted waiter
        /// comes, by priority, before every one left waiting.
        #[test]
        fn admission_never_overbooks_and_honours_priority(
            size in 1u32..6,
            held in prop::collection::vec((0usize..4, 1u32..3), 0..4),
            waiting in random_waiters(),
        ) {
            let mut holders = Vec::new();
            let mut used = 0;
            for (run, slots) in held {
                if used + slots <= size {
                    used += slots;
                    holders.push(Holder { run: format!("r{run}"), slots });
                }
            }
            let admitted = admit(size, &holders, &waiting);
            let taken: u32 = admitted.iter().map(|w| w.slots).sum();
            prop_assert!(used + taken <= size);
            let lowest_admitted = admitted.iter().map(|w| w.priority).min();
            for left in waiting.iter().filter(|w| !admitted.iter().any(|a| a.id == w.id)) {
                if let Some(lowest) = lowest_admitted {
                    prop_assert!(left.priority <= lowest, "{} waits behind a lower priority", left.id);
                }
            }
        }

        /// Slots that free up as tries end, in any order, eventually admit
        /// every waiter that fits the pool at all.
        #[test]
        fn every_waiter_that_fits_eventually_runs(
            size in 1u32..5,
            waiting in random_waiters(),
            ends in prop::collection::vec(any::<prop::sample::Index>(), 0..200),
        ) {
            let mut waiting: Vec<Waiter> = waiting.into_iter().filter(|w| w.slots <= size).collect();
            let total = waiting.len();
            let mut holding: Vec<Waiter> = Vec::new();
            let mut ran = 0;
            let mut ends = ends.into_iter();
            for _ in 0..(total * 2 + 2) {
                let holders: Vec<Holder> = holding
                    .iter()
                    .map(|w| Holder { run: w.run.clone(), slots: w.slots })
                    .collect();
                let admitted: Vec<String> = ids(&admit(size, &holders, &waiting));
                let used: u32 = holding.iter().map(|w| w.slots).sum();
                prop_assert!(used <= size);
                for id in admitted {
                    let at = waiting.iter().position(|w| w.id == id).unwrap();
                    holding.push(waiting.remove(at));
                    ran += 1;
                }
                if holding.is_empty() {
                    break;
                }
                // One try ends: a random one, or the oldest.
                let which = ends.next().map_or(0, |i| i.index(holding.len()));
                holding.remove(which);
            }
            prop_assert_eq!(ran, total, "some waiter never ran");
        }
    }

    /// A fan-out of one run beside one task of another: the single task
    /// takes the next slot that frees.
    #[test]
    fn a_huge_fan_out_holds_back_another_runs_task_for_one_turnover_at_most() {
        let mut waiting: Vec<Waiter> = (0..1000)
            .map(|i| waiter("fanout", &format!("f{i:04}"), 0, 1, 0))
            .collect();
        let mut holding: Vec<Waiter> = ids(&admit(4, &[], &waiting))
            .into_iter()
            .map(|id| {
                let at = waiting.iter().position(|w| w.id == id).unwrap();
                waiting.remove(at)
            })
            .collect();
        assert_eq!(holding.len(), 4);
        waiting.push(waiter("nightly", "n", 0, 1, 100));
        holding.remove(0);
        let holders: Vec<Holder> = holding
            .iter()
            .map(|w| Holder {
                run: w.run.clone(),
                slots: 1,
            })
            .collect();
        assert_eq!(ids(&admit(4, &holders, &waiting)), ["n"]);
    }
}
