//! DAG metadata and spec versions in DynamoDB.

use super::*;

#[async_trait]
impl DagStore for DynamoStore {
    async fn dag(&self, dag: &str) -> PortResult<Option<DagMeta>> {
        self.get(keys::DAGS.into(), dag.into())
            .await?
            .map(decode)
            .transpose()
    }

    async fn dags(&self) -> PortResult<Vec<DagMeta>> {
        // One query of the registry partition, however many runs the table holds.
        self.query_prefix(keys::DAGS.into(), "", false)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn update_dag(&self, dag: &DagId, change: &DagChange) -> PortResult<bool> {
        let update = dag_update(dag, change);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(keys::DAGS))
            .key(SK, s(dag.as_str()))
            .update_expression(update.expression)
            .set_condition_expression(update.condition)
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(fail("DynamoDB UpdateItem")(e)),
        }
    }

    async fn put_spec_version(
        &self,
        dag: &str,
        version: &str,
        source: &str,
        seen_at: DateTime<Utc>,
    ) -> PortResult<()> {
        let mut item = Item::new();
        item.insert(PK.into(), s(keys::dag_pk(dag)));
        item.insert(SK.into(), s(keys::spec_sk(version)));
        item.insert("item_type".into(), s("spec"));
        match &self.spec_objects {
            Some(objects) => {
                let key = objects.put(dag, version, source).await?;
                item.insert("source_object".into(), s(key));
            }
            None => {
                item.insert("source".into(), s(source));
            }
        }
        item.insert(
            "first_seen".into(),
            s(seen_at.to_rfc3339_opts(SecondsFormat::Micros, true)),
        );
        self.put_new(item).await.map(|_| ())
    }

    async fn spec_version(&self, dag: &str, version: &str) -> PortResult<Option<String>> {
        // With a bucket, the item is never asked: an operator may write the
        // table, and what it says must not become what runs.
        if let Some(objects) = &self.spec_objects {
            return objects.get(dag, version).await;
        }
        let Some(mut item) = self.get(keys::dag_pk(dag), keys::spec_sk(version)).await? else {
            return Ok(None);
        };
        match item.remove("source") {
            Some(AttributeValue::S(text)) => Ok(Some(text)),
            _ => Ok(None),
        }
    }

    async fn spec_versions(&self, dag: &str) -> PortResult<Vec<StoredVersion>> {
        let items = self.query_prefix(keys::dag_pk(dag), "SPEC#", false).await?;
        Ok(items
            .into_iter()
            .filter_map(|item| {
                let text = |name: &str| match item.get(name) {
                    Some(AttributeValue::S(text)) => Some(text.clone()),
                    _ => None,
                };
                Some(StoredVersion {
                    version: text(SK)?.strip_prefix("SPEC#")?.to_string(),
                    first_seen: text("first_seen")
                        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                        .map(|t| t.with_timezone(&Utc)),
                })
            })
            .collect())
    }
}
