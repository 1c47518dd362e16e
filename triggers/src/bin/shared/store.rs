//! The limits table, for the trigger binaries: one DynamoDB client per process, with
//! timeouts well inside Cognito's 5 s, sending the writes `triggers::limits` describes and
//! the pending sign-up lookups.

// Each binary includes this file and uses its own part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use triggers::config::{self, LimitsConfig, process_env};
use triggers::limits::{self, Admission, SendAdmission, Update, Value};

/// A limit check gets at most this much of Cognito's 5 s; past it the sign-in fails closed.
const STORE_BUDGET: Duration = Duration::from_millis(1500);

pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// What a write did: admitted (with the failure count it left, when it counts failures) or
/// refused by its condition.
pub struct Written {
    pub admission: Admission,
    pub failures: Option<u64>,
}

/// `work`'s result, or `fallback` (a refusal: the limits fail closed) when the invocation's
/// deadline (`deadline_ms`, from Lambda's context) would pass first.
pub async fn within<T>(deadline_ms: u64, fallback: T, work: impl Future<Output = T>) -> T {
    let budget =
        triggers::deadline::budget(deadline_ms, triggers::deadline::now_ms(), STORE_BUDGET);
    match tokio::time::timeout(budget, work).await {
        Ok(done) => done,
        Err(_) => {
            crate::log::warning(
                "limits table: no answer within the invocation's deadline; refusing",
                "timeout",
            );
            fallback
        }
    }
}

fn attribute(value: &Value) -> AttributeValue {
    match value {
        Value::N(n) => AttributeValue::N(n.to_string()),
        Value::S(s) => AttributeValue::S(s.clone()),
    }
}

/// An item as DynamoDB returns it.
type Item = std::collections::HashMap<String, AttributeValue>;

/// A number attribute of `item`, if it is there.
fn number(item: Option<&Item>, name: &str) -> Option<u64> {
    item?.get(name)?.as_n().ok()?.parse().ok()
}

/// The limits and the table's client, read and built once per process; a configuration
/// error ends the cold start.
pub async fn from_env() -> (Arc<LimitsConfig>, Arc<Store>) {
    let limits = config::or_exit(LimitsConfig::from_lookup(process_env));
    let store = Store::new(limits.table.clone()).await;
    (Arc::new(limits), Arc::new(store))
}

/// The table's client alone, for the trigger that only records pending sign-ups.
pub async fn table_from_env() -> Arc<Store> {
    let table = config::or_exit(config::required_table(process_env));
    Arc::new(Store::new(table).await)
}

/// The table's client, built on first use: Create needs it only for an unverified address,
/// so the usual cold start does without it. The table's name is still read at cold start.
pub struct LazyStore {
    table: String,
    store: tokio::sync::OnceCell<Store>,
}

impl LazyStore {
    /// `None` when the function is not told a table: the stack does not allow sign-up.
    pub fn from_env() -> Option<Arc<Self>> {
        let table = config::optional_table(process_env)?;
        Some(Arc::new(Self {
            table,
            store: tokio::sync::OnceCell::new(),
        }))
    }

    pub async fn get(&self) -> &Store {
        self.store
            .get_or_init(|| Store::new(self.table.clone()))
            .await
    }
}

