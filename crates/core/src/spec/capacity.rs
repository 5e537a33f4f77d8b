//! `pool`, `pool_slots` and `priority`: what a task takes of shared
//! capacity. Each may be written on the task, on its compute profile or
//! under `defaults`; each key is taken from the first of those that
//! writes it.

use crate::spec::PoolNeed;
use crate::spec::read::{Fields, Reader};
use crate::yaml::Pos;

/// The keys as written at one level.
#[derive(Clone, Debug, Default)]
pub(super) struct CapacityKeys {
    pool: Option<(String, Pos)>,
    pool_slots: Option<(u32, Pos)>,
    priority: Option<i32>,
}

impl CapacityKeys {
    /// Reads the keys of one level.
    pub(super) fn read(reader: &mut Reader<'_>, fields: &Fields<'_>) -> CapacityKeys {
        let pool = fields.get("pool").and_then(|node| {
            let name = reader.string(node, "`pool`")?;
            Some((name, node.pos))
        });
        let pool_slots =
            fields
                .get("pool_slots")
                .and_then(|node| match reader.count(node, "`pool_slots`") {
                    Some(0) => {
                        reader.error(node.pos, "`pool_slots` must be at least 1");
                        None
                    }
                    other => other.map(|n| (n, node.pos)),
                });
        let priority = fields.get("priority").and_then(|node| {
            let n = reader.number(node, "`priority`")?;
            if n.fract() != 0.0 || n.abs() > 1e9 {
                reader.error(
                    node.pos,
                    "`priority` must be a whole number (higher goes first; default 0)",
                );
                return None;
            }
            Some(n as i32)
        });
        CapacityKeys {
            pool,
            pool_slots,
            priority,
        }
    }

    /// These keys, each falling back to `base`'s where not written.
    pub(super) fn over(&self, base: &CapacityKeys) -> CapacityKeys {
        CapacityKeys {
            pool: self.pool.clone().or_else(|| base.pool.clone()),
            pool_slots: self.pool_slots.or(base.pool_slots),
            priority: self.priority.or(base.priority),
        }
    }

    /// The pool a task takes and its priority; `pool_slots` without a pool
    /// is an error.
    pub(super) fn resolve(&self, reader: &mut Reader<'_>) -> (Option<PoolNeed>, i32) {
        let need = match (&self.pool, self.pool_slots) {
            (Some((pool, pos)), slots) => Some(PoolNeed {
                pool: pool.clone(),
                slots: slots.map_or(1, |(n, _)| n),
                pos: *pos,
            }),
            (None, Some((_, pos))) => {
                reader.error(
                    pos,
                    "`pool_slots` needs a `pool` (on the task, its compute profile or `defaults`)",
                );
                None
            }
            (None, None) => None,
        };
        (need, self.priority.unwrap_or(0))
    }
}
