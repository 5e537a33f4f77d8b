//! Runs, their task instances and audit entries in DynamoDB.

use super::*;

#[async_trait]
impl RunStore for DynamoStore {
    async fn delete_run(&self, dag: &str, run_id: &str) -> PortResult<()> {
        let Some((run, doomed)) = self.items_of_run(dag, run_id).await? else {
            return Ok(());
        };
        self.batch_delete(doomed).await?;
        // The run last: a clean that died before this finds it again.
        self.batch_delete(vec![
            (keys::dag_pk(dag), keys::date_sk(run.logical_date)),
            (keys::dag_pk(dag), keys::run_sk(run_id)),
        ])
        .await
    }

    /// One write per item, on the rare run that ended last and nears its
    /// horizon; the DAG's note says when it was kept, so the next tick
    /// leaves it.
    async fn keep_run(&self, dag: &str, run_id: &str, now: DateTime<Utc>) -> PortResult<()> {
        let Some((run, mut items)) = self.items_of_run(dag, run_id).await? else {
            return Ok(());
        };
        items.push((keys::dag_pk(dag), keys::date_sk(run.logical_date)));
        items.push((keys::dag_pk(dag), keys::run_sk(run_id)));
        let horizon =
            now + chrono::Duration::from_std(self.retention(dag).await?).unwrap_or_default();
        let expires = Item::from([(
            ":expires".to_string(),
            AttributeValue::N(horizon.timestamp().max(0).to_string()),
        )]);
        // Only what already expires: an item a rerun took the expiry off
        // meanwhile is in flight again.
        let set = format!("SET {EXPIRES_AT} = :expires");
        let expiring = format!("attribute_exists({EXPIRES_AT})");
        for item in items {
            self.update_when(item, &set, &expiring, expires.clone())
                .await?;
        }
        // Unless another run ended meanwhile: that is the one to keep.
        let kept = Item::from([
            (
                ":kept".to_string(),
                s(now.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            ),
            (":run".to_string(), s(run_id)),
        ]);
        let dag_item = (keys::DAGS.to_string(), dag.to_string());
        self.update_when(
            dag_item,
            "SET last_ended_at = :kept",
            "last_ended_run = :run",
            kept,
        )
        .await?;
        Ok(())
    }

    async fn create_run(
        &self,
        run: &Run,
        instances: &[TaskInstance],
        notices: &[Notice],
    ) -> PortResult<bool> {
        // The run and the claim of its logical date, or neither.
        let dag = run.dag.as_str();
        let mut claim = Item::new();
        claim.insert(PK.into(), s(keys::dag_pk(dag)));
        claim.insert(SK.into(), s(keys::date_sk(run.logical_date)));
        claim.insert("item_type".into(), s("date"));
        claim.insert("run_id".into(), s(run.run_id.clone()));
        let expiry = self.expires_at(dag).await?;
        let mut writes = vec![
            self.absent(Self::run_item(run, expiry)?)?,
            self.absent(claim)?,
        ];
        writes.extend(self.notice_puts(notices)?);
        if !self.transact(writes).await? {
            return Ok(false);
        }
        let items = instances
            .iter()
            .map(|i| Self::instance_item(dag, &run.run_id, i, expiry))
            .collect::<PortResult<Vec<_>>>()?;
        self.batch_put(items).await?;
        Ok(true)
    }

    async fn run(&self, dag: &str, run_id: &str) -> PortResult<Option<Run>> {
        self.get(keys::dag_pk(dag), keys::run_sk(run_id))
            .await?
            .map(decode)
            .transpose()
    }

    async fn runs(&self, query: &RunQuery) -> PortResult<Vec<Run>> {
        // One query of each DAG's partition (the registry names the DAGs):
        // the table is never scanned.
        let dags = match &query.dag {
            Some(dag) => vec![dag.clone()],
            None => self
                .dags()
                .await?
                .into_iter()
                .map(|m| m.dag.to_string())
                .collect(),
        };
        let mut items = Vec::new();
        for dag in dags {
            items.extend(self.query_prefix(keys::dag_pk(&dag), "RUN#", false).await?);
        }
        let mut runs: Vec<Run> = items
            .into_iter()
            .map(decode)
            .collect::<PortResult<Vec<Run>>>()?;
        runs.retain(|r| query.matches(r));
        runs.sort_by(|a, b| (b.created_at, &b.run_id).cmp(&(a.created_at, &a.run_id)));
        runs.truncate(query.limit.unwrap_or(usize::MAX));
        Ok(runs)
    }

    async fn active_runs(&self) -> PortResult<Vec<Run>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(ACTIVE_INDEX)
                .key_condition_expression("#active = :active")
                .expression_attribute_names("#active", ACTIVE)
                .expression_attribute_values(":active", s(ACTIVE_VALUE))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(fail("DynamoDB Query active runs"))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        // The index is eventually consistent: read each run itself.
        let mut runs = Vec::with_capacity(items.len());
        for item in items {
            let run: Run = decode(item)?;
            if let Some(current) = self
                .run(run.dag.as_str(), &run.run_id)
                .await?
                .filter(|r| !r.state.is_terminal())
            {
                runs.push(current);
            }
        }
        Ok(runs)
    }

