//! The state store over one DynamoDB table (see [`crate::keys`]). Items
//! carry their fields as plain attributes (`state`, `try_number`,
//! `logical_date`, …); every change to a run or task instance is a
//! conditional write on its state (and try), and a failed condition is an
//! ordinary `false`, not an error.
//!
//! Retention: an item of a run written in an end state (the run ended, a
//! task instance or try ended, a lineage record, an audit entry) carries
//! [`EXPIRES_AT`], the table's TTL attribute: its DAG's `retention` (else
//! the store's) from the write. DynamoDB deletes it after that, without
//! billing a write. An item still in flight carries none, so an active
//! run never expires; the DAG's latest run is kept by the tick
//! ([`RunStore::keep_run`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_dynamo::aws_sdk_dynamodb_1::{
    from_attribute_value, from_item, to_attribute_value, to_item,
};
use updraft_core::ids::DagId;
use updraft_core::notify::Notice;
use updraft_core::state::{
    ArtifactRecord, Attempt, AuditEntry, Run, RunState, TaskInstance, TaskKey, TaskTransition,
};
use updraft_engine::ports::{
    ArtifactStore, AttemptStore, DagChange, DagMeta, DagStore, HandleRef, LaunchRecord,
    LeftoverStore, PendingStop, PoolSize, PoolStore, PortError, PortResult, RunQuery, RunStore,
    SlotClaim, StoredVersion, TryEnd, update_one_by_one,
};

use crate::keys::{self, ACTIVE, ACTIVE_INDEX, ACTIVE_VALUE, PK, SK};
use crate::sdk_error::fail;
use crate::spec_objects::SpecObjects;

mod artifacts;
mod attempts;
mod dags;
mod leftovers;
mod pools;
mod runs;

type Item = HashMap<String, AttributeValue>;

/// DynamoDB's limit on one BatchWriteItem call.
const BATCH: usize = 25;
/// DynamoDB's limit of items in one transaction.
const MAX_TRANSACTION: usize = 100;

/// The table's TTL attribute: when DynamoDB may delete the item, in
/// seconds since the epoch.
pub const EXPIRES_AT: &str = "expires_at";

/// How long a DAG's `retention` is remembered before it is read again (a
/// deploy that changes it takes this long to reach a warm function).
const RETENTION_FRESH: Duration = Duration::from_secs(600);

/// The state store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    spec_objects: Option<SpecObjects>,
    /// Retention of a DAG whose spec names none.
    retention: Duration,
    /// Each DAG's own retention, when read.
    retention_of: Arc<Mutex<HashMap<String, KnownRetention>>>,
}

/// A DAG's `retention` in seconds (`None`: it names none), and when it
/// was read.
type KnownRetention = (Option<u64>, Instant);

/// When an item written now expires: stamped on it only once it records
/// an end.
#[derive(Clone, Copy, Debug)]
struct Expiry(u64);

/// How much longer than its run's items a launch handle is kept: a try
/// still running then is found by reconciliation, not by its handle.
const HANDLE_SLACK: Duration = Duration::from_secs(30 * 86_400);

impl Expiry {
    fn stamp(self, item: &mut Item, ended: bool) {
        if ended {
            item.insert(EXPIRES_AT.into(), AttributeValue::N(self.0.to_string()));
        }
    }
}

fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

fn encode<T: Serialize>(value: &T, pk: String, sk: String, kind: &str) -> PortResult<Item> {
    let mut item: Item = to_item(value).map_err(|e| PortError::new("encoding an item", e))?;
    item.insert(PK.into(), s(pk));
    item.insert(SK.into(), s(sk));
    item.insert("item_type".into(), s(kind));
    Ok(item)
}

fn decode<T: DeserializeOwned>(item: Item) -> PortResult<T> {
    from_item(item).map_err(|e| PortError::new("decoding a stored item", e))
}

