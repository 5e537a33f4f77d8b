//! Pools: slots held and waited for, and their sizes in SQLite.

use super::*;

#[async_trait]
impl PoolStore for SqliteStore {
    async fn take_slots(&self, claim: &SlotClaim, size: u32) -> PortResult<bool> {
        off_runtime(|| {
            let mut conn = self.0.conn();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db("taking pool slots"))?;
            let (held, used): (bool, i64) = tx
                .query_row(
                    "SELECT COALESCE(SUM(holder = ?2), 0) > 0, COALESCE(SUM(slots), 0) FROM pool_slots WHERE pool = ?1",
                    params![claim.pool, claim.holder],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(db("taking pool slots"))?;
            if held {
                return Ok(true);
            }
            if used + i64::from(claim.slots) > i64::from(size) {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO pool_slots (pool, holder, slots, body) VALUES (?1, ?2, ?3, ?4)",
                params![claim.pool, claim.holder, claim.slots, to_json(claim)?],
            )
            .map_err(db("taking pool slots"))?;
            tx.commit().map_err(db("taking pool slots"))?;
            Ok(true)
        })
    }

    async fn give_back_slots(&self, pool: &str, holder: &str) -> PortResult<()> {
        off_runtime(|| {
            self.0
                .conn()
                .execute(
                    "DELETE FROM pool_slots WHERE pool = ?1 AND holder = ?2",
                    [pool, holder],
                )
                .map_err(db("giving pool slots back"))?;
            Ok(())
        })
    }

    async fn slot_holders(&self, pool: &str) -> PortResult<Vec<SlotClaim>> {
        off_runtime(|| {
            self.bodies(
                "reading pool slots",
                "SELECT body FROM pool_slots WHERE pool = ?1 ORDER BY holder",
                &[pool],
            )
        })
    }

    async fn wait_for_slots(&self, waiter: &SlotClaim) -> PortResult<()> {
        off_runtime(|| {
            self.0
                .conn()
                .execute(
                    "INSERT OR IGNORE INTO pool_waiters (pool, holder, body) VALUES (?1, ?2, ?3)",
                    params![waiter.pool, waiter.holder, to_json(waiter)?],
                )
                .map_err(db("keeping a try waiting for slots"))?;
            Ok(())
        })
    }

    async fn slot_waiters(&self, pool: &str) -> PortResult<Vec<SlotClaim>> {
        off_runtime(|| {
            self.bodies(
                "reading the tries waiting for slots",
                "SELECT body FROM pool_waiters WHERE pool = ?1 ORDER BY holder",
                &[pool],
            )
        })
    }

    async fn stop_waiting(&self, pool: &str, holder: &str) -> PortResult<()> {
        off_runtime(|| {
            self.0
                .conn()
                .execute(
                    "DELETE FROM pool_waiters WHERE pool = ?1 AND holder = ?2",
                    [pool, holder],
                )
                .map_err(db("forgetting a waiting try"))?;
            Ok(())
        })
    }

    async fn declare_pools(&self, declared: &BTreeMap<String, u32>) -> PortResult<()> {
        off_runtime(|| {
            let mut conn = self.0.conn();
            let tx = conn.transaction().map_err(db("declaring pools"))?;
            tx.execute("UPDATE pool_sizes SET declared = NULL", [])
                .map_err(db("declaring pools"))?;
            for (pool, slots) in declared {
                tx.execute(
                    "INSERT INTO pool_sizes (pool, declared) VALUES (?1, ?2)
                     ON CONFLICT (pool) DO UPDATE SET declared = excluded.declared",
                    params![pool, slots],
                )
                .map_err(db("declaring pools"))?;
            }
            tx.commit().map_err(db("declaring pools"))?;
            Ok(())
        })
    }

    async fn set_pool_slots(&self, pool: &str, slots: Option<u32>) -> PortResult<()> {
        off_runtime(|| {
            self.0
                .conn()
                .execute(
                    "INSERT INTO pool_sizes (pool, slots_set) VALUES (?1, ?2)
                     ON CONFLICT (pool) DO UPDATE SET slots_set = excluded.slots_set",
                    params![pool, slots],
                )
                .map_err(db("setting a pool's slots"))?;
            Ok(())
        })
    }

    async fn pool_sizes(&self) -> PortResult<Vec<PoolSize>> {
        off_runtime(|| {
            let conn = self.0.conn();
            let mut statement = conn
                .prepare_cached(
                    "SELECT pool, declared, slots_set FROM pool_sizes
                     WHERE declared IS NOT NULL OR slots_set IS NOT NULL ORDER BY pool",
                )
                .map_err(db("reading pools"))?;
            let sizes = statement
                .query_map([], |r| {
                    Ok(PoolSize {
                        pool: r.get(0)?,
                        declared: r.get(1)?,
                        set: r.get(2)?,
                    })
                })
                .and_then(Iterator::collect)
                .map_err(db("reading pools"))?;
            Ok(sizes)
        })
    }
}