    async fn update_run(
        &self,
        expect: RunState,
        next: &Run,
        notices: &[Notice],
    ) -> PortResult<bool> {
        self.write_run(expect, next, None, notices).await
    }

    async fn start_run(&self, next: &Run, limit: u32, notices: &[Notice]) -> PortResult<bool> {
        self.write_run(RunState::Queued, next, Some(limit), notices)
            .await
    }

    async fn put_audit(&self, dag: &str, run_id: &str, entry: &AuditEntry) -> PortResult<()> {
        let sk = keys::audit_sk(entry.at, &entry.by);
        let mut item = encode(entry, keys::run_pk(dag, run_id), sk, "audit")?;
        self.expires_at(dag).await?.stamp(&mut item, true);
        self.put(item).await
    }

    async fn audit(&self, dag: &str, run_id: &str) -> PortResult<Vec<AuditEntry>> {
        self.query_prefix(keys::run_pk(dag, run_id), "AUDIT#", false)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn instances(&self, dag: &str, run_id: &str) -> PortResult<Vec<TaskInstance>> {
        self.query_prefix(keys::run_pk(dag, run_id), "TASK#", false)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn create_instances(
        &self,
        dag: &str,
        run_id: &str,
        instances: &[TaskInstance],
    ) -> PortResult<usize> {
        // A hundred at a time, all new or none: an expansion of 10,000
        // mapped instances is 100 requests. A chunk with an instance that
        // already exists (an expansion repeated after a crash) is written
        // one by one instead, skipping those.
        let mut created = 0;
        let expiry = self.expires_at(dag).await?;
        for chunk in instances.chunks(MAX_TRANSACTION) {
            let items = chunk
                .iter()
                .map(|i| self.absent(Self::instance_item(dag, run_id, i, expiry)?))
                .collect::<PortResult<Vec<_>>>()?;
            if self.transact(items).await? {
                created += chunk.len();
                continue;
            }
            for instance in chunk {
                created += usize::from(
                    self.put_new(Self::instance_item(dag, run_id, instance, expiry)?)
                        .await?,
                );
            }
        }
        Ok(created)
    }

    async fn instance(
        &self,
        dag: &str,
        run_id: &str,
        key: &TaskKey,
    ) -> PortResult<Option<TaskInstance>> {
        self.get(keys::run_pk(dag, run_id), keys::task_sk(key))
            .await?
            .map(decode)
            .transpose()
    }

    async fn update_instance(
        &self,
        dag: &str,
        run_id: &str,
        change: &TaskTransition,
        notices: &[Notice],
    ) -> PortResult<bool> {
        let expiry = self.expires_at(dag).await?;
        let item = Self::instance_item(dag, run_id, &change.next, expiry)?;
        if notices.is_empty() {
            return self
                .put_if(item, change.expect_state.as_str(), Some(change.expect_try))
                .await;
        }
        let mut writes = vec![self.conditional(item, change)?];
        writes.extend(self.notice_puts(notices)?);
        self.transact(writes).await
    }

    /// A hundred to a transaction; a transaction refused because one of
    /// them lost its race is written again one by one.
    async fn update_instances(
        &self,
        dag: &str,
        run_id: &str,
        changes: &[TaskTransition],
    ) -> PortResult<Vec<bool>> {
        let mut applied = Vec::with_capacity(changes.len());
        let expiry = self.expires_at(dag).await?;
        for chunk in changes.chunks(MAX_TRANSACTION) {
            let writes = chunk
                .iter()
                .map(|change| {
                    let item = Self::instance_item(dag, run_id, &change.next, expiry)?;
                    self.conditional(item, change)
                })
                .collect::<PortResult<Vec<_>>>()?;
            if self.transact(writes).await? {
                applied.extend(std::iter::repeat_n(true, chunk.len()));
                continue;
            }
            applied.extend(update_one_by_one(self, dag, run_id, chunk).await?);
        }
        Ok(applied)
    }
}

impl DynamoStore {
    /// A run and the keys of everything kept of it but its own item and
    /// its logical date's claim: its partition's items, their launch
    /// handles and the lineage records' twins under each artifact.
    async fn items_of_run(
        &self,
        dag: &str,
        run_id: &str,
    ) -> PortResult<Option<(Run, Vec<(String, String)>)>> {
        let Some(run) = self.run(dag, run_id).await? else {
            return Ok(None);
        };
        let mut items = Vec::new();
        for item in self
            .query_prefix(keys::run_pk(dag, run_id), "", false)
            .await?
        {
            let key = |name: &str| {
                item.get(name)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            let (pk, sk) = (key(PK), key(SK));
            if sk.starts_with("ARTIFACT#") {
                // Its twin under the artifact's URI.
                let r: ArtifactRecord = decode(item)?;
                let at = r.at.to_rfc3339_opts(SecondsFormat::Micros, true);
                let used = r.used.as_str();
                let by_uri =
                    keys::artifact_sk(&at, r.dag.as_str(), &r.run_id, &r.key, r.try_number, used);
                items.push((keys::artifact_pk(&r.uri), by_uri));
            } else if sk.starts_with("TRY#") {
                let attempt: Attempt = decode(item)?;
                if let Some(handle) = attempt.handle {
                    items.push((keys::handle_pk(&handle), "HANDLE".into()));
                }
            }
            items.push((pk, sk));
        }
        Ok(Some((run, items)))
    }
}
