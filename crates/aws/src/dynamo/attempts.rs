//! Tries and launch handles, and recording a launch or an end in DynamoDB.

use super::*;

#[async_trait]
impl AttemptStore for DynamoStore {
    async fn put_attempt(&self, dag: &str, run_id: &str, attempt: &Attempt) -> PortResult<()> {
        self.put(Self::attempt_item(dag, run_id, attempt)?).await
    }

    async fn put_new_attempt(
        &self,
        dag: &str,
        run_id: &str,
        attempt: &Attempt,
    ) -> PortResult<bool> {
        self.put_new(Self::attempt_item(dag, run_id, attempt)?)
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
        self.put(Self::handle_item(handle, try_ref)?).await
    }

    async fn handle(&self, handle: &str) -> PortResult<Option<HandleRef>> {
        self.get(keys::handle_pk(handle), "HANDLE".into())
            .await?
            .map(decode)
            .transpose()
    }

    async fn record_launch(
        &self,
        launch: &LaunchRecord<'_>,
        running: &TaskTransition,
    ) -> PortResult<bool> {
        let (dag, run_id) = (&launch.try_ref.dag, &launch.try_ref.run_id);
        self.transact(vec![
            self.conditional(Self::instance_item(dag, run_id, &running.next)?, running)?,
            self.plain(Self::handle_item(launch.handle, launch.try_ref)?)?,
            self.plain(Self::attempt_item(dag, run_id, launch.attempt)?)?,
        ])
        .await
    }

    async fn record_end(&self, end: &TryEnd<'_>) -> PortResult<bool> {
        let (dag, run_id) = (end.dag, end.run_id);
        let mut writes = vec![self.conditional(
            Self::instance_item(dag, run_id, &end.change.next)?,
            end.change,
        )?];
        writes.extend(self.notice_puts(end.notices)?);
        if let Some(attempt) = end.attempt {
            writes.push(self.plain(Self::attempt_item(dag, run_id, attempt)?)?);
        }
        let artifacts = Self::artifact_items(end.lineage)?;
        if writes.len() + artifacts.len() > MAX_TRANSACTION {
            // Too many lineage records for one transaction: in turn.
            return record_end_in_turn(self, end).await;
        }
        for item in artifacts {
            writes.push(self.plain(item)?);
        }
        self.transact(writes).await
    }
}
