//! Stops and events left for the next tick, and the tick's heartbeat in DynamoDB.

use super::*;

#[async_trait]
impl LeftoverStore for DynamoStore {
    async fn put_stop(&self, stop: &PendingStop) -> PortResult<()> {
        let item = encode(stop, keys::STOPS.into(), stop.handle.clone(), "stop")?;
        self.put_new(item).await.map(drop)
    }

    async fn stops(&self) -> PortResult<Vec<PendingStop>> {
        self.query_prefix(keys::STOPS.into(), "", false)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn clear_stop(&self, handle: &str) -> PortResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(keys::STOPS))
            .key(SK, s(handle))
            .send()
            .await
            .map_err(fail("DynamoDB DeleteItem"))?;
        Ok(())
    }

    async fn outbox(&self, limit: usize) -> PortResult<Vec<Notice>> {
        let mut notices = self
            .query_prefix(keys::OUTBOX.into(), "", false)
            .await?
            .into_iter()
            .map(|item| {
                let body = item.get("body").and_then(|b| b.as_s().ok());
                let body = body.ok_or_else(|| PortError::msg("an outbox item without a body"))?;
                serde_json::from_str::<Notice>(body)
                    .map_err(|e| PortError::new("decoding a kept event", e))
            })
            .collect::<PortResult<Vec<_>>>()?;
        notices.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        notices.truncate(limit);
        Ok(notices)
    }

    async fn clear_outbox(&self, ids: &[String]) -> PortResult<()> {
        for id in ids {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key(PK, s(keys::OUTBOX))
                .key(SK, s(id.clone()))
                .send()
                .await
                .map_err(fail("DynamoDB DeleteItem"))?;
        }
        Ok(())
    }

    async fn note_tick(&self, at: DateTime<Utc>) -> PortResult<()> {
        // RFC 3339 in UTC with fixed digits: later times compare greater.
        let at = at.to_rfc3339_opts(SecondsFormat::Millis, true);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(keys::PLANNER))
            .key(SK, s(keys::HEARTBEAT))
            .update_expression("SET ticked_at = :at")
            .condition_expression("attribute_not_exists(ticked_at) OR ticked_at < :at")
            .expression_attribute_values(":at", s(at))
            .send()
            .await;
        match result {
            Err(e) if is_condition_failure(&e) => Ok(()),
            other => other.map(|_| ()).map_err(fail("DynamoDB UpdateItem")),
        }
    }

    async fn last_tick(&self) -> PortResult<Option<DateTime<Utc>>> {
        let item = self
            .get(keys::PLANNER.into(), keys::HEARTBEAT.into())
            .await?;
        Ok(item
            .as_ref()
            .and_then(|i| i.get("ticked_at"))
            .and_then(|v| v.as_s().ok())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)))
    }
}
