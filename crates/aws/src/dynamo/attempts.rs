//! Tries and launch handles, and recording a launch or an end in DynamoDB.

use super::*;

#[async_trait]
impl AttemptStore for DynamoStore {
    async fn put_attempt(&self, dag: &str, run_id: &str, attempt: &Attempt) -> PortResult<()> {
        let expiry = self.expires_at(dag).await?;
        self.put(Self::attempt_item(dag, run_id, attempt, expiry)?)
            .await
    }

    async fn put_new_attempt(
        &self,
        dag: &str,
        run_id: &str,
        attempt: &Attempt,
    ) -> PortResult<bool> {
        let expiry = self.expires_at(dag).await?;
        self.put_new(Self::attempt_item(dag, run_id, attempt, expiry)?)
            .await
    }

    async fn attempt(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
        try_number: u32,
    ) -> PortResult<Option<Attempt>> {
        self.get(keys::run_pk(dag, run_id), keys::try_sk(key, try_number))
            .await?
            .map(decode)
            .transpose()
    }

    async fn attempts(&self, dag: &str, run_id: &str) -> PortResult<Vec<Attempt>> {
        self.query_prefix(keys::run_pk(dag, run_id), "TRY#", false)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn put_handle(&self, handle: &str, try_ref: &HandleRef) -> PortResult<()> {
        let expiry = self.expires_at(&try_ref.dag).await?;
        self.put(Self::handle_item(handle, try_ref, expiry)?).await
    }

    async fn handle(&self, handle: &str) -> PortResult<Option<HandleRef>> {
        self.get(keys::handle_pk(handle), "HANDLE".into())
            .await?
            .map(decode)
            .transpose()
    }

    /// Three single writes, not a transaction (which bills each item
    /// twice), in the order the port's default takes: the try's record,
    /// its handle, then the instance's compare-and-set, so a try counts
    /// only once both are there. A record whose try already ended (a
    /// relaunch racing the end) is left as it is.
    async fn record_launch(
        &self,
        launch: &LaunchRecord<'_>,
        running: &TaskTransition,
    ) -> PortResult<bool> {
        let (dag, run_id) = (&launch.try_ref.dag, &launch.try_ref.run_id);
        let expiry = self.expires_at(dag).await?;
        let item = Self::attempt_item(dag, run_id, launch.attempt, expiry)?;
        let (names, values) = (
            HashMap::from([("#ended".to_string(), "ended_at".to_string())]),
            Item::from([(":null".to_string(), s("NULL"))]),
        );
        let open = "attribute_not_exists(#ended) OR attribute_type(#ended, :null)";
        self.put_when(item, open, names, values).await?;
        self.put(Self::handle_item(launch.handle, launch.try_ref, expiry)?)
            .await?;
        let instance = Self::instance_item(dag, run_id, &running.next, expiry)?;
        self.put_if(
            instance,
            running.expect_state.as_str(),
            Some(running.expect_try),
        )
        .await
    }

    /// The closed record first, then the instance's compare-and-set: a
    /// process that dies between them leaves the instance in flight, so
    /// the end is recorded again. The compare-and-set is a single write
    /// unless events or lineage records must go with it.
    async fn record_end(&self, end: &TryEnd<'_>) -> PortResult<bool> {
        let (dag, run_id) = (end.dag, end.run_id);
        let expiry = self.expires_at(dag).await?;
        if let Some(attempt) = end.attempt
            && !self
                .put_closed_attempt(dag, run_id, attempt, expiry)
                .await?
        {
            return Ok(false);
        }
        let change = end.change;
        let instance = Self::instance_item(dag, run_id, &change.next, expiry)?;
        if end.notices.is_empty() && end.lineage.is_empty() {
            let (state, try_number) = (change.expect_state.as_str(), change.expect_try);
            return self.put_if(instance, state, Some(try_number)).await;
        }
        let artifacts = Self::artifact_items(end.lineage, expiry)?;
        let mut writes = vec![self.conditional(instance, change)?];
        writes.extend(self.notice_puts(end.notices)?);
        if writes.len() + artifacts.len() > MAX_TRANSACTION {
            // Too many lineage records for one transaction: in turn.
            if !self
                .update_instance(dag, run_id, change, end.notices)
                .await?
            {
                return Ok(false);
            }
            self.put_artifacts(end.lineage).await?;
            return Ok(true);
        }
        for item in artifacts {
            writes.push(self.plain(item)?);
        }
        self.transact(writes).await
    }
}

impl DynamoStore {
    /// Puts a try's closed record over the record of the same launch only
    /// (the handle it was read with, or none): `false` if a relaunch
    /// recorded another since.
    async fn put_closed_attempt(
        &self,
        dag: &str,
        run_id: &str,
        attempt: &Attempt,
        expiry: Expiry,
    ) -> PortResult<bool> {
        let names = HashMap::from([("#handle".to_string(), "handle".to_string())]);
        let (condition, value) = match &attempt.handle {
            Some(handle) => ("#handle = :handle", s(handle.clone())),
            None => (
                "attribute_not_exists(#handle) OR attribute_type(#handle, :handle)",
                s("NULL"),
            ),
        };
        let values = Item::from([(":handle".to_string(), value)]);
        self.put_when(
            Self::attempt_item(dag, run_id, attempt, expiry)?,
            condition,
            names,
            values,
        )
        .await
    }
}
