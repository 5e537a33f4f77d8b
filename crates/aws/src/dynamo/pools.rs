//! Pools: slots held and waited for, and their sizes in DynamoDB.

use super::*;

#[async_trait]
impl PoolStore for DynamoStore {
    async fn take_slots(&self, claim: &SlotClaim, size: u32) -> PortResult<bool> {
        let Some(room) = size.checked_sub(claim.slots) else {
            return Ok(false);
        };
        // Each refusal with room left means another taker got a slot, so
        // this ends within the pool's size (and one round to make its item).
        for _ in 0..=size as usize + 1 {
            let value = to_attribute_value(claim)
                .map_err(|e| PortError::new("encoding a slot claim", e))?;
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(PK, s(keys::POOLS))
                .key(SK, s(claim.pool.clone()))
                .update_expression("SET used = used + :n, holders.#h = :claim")
                .condition_expression(
                    "attribute_exists(holders) AND used <= :room AND attribute_not_exists(holders.#h)",
                )
                .expression_attribute_names("#h", claim.holder.clone())
                .expression_attribute_values(":n", AttributeValue::N(claim.slots.to_string()))
                .expression_attribute_values(":room", AttributeValue::N(room.to_string()))
                .expression_attribute_values(":claim", value)
                .send()
                .await;
            match result {
                Ok(_) => return Ok(true),
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(fail("DynamoDB UpdateItem")(e)),
            }
            // Full, held already, taken by another meanwhile, or the
            // pool's item not made yet.
            match self.pool_item(&claim.pool).await? {
                Some(holders) if holders.iter().any(|h| h.holder == claim.holder) => {
                    return Ok(true);
                }
                Some(holders) => {
                    let used: u32 = holders.iter().map(|h| h.slots).sum();
                    if used > room {
                        return Ok(false);
                    }
                }
                None => {
                    let empty = Item::from([
                        (PK.to_string(), s(keys::POOLS)),
                        (SK.to_string(), s(claim.pool.clone())),
                        ("item_type".to_string(), s("pool")),
                        ("used".to_string(), AttributeValue::N("0".into())),
                        ("holders".to_string(), AttributeValue::M(HashMap::new())),
                    ]);
                    self.put_new(empty).await?;
                }
            }
        }
        Ok(false)
    }

    async fn give_back_slots(&self, pool: &str, holder: &str) -> PortResult<()> {
        let Some(holders) = self.pool_item(pool).await? else {
            return Ok(());
        };
        let Some(held) = holders.iter().find(|h| h.holder == holder) else {
            return Ok(());
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(keys::POOLS))
            .key(SK, s(pool))
            .update_expression("SET used = used - :n REMOVE holders.#h")
            .condition_expression("attribute_exists(holders.#h)")
            .expression_attribute_names("#h", holder)
            .expression_attribute_values(":n", AttributeValue::N(held.slots.to_string()))
            .send()
            .await;
        match result {
            // Given back by another caller meanwhile: nothing to do.
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(fail("DynamoDB UpdateItem")(e)),
        }
    }

    async fn slot_holders(&self, pool: &str) -> PortResult<Vec<SlotClaim>> {
        Ok(self.pool_item(pool).await?.unwrap_or_default())
    }

    async fn wait_for_slots(&self, waiter: &SlotClaim) -> PortResult<()> {
        let pk = keys::pool_wait_pk(&waiter.pool);
        let item = encode(waiter, pk, waiter.holder.clone(), "slot_waiter")?;
        self.put_new(item).await.map(drop)
    }

    async fn slot_waiters(&self, pool: &str) -> PortResult<Vec<SlotClaim>> {
        self.query_prefix(keys::pool_wait_pk(pool), "", false)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn stop_waiting(&self, pool: &str, holder: &str) -> PortResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(keys::pool_wait_pk(pool)))
            .key(SK, s(holder))
            .send()
            .await
            .map_err(fail("DynamoDB DeleteItem"))?;
        Ok(())
    }

    async fn declare_pools(&self, declared: &BTreeMap<String, u32>) -> PortResult<()> {
        for size in self.pool_sizes().await? {
            if size.declared.is_some() && !declared.contains_key(&size.pool) {
                self.set_pool_size(&size.pool, "declared", None).await?;
            }
        }
        for (pool, &slots) in declared {
            self.set_pool_size(pool, "declared", Some(slots)).await?;
        }
        Ok(())
    }

    async fn set_pool_slots(&self, pool: &str, slots: Option<u32>) -> PortResult<()> {
        self.set_pool_size(pool, "slots_set", slots).await
    }

    async fn pool_sizes(&self) -> PortResult<Vec<PoolSize>> {
        let number = |item: &Item, name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u32>().ok())
        };
        let items = self.query_prefix(keys::POOLS.into(), "", false).await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let size = PoolSize {
                    pool: item.get(SK)?.as_s().ok()?.clone(),
                    declared: number(item, "declared"),
                    set: number(item, "slots_set"),
                };
                size.slots().map(|_| size)
            })
            .collect())
    }
}