impl Store {
    async fn new(table: String) -> Self {
        let config = crate::http::sdk_defaults()
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_millis(500))
                    .operation_attempt_timeout(Duration::from_millis(700))
                    .operation_timeout(STORE_BUDGET)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .load()
            .await;
        Self {
            client: aws_sdk_dynamodb::Client::new(&config),
            table,
        }
    }

    /// Sends one conditional write. Any failure other than the condition's is an error,
    /// which callers treat as a refusal: the limits fail closed.
    pub async fn apply(&self, update: &Update) -> Result<Written, String> {
        self.send(update).await.map(|(written, _)| written)
    }

    /// [`Store::apply`], with the item as it was when the condition refused the write.
    ///
    /// Sent once, never retried by the SDK: an attempt that timed out after DynamoDB applied
    /// it would otherwise count twice (a lost answer fails closed instead).
    async fn send(&self, update: &Update) -> Result<(Written, Item), String> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(limits::KEY, AttributeValue::S(update.key.clone()))
            .update_expression(&update.expression)
            .set_condition_expression(
                (!update.condition.is_empty()).then(|| update.condition.clone()),
            )
            .set_expression_attribute_names(
                (!update.names.is_empty()).then(|| update.names.clone().into_iter().collect()),
            )
            .set_expression_attribute_values(Some(
                update
                    .values
                    .iter()
                    .map(|(k, v)| (k.clone(), attribute(v)))
                    .collect(),
            ))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .customize()
            .config_override(
                aws_sdk_dynamodb::config::Builder::default()
                    .retry_config(RetryConfig::standard().with_max_attempts(1)),
            )
            .send()
            .await;
        match sent {
            Ok(output) => Ok((
                Written {
                    admission: Admission::Admitted,
                    failures: number(output.attributes(), limits::FAILURES),
                },
                Item::default(),
            )),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                let old = match e.into_service_error() {
                    UpdateItemError::ConditionalCheckFailedException(failed) => {
                        failed.item.unwrap_or_default()
                    }
                    _ => Item::default(),
                };
                Ok((
                    Written {
                        admission: Admission::Refused,
                        failures: None,
                    },
                    old,
                ))
            }
            // The code only: the message could name the key, and nothing else is needed.
            Err(e) => Err(e.code().unwrap_or("unreachable").to_owned()),
        }
    }

    /// Counts one code against the account's send budget (in the current window, or as the
    /// first of a window not started yet) and, when the stack has a ceiling, one start
    /// against it, both in one transaction: neither counts unless both admit. Usually one
    /// request; one more when a window or an hour starts, or a concurrent start began it
    /// meanwhile. A store error refuses.
    pub async fn admit_send(&self, config: &LimitsConfig, key: &str, now: u64) -> SendAdmission {
        let outcome = async {
            let (mut open_window, mut open_hour) = (false, false);
            for _ in 0..4 {
                let mut updates = vec![if open_window {
                    limits::open_send_window(config, key, now)
                } else {
                    limits::count_send(config, key, now)
                }];
                if let Some(max) = config.max_sends_per_hour {
                    updates.push(if open_hour {
                        limits::open_stack_hour(now)
                    } else {
                        limits::count_stack_start(max, now)
                    });
                }
                let Some(refused) = self.write_all(&updates).await? else {
                    return Ok(SendAdmission::Admitted);
                };
                if let Some(old) = &refused[0] {
                    if open_window {
                        // A concurrent send started the window: count in it.
                        open_window = false;
                    } else {
                        let old = |name| number(Some(old), name);
                        match limits::send_refusal(
                            config,
                            old(limits::LOCKED_UNTIL),
                            old(limits::SEND_WINDOW),
                            now,
                        ) {
                            limits::SendRefusal::Locked => return Ok(SendAdmission::Refused),
                            limits::SendRefusal::BudgetSpent => {
                                return Ok(SendAdmission::BudgetSpent);
                            }
                            limits::SendRefusal::NewWindow => open_window = true,
                        }
                    }
                }
                if let Some(old) = refused.get(1).and_then(Option::as_ref) {
                    if open_hour {
                        open_hour = false;
                    } else {
                        match limits::ceiling_refusal(number(Some(old), limits::HOUR), now) {
                            limits::CeilingRefusal::Reached => {
                                return Ok(SendAdmission::CeilingReached);
                            }
                            limits::CeilingRefusal::NewHour => open_hour = true,
                        }
                    }
                }
            }
            Ok::<_, String>(SendAdmission::Refused)
        };
        outcome.await.unwrap_or_else(|code| {
            crate::log::warning("limits table unavailable; refusing", &code);
            SendAdmission::Refused
        })
    }

    /// Writes every update or none: `None` when all were written, else for each update the
    /// item as it was if its own condition refused (`None` for one refused only because
    /// another was). One update is a plain conditional write; more, a transaction. Sent
    /// once, never retried by the SDK, like [`Store::apply`].
    async fn write_all(&self, updates: &[Update]) -> Result<Option<Vec<Option<Item>>>, String> {
        if let [update] = updates {
            let (written, old) = self.send(update).await?;
            return Ok((written.admission == Admission::Refused).then(|| vec![Some(old)]));
        }
        let items = updates
            .iter()
            .map(|update| {
                let write = aws_sdk_dynamodb::types::Update::builder()
                    .table_name(&self.table)
                    .key(limits::KEY, AttributeValue::S(update.key.clone()))
                    .update_expression(&update.expression)
                    .condition_expression(&update.condition)
                    .set_expression_attribute_names(
                        (!update.names.is_empty())
                            .then(|| update.names.clone().into_iter().collect()),
                    )
                    .set_expression_attribute_values(Some(
                        update
                            .values
                            .iter()
                            .map(|(k, v)| (k.clone(), attribute(v)))
                            .collect(),
                    ))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(|_| "the transaction could not be built".to_owned())?;
                Ok(TransactWriteItem::builder().update(write).build())
            })
            .collect::<Result<Vec<_>, String>>()?;
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .customize()
            .config_override(
                aws_sdk_dynamodb::config::Builder::default()
                    .retry_config(RetryConfig::standard().with_max_attempts(1)),
            )
            .send()
            .await;
        match sent {
            Ok(_) => Ok(None),
            Err(e) => match e.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(canceled) => {
                    let reasons = canceled.cancellation_reasons();
                    let refused: Vec<Option<Item>> = (0..updates.len())
                        .map(|i| {
                            reasons
                                .get(i)
                                .filter(|r| r.code() == Some("ConditionalCheckFailed"))
                                .map(|r| r.item().cloned().unwrap_or_default())
                        })
                        .collect();
                    if refused.iter().all(Option::is_none) {
                        // Cancelled for another reason (a conflicting transaction): refuse.
                        return Err("TransactionConflict".to_owned());
                    }
                    Ok(Some(refused))
                }
                other => Err(other.code().unwrap_or("unreachable").to_owned()),
            },
        }
    }

    /// One attribute of the key's item, read consistently (a write a moment ago counts);
    /// `None` when the item or the attribute is not there.
    async fn read(&self, key: &str, attribute: &str) -> Result<Option<AttributeValue>, String> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key(limits::KEY, AttributeValue::S(key.to_owned()))
            .projection_expression(attribute)
            .consistent_read(true)
            .send()
            .await
            .map(|output| output.item.and_then(|mut item| item.remove(attribute)))
            .map_err(|e| e.code().unwrap_or("unreachable").to_owned())
    }

    /// A pending sign-up record: `None` when there is none, else its expiry (`None` for a
    /// record written before records expired).
    pub async fn pending_sign_up(&self, key: &str) -> Result<Option<Option<u64>>, String> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(limits::KEY, AttributeValue::S(key.to_owned()))
            .projection_expression("#key, expires_at")
            .expression_attribute_names("#key", limits::KEY)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| e.code().unwrap_or("unreachable").to_owned())?
            .item;
        Ok(item.map(|item| number(Some(&item), limits::TTL_ATTRIBUTE)))
    }

    /// The account's lock as a refusal or not; an unreadable table refuses (fails closed).
    pub async fn lock_admission(&self, key: &str, now: u64) -> Admission {
        match self.read(key, limits::LOCKED_UNTIL).await {
            Ok(locked_until) => limits::lock_admission(
                locked_until
                    .as_ref()
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok()),
                now,
            ),
            Err(code) => {
                crate::log::warning("limits table unavailable; refusing", &code);
                Admission::Refused
            }
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), String> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(limits::KEY, AttributeValue::S(key.to_owned()))
            .send()
            .await
            .map(drop)
            .map_err(|e| e.code().unwrap_or("unreachable").to_owned())
    }

    /// The write's admission, a store error counting as a refusal.
    pub async fn admit(&self, update: &Update) -> (Admission, Option<u64>) {
        match self.apply(update).await {
            Ok(written) => (written.admission, written.failures),
            Err(code) => {
                crate::log::warning("limits table unavailable; refusing", &code);
                (Admission::Refused, None)
            }
        }
    }
}
