//! Lineage records in DynamoDB.

use super::*;

#[async_trait]
impl ArtifactStore for DynamoStore {
    async fn put_artifacts(&self, records: &[ArtifactRecord]) -> PortResult<()> {
        let Some(first) = records.first() else {
            return Ok(());
        };
        let expiry = self.expires_at(first.dag.as_str()).await?;
        self.batch_put(Self::artifact_items(records, expiry)?).await
    }

    async fn artifact(&self, uri: &str) -> PortResult<Vec<ArtifactRecord>> {
        self.query_prefix(keys::artifact_pk(uri), "", true)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn run_artifacts(&self, dag: &str, run_id: &str) -> PortResult<Vec<ArtifactRecord>> {
        let mut records: Vec<ArtifactRecord> = self
            .query_prefix(keys::run_pk(dag, run_id), "ARTIFACT#", false)
            .await?
            .into_iter()
            .map(decode)
            .collect::<PortResult<_>>()?;
        records.sort_by(|a, b| (a.at, &a.uri).cmp(&(b.at, &b.uri)));
        Ok(records)
    }
}