/// The condition of a compare-and-set: the item's `state` (and
/// `try_number`) are as expected. (Expression, names, values.)
fn state_condition(
    state: &str,
    try_number: Option<u32>,
) -> (&'static str, HashMap<String, String>, Item) {
    let mut names = HashMap::from([("#state".to_string(), "state".to_string())]);
    let mut values = Item::from([(":state".to_string(), s(state))]);
    let Some(n) = try_number else {
        return ("#state = :state", names, values);
    };
    names.insert("#try".into(), "try_number".into());
    values.insert(":try".into(), AttributeValue::N(n.to_string()));
    ("#state = :state AND #try = :try", names, values)
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

/// An UpdateItem of a DAG's metadata item: its expression, condition,
/// names and values.
struct DagUpdate {
    expression: String,
    condition: Option<String>,
    names: HashMap<String, String>,
    values: Item,
}

/// Sets only the fields `change` names (and, on a new item, what every
/// item has), under the change's condition.
fn dag_update(dag: &DagId, change: &DagChange) -> DagUpdate {
    let mut sets = vec!["#dag = :dag".to_string(), "item_type = :type".to_string()];
    let mut removes = Vec::new();
    let names = HashMap::from([("#dag".to_string(), "dag".to_string())]);
    let mut values = Item::from([
        (":dag".to_string(), s(dag.as_str())),
        (":type".to_string(), s("dag")),
    ]);
    let mut condition = None;
    let null_or_missing =
        |field: &str| format!("(attribute_not_exists({field}) OR attribute_type({field}, :null))");
    match change {
        DagChange::Paused(paused) => {
            sets.push("paused = :paused".into());
            values.insert(":paused".into(), AttributeValue::Bool(*paused));
        }
        DagChange::LastPoint(point) => {
            sets.push("paused = if_not_exists(paused, :false)".into());
            sets.push("last_point = :point".into());
            values.insert(":false".into(), AttributeValue::Bool(false));
            // The format the records' own serialization uses, so that the
            // strings order as the times do.
            let text = point.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            values.insert(":point".into(), s(text));
            values.insert(":null".into(), s("NULL"));
            condition = Some(format!(
                "{} OR last_point < :point",
                null_or_missing("last_point")
            ));
        }
        DagChange::Source {
            current_version,
            import_error,
            source_version,
            expect,
            retention_secs,
        } => {
            sets.push("paused = if_not_exists(paused, :false)".into());
            values.insert(":false".into(), AttributeValue::Bool(false));
            for (field, value) in [
                ("current_version", current_version),
                ("import_error", import_error),
                ("source_version", source_version),
            ] {
                match value {
                    Some(v) => {
                        sets.push(format!("{field} = :{field}"));
                        values.insert(format!(":{field}"), s(v.clone()));
                    }
                    None => removes.push(field.to_string()),
                }
            }
            match retention_secs {
                Some(Some(secs)) => {
                    sets.push("retention_secs = :retention_secs".into());
                    values.insert(
                        ":retention_secs".into(),
                        AttributeValue::N(secs.to_string()),
                    );
                }
                Some(None) => removes.push("retention_secs".into()),
                None => {}
            }
            condition = match expect {
                None => None,
                Some(None) => {
                    values.insert(":null".into(), s("NULL"));
                    Some(null_or_missing("source_version"))
                }
                Some(Some(version)) => {
                    values.insert(":expect".into(), s(version.clone()));
                    Some("source_version = :expect".into())
                }
            };
        }
    }
    let mut expression = format!("SET {}", sets.join(", "));
    if !removes.is_empty() {
        expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    DagUpdate {
        expression,
        condition,
        names,
        values,
    }
}

/// The attribute of a DAG's metadata item counting its running runs,
/// changed in the same transaction as every run that starts or stops
/// running, so `max_active_runs` holds however many start at once.
const RUNNING_RUNS: &str = "running_runs";

impl DynamoStore {
    /// Writes a run by compare-and-set on its state and revision; a write
    /// that makes it start or stop running also counts it on its DAG's
    /// metadata item in the same transaction, and with `limit`, only while
    /// fewer than that many run. Its events go in the same transaction, and
    /// so does, when it ends, its claim's expiry and its DAG's note of the
    /// run that ended last (which the tick keeps from expiring).
    async fn write_run(
        &self,
        expect: RunState,
        next: &Run,
        limit: Option<u32>,
        notices: &[Notice],
    ) -> PortResult<bool> {
        let mut stored = next.clone();
        stored.revision += 1;
        let (state, mut names, mut values) = state_condition(expect.as_str(), None);
        names.insert("#revision".into(), "revision".into());
        values.insert(
            ":revision".into(),
            AttributeValue::N(next.revision.to_string()),
        );
        // Runs written before revisions were kept have none: revision 0.
        let condition = if next.revision == 0 {
            format!("{state} AND (#revision = :revision OR attribute_not_exists(#revision))")
        } else {
            format!("{state} AND #revision = :revision")
        };
        let running = |s: RunState| i64::from(s == RunState::Running);
        let delta = running(next.state) - running(expect);
        let expiry = self.expires_at(next.dag.as_str()).await?;
        let (ends, reopens) = (
            next.state.is_terminal() && !expect.is_terminal(),
            expect.is_terminal() && !next.state.is_terminal(),
        );
        if delta == 0 && notices.is_empty() && !ends && !reopens {
            return self
                .put_when(Self::run_item(&stored, expiry)?, &condition, names, values)
                .await;
        }
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::run_item(&stored, expiry)?))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| PortError::new("building a transaction", e))?;
        let mut writes = vec![TransactWriteItem::builder().put(put).build()];
        if delta != 0 || ends {
            let ended = ends.then_some(next);
            writes.push(self.count_running(next.dag.as_str(), delta, limit, ended)?);
        }
        if ends || reopens {
            writes.push(self.claim_expiry(next, ends.then_some(expiry))?);
        }
        writes.extend(self.notice_puts(notices)?);
        self.transact(writes).await
    }

    /// The transaction's change of the claim of a run's logical date: it
    /// expires with the run once the run ends, and not while a rerun runs.
    fn claim_expiry(&self, run: &Run, expiry: Option<Expiry>) -> PortResult<TransactWriteItem> {
        let mut values = Item::from([
            (":run".to_string(), s(run.run_id.clone())),
            (":type".to_string(), s("date")),
        ]);
        let set =
            "SET run_id = if_not_exists(run_id, :run), item_type = if_not_exists(item_type, :type)";
        let expression = match expiry {
            Some(Expiry(at)) => {
                values.insert(":expires".into(), AttributeValue::N(at.to_string()));
                format!("{set}, {EXPIRES_AT} = :expires")
            }
            None => format!("{set} REMOVE {EXPIRES_AT}"),
        };
        let update = Update::builder()
            .table_name(&self.table)
            .key(PK, s(keys::dag_pk(run.dag.as_str())))
            .key(SK, s(keys::date_sk(run.logical_date)))
            .update_expression(expression)
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| PortError::new("building a transaction", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The transaction's change of a DAG's running-runs count, noting the
    /// run that `ended`, if one did.
    fn count_running(
        &self,
        dag: &str,
        delta: i64,
        limit: Option<u32>,
        ended: Option<&Run>,
    ) -> PortResult<TransactWriteItem> {
        let mut values = Item::from([
            (":delta".to_string(), AttributeValue::N(delta.to_string())),
            (":dag".to_string(), s(dag)),
            (":type".to_string(), s("dag")),
            (":false".to_string(), AttributeValue::Bool(false)),
        ]);
        let mut set = "SET #dag = if_not_exists(#dag, :dag), item_type = :type, paused = if_not_exists(paused, :false)".to_string();
        if let Some(run) = ended {
            let at = run.ended_at.unwrap_or(run.created_at);
            values.insert(":last_run".into(), s(run.run_id.clone()));
            values.insert(
                ":last_at".into(),
                s(at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            );
            set += ", last_ended_run = :last_run, last_ended_at = :last_at";
        }
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(PK, s(keys::DAGS))
            .key(SK, s(dag))
            .update_expression(format!("{set} ADD {RUNNING_RUNS} :delta"))
            .expression_attribute_names("#dag", "dag");
        if let Some(limit) = limit {
            values.insert(":limit".into(), AttributeValue::N(limit.to_string()));
            update = update.condition_expression(format!(
                "attribute_not_exists({RUNNING_RUNS}) OR {RUNNING_RUNS} < :limit"
            ));
        }
        let update = update
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| PortError::new("building a transaction", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A store over `table`, keeping ended runs 400 days unless their DAG
    /// says otherwise.
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
            spec_objects: None,
            retention: updraft_core::retention::DEFAULT_RETENTION
                .to_std()
                .unwrap_or_default(),
            retention_of: Arc::default(),
        }
    }

    /// The same store, keeping ended runs `retention` unless their DAG
    /// says otherwise (the stack's `RetentionDays`).
    pub fn with_retention(mut self, retention: Duration) -> DynamoStore {
        self.retention = retention;
        self
    }

    /// How long `dag`'s ended runs are kept: its spec's `retention`, read
    /// from its metadata at most every ten minutes, else the store's.
    async fn retention(&self, dag: &str) -> PortResult<Duration> {
        let cached = {
            let known = self.retention_of.lock().unwrap_or_else(|e| e.into_inner());
            known
                .get(dag)
                .filter(|(_, read)| read.elapsed() < RETENTION_FRESH)
                .map(|(secs, _)| *secs)
        };
        let secs = match cached {
            Some(secs) => secs,
            None => {
                let secs = self.dag(dag).await?.and_then(|meta| meta.retention_secs);
                self.retention_of
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(dag.to_string(), (secs, Instant::now()));
                secs
            }
        };
        Ok(secs.map_or(self.retention, Duration::from_secs))
    }

    /// When an item of a run of `dag` written in an end state now expires.
    async fn expires_at(&self, dag: &str) -> PortResult<Expiry> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Ok(Expiry((now + self.retention(dag).await?).as_secs()))
    }

    /// Keeps spec sources in the bucket and reads them only from there, as
    /// the stack's functions and the CLI do; without it (tests of the table
    /// alone) sources are kept in their items.
    pub fn with_spec_objects(mut self, objects: SpecObjects) -> DynamoStore {
        self.spec_objects = Some(objects);
        self
    }

    async fn get(&self, pk: String, sk: String) -> PortResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(fail("DynamoDB GetItem"))?;
        Ok(out.item)
    }

    /// Every item of a partition whose sort key starts with `prefix`.
    /// Every item of a partition whose sort key starts with `prefix` (all
    /// of them for an empty prefix).
    async fn query_prefix(
        &self,
        pk: String,
        prefix: &str,
        newest_first: bool,
    ) -> PortResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(pk.clone()));
            query = if prefix.is_empty() {
                query.key_condition_expression("#pk = :pk")
            } else {
                query
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":prefix", s(prefix))
            };
            let out = query
                .scan_index_forward(!newest_first)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(fail("DynamoDB Query"))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    async fn put(&self, item: Item) -> PortResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(fail("DynamoDB PutItem"))?;
        Ok(())
    }

    /// Puts an item if no item has its key; `false` if one does.
    async fn put_new(&self, item: Item) -> PortResult<bool> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(fail("DynamoDB PutItem")(e)),
        }
    }

    /// Writes many items, 25 at a time, until none is left unprocessed.
    async fn batch_put(&self, items: Vec<Item>) -> PortResult<()> {
        let requests = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| PortError::new("building a write", e))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<PortResult<_>>()?;
        self.batch_write(requests).await
    }

    /// Deletes many items by key, 25 at a time.
    async fn batch_delete(&self, keys: Vec<(String, String)>) -> PortResult<()> {
        let requests = keys
            .into_iter()
            .map(|(pk, sk)| {
                let delete = DeleteRequest::builder()
                    .key(PK, s(pk))
                    .key(SK, s(sk))
                    .build()
                    .map_err(|e| PortError::new("building a delete", e))?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<PortResult<_>>()?;
        self.batch_write(requests).await
    }

    /// Sends writes 25 at a time, until none is left unprocessed.
    async fn batch_write(&self, all: Vec<WriteRequest>) -> PortResult<()> {
        for chunk in all.chunks(BATCH) {
            let mut requests = chunk.to_vec();
            for round in 0..8 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(fail("DynamoDB BatchWriteItem"))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << round)).await;
            }
            if !requests.is_empty() {
                return Err(PortError::msg(format!(
                    "DynamoDB BatchWriteItem: {} items still unprocessed",
                    requests.len()
                )));
            }
        }
        Ok(())
    }

    fn run_item(run: &Run, expiry: Expiry) -> PortResult<Item> {
        let mut item = encode(
            run,
            keys::dag_pk(run.dag.as_str()),
            keys::run_sk(&run.run_id),
            "run",
        )?;
        // Sortable and comparable as text in the GSI.
        item.insert(
            keys::CREATED_AT.into(),
            s(run.created_at.to_rfc3339_opts(SecondsFormat::Micros, true)),
        );
        if !run.state.is_terminal() {
            item.insert(ACTIVE.into(), s(ACTIVE_VALUE));
        }
        expiry.stamp(&mut item, run.state.is_terminal());
        Ok(item)
    }

    fn instance_item(
        dag: &str,
        run_id: &str,
        instance: &TaskInstance,
        expiry: Expiry,
    ) -> PortResult<Item> {
        let mut item = encode(
            instance,
            keys::run_pk(dag, run_id),
            keys::task_sk(&instance.key),
            "task",
        )?;
        expiry.stamp(&mut item, instance.state.is_terminal());
        Ok(item)
    }

    fn attempt_item(
        dag: &str,
        run_id: &str,
        attempt: &Attempt,
        expiry: Expiry,
    ) -> PortResult<Item> {
        let mut item = encode(
            attempt,
            keys::run_pk(dag, run_id),
            keys::try_sk(&attempt.key, attempt.try_number),
            "try",
        )?;
        expiry.stamp(&mut item, attempt.ended_at.is_some());
        Ok(item)
    }

    fn handle_item(handle: &str, try_ref: &HandleRef, expiry: Expiry) -> PortResult<Item> {
        let mut item = encode(try_ref, keys::handle_pk(handle), "HANDLE".into(), "handle")?;
        Expiry(expiry.0 + HANDLE_SLACK.as_secs()).stamp(&mut item, true);
        Ok(item)
    }

    /// Each record twice: under its artifact (lineage by URI) and under
    /// its run (lineage by run). Written as a try ends, so stamped.
    fn artifact_items(records: &[ArtifactRecord], expiry: Expiry) -> PortResult<Vec<Item>> {
        let mut items = Vec::with_capacity(records.len() * 2);
        for r in records {
            let at = r.at.to_rfc3339_opts(SecondsFormat::Micros, true);
            let used = r.used.as_str();
            let by_uri =
                keys::artifact_sk(&at, r.dag.as_str(), &r.run_id, &r.key, r.try_number, used);
            items.push(encode(r, keys::artifact_pk(&r.uri), by_uri, "artifact")?);
            let by_run = keys::run_artifact_sk(used, &r.uri, &r.key, r.try_number);
            items.push(encode(
                r,
                keys::run_pk(r.dag.as_str(), &r.run_id),
                by_run,
                "artifact",
            )?);
        }
        for item in &mut items {
            expiry.stamp(item, true);
        }
        Ok(items)
    }

    /// A transaction's put of an instance that holds only if it is still in
    /// the transition's expected state and try.
    fn conditional(&self, item: Item, change: &TaskTransition) -> PortResult<TransactWriteItem> {
        let (condition, names, values) =
            state_condition(change.expect_state.as_str(), Some(change.expect_try));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| PortError::new("building a transaction", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A transaction's put of an item no item has the key of yet.
    fn absent(&self, item: Item) -> PortResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| PortError::new("building a transaction", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The transaction's puts of a change's events into the outbox.
    fn notice_puts(&self, notices: &[Notice]) -> PortResult<Vec<TransactWriteItem>> {
        notices
            .iter()
            .map(|notice| {
                let body = serde_json::to_string(notice)
                    .map_err(|e| PortError::new("encoding an event", e))?;
                let item = Item::from([
                    (PK.to_string(), s(keys::OUTBOX)),
                    (SK.to_string(), s(notice.id.clone())),
                    ("item_type".to_string(), s("event")),
                    ("body".to_string(), s(body)),
                ]);
                self.plain(item)
            })
            .collect()
    }

    /// A pool's holders (its item's `used` is their slots' sum); none if no
    /// slot of it was ever taken.
    async fn pool_item(&self, pool: &str) -> PortResult<Option<Vec<SlotClaim>>> {
        let Some(item) = self.get(keys::POOLS.into(), pool.to_string()).await? else {
            return Ok(None);
        };
        let holders = match item.get("holders") {
            Some(AttributeValue::M(map)) => map
                .values()
                .map(|v| {
                    from_attribute_value(v.clone())
                        .map_err(|e| PortError::new("decoding a slot claim", e))
                })
                .collect::<PortResult<Vec<SlotClaim>>>()?,
            _ => Vec::new(),
        };
        Ok(Some(holders))
    }

    /// Sets or removes one size attribute of a pool's item, making the
    /// item (with nothing held) if there is none.
    async fn set_pool_size(
        &self,
        pool: &str,
        attribute: &str,
        slots: Option<u32>,
    ) -> PortResult<()> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(keys::POOLS))
            .key(SK, s(pool))
            .expression_attribute_names("#size", attribute)
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":none", AttributeValue::M(HashMap::new()))
            .expression_attribute_values(":type", s("pool"));
        let keep = "used = if_not_exists(used, :zero), holders = if_not_exists(holders, :none), item_type = :type";
        let update = match slots {
            Some(n) => update
                .update_expression(format!("SET #size = :n, {keep}"))
                .expression_attribute_values(":n", AttributeValue::N(n.to_string())),
            None => update.update_expression(format!("SET {keep} REMOVE #size")),
        };
        update.send().await.map_err(fail("DynamoDB UpdateItem"))?;
        Ok(())
    }

    /// A transaction's unconditional put.
    fn plain(&self, item: Item) -> PortResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(|e| PortError::new("building a transaction", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Writes all or nothing; `false` if a condition failed.
    async fn transact(&self, writes: Vec<TransactWriteItem>) -> PortResult<bool> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(c))
                        if c.cancellation_reasons()
                            .iter()
                            .any(|r| r.code() == Some("ConditionalCheckFailed"))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(fail("DynamoDB TransactWriteItems")(e)),
        }
    }

    /// A put that holds only if the item's `state` (and `try_number`) are
    /// as expected.
    async fn put_if(&self, item: Item, state: &str, try_number: Option<u32>) -> PortResult<bool> {
        let (condition, names, values) = state_condition(state, try_number);
        self.put_when(item, condition, names, values).await
    }

    /// A put that holds only if `condition` does; `false` if it did not.
    async fn put_when(
        &self,
        item: Item,
        condition: &str,
        names: HashMap<String, String>,
        values: Item,
    ) -> PortResult<bool> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values));
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(fail("DynamoDB conditional PutItem")(e)),
        }
    }

    /// Updates one item by `expression` if `condition` holds; `false` if
    /// it does not.
    async fn update_when(
        &self,
        (pk, sk): (String, String),
        expression: &str,
        condition: &str,
        values: Item,
    ) -> PortResult<bool> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values));
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(fail("DynamoDB conditional UpdateItem")(e)),
        }
    }
}
