//! Account-wide abuse limits: how many codes one account may be sent per window, and how
//! many wrong answers in a row (across sessions) lock it for a while. Pure: this module
//! says which conditional write each event needs and what its outcome means; the binaries
//! send the writes to DynamoDB.
//!
//! One item per account, keyed by a hash of the pool and the normalised username, so the
//! table never holds an address. Every limit is one conditional write: the condition is the
//! limit, so concurrent requests can never pass it together.
//!
//! The send budget counts in windows aligned to the clock, in two attributes: the window
//! the count belongs to (`send_window`) and the count (`sends`). A send within the current
//! window is one write that both checks and counts; the first send of a new window is a
//! second write that starts the count afresh, so an old window's count never outlives the
//! next send, however long the account was idle. Within a window at most `max_sends` codes
//! go out; two adjacent windows together allow at most twice that.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::config::LimitsConfig;

/// The table's partition key.
pub const KEY: &str = "pk";
/// The attribute DynamoDB's TTL deletes items by.
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// Until when (Unix seconds) the account is locked.
pub const LOCKED_UNTIL: &str = "locked_until";
/// Wrong answers in a row since the last right one or the last lock.
pub const FAILURES: &str = "failures";
/// Records outlive the longest window and lockout by this much, then expire by themselves.
const RETENTION_MARGIN_SECONDS: u64 = 86_400;

const NOT_LOCKED: &str = "(attribute_not_exists(locked_until) OR locked_until <= :now)";

/// What the limits table said to a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The write passed its condition: within the limit.
    Admitted,
    /// Over a limit or locked; also what an unreachable table counts as.
    Refused,
}

/// A value in a write: DynamoDB's number or string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    N(u64),
    S(String),
}

/// One conditional UpdateItem on the account's item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub key: String,
    pub expression: String,
    pub condition: String,
    pub names: BTreeMap<String, String>,
    pub values: BTreeMap<String, Value>,
}

/// The account's item key: a hash of the pool and the normalised username. Not secret, but
/// the table holds no address, and a name's key differs from pool to pool.
pub fn account_key(pool_id: &str, username: &str) -> String {
    format!("acct#{}", hashed(pool_id, username))
}

/// The item that records an account created by sign-up whose address still awaits its
/// first code, until `expires_at` (`sign_up.pending_days` after the sign-up): past it the
/// account can get no code, and `users prune-pending` removes it. Verify deletes the record
/// once the address is proven.
pub fn sign_up_key(pool_id: &str, email: &str) -> String {
    format!("signup#{}", hashed(pool_id, email))
}

fn hashed(pool_id: &str, name: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"emailcode-limits\0");
    hasher.update(pool_id.as_bytes());
    hasher.update(b"\0");
    hasher.update(normalise(name).as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// When the pending sign-up was recorded (Unix seconds).
pub const SIGNED_UP_AT: &str = "signed_up_at";

/// Records a pending sign-up, open for `pending_seconds`. Unconditional: signing up again
/// (after the account was removed) records it again.
pub fn record_sign_up(key: &str, now: u64, pending_seconds: u64) -> Update {
    update(
        key,
        "SET signed_up_at = :now, expires_at = :expires",
        "",
        &[],
        &[
            (":now", Value::N(now)),
            (":expires", Value::N(now + pending_seconds)),
        ],
    )
}

/// Whether a pending sign-up record still lets its address get codes: DynamoDB deletes an
/// expired item only some time after it expires, so the time is checked, not the item's
/// presence. A record from before the expiry existed stays open.
pub fn pending_is_open(expires_at: Option<u64>, now: u64) -> bool {
    expires_at.is_none_or(|until| until > now)
}

/// `Alice@X.example ` and `alice@x.example` are one account.
pub fn normalise(username: &str) -> String {
    username.trim().to_lowercase()
}

/// The name the limits count under: the account's email when Cognito knows the user, else
/// the name that was typed (an unknown user gets exactly the same treatment).
pub fn counted_name<'a>(
    user_attributes: &'a std::collections::HashMap<String, String>,
    user_name: Option<&'a str>,
) -> &'a str {
    user_attributes
        .get("email")
        .map(String::as_str)
        .or(user_name)
        .unwrap_or_default()
}

/// The account key for a trigger event: its pool, and the name it counts under.
pub fn event_key(
    user_pool_id: Option<&str>,
    user_attributes: &std::collections::HashMap<String, String>,
    user_name: Option<&str>,
) -> String {
    account_key(
        user_pool_id.unwrap_or_default(),
        counted_name(user_attributes, user_name),
    )
}

fn expires_at(config: &LimitsConfig, now: u64) -> u64 {
    now + config.window_seconds.max(config.lockout_seconds) + RETENTION_MARGIN_SECONDS
}

fn update(
    key: &str,
    expression: &str,
    condition: &str,
    names: &[(&str, String)],
    values: &[(&str, Value)],
) -> Update {
    Update {
        key: key.to_owned(),
        expression: expression.to_owned(),
        condition: condition.to_owned(),
        names: names
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        values: values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    }
}

/// The window the count belongs to (its number since the epoch).
pub const SEND_WINDOW: &str = "send_window";
/// Codes sent in that window.
pub const SENDS: &str = "sends";

/// Counts one code against the send budget of the current window; refused when the account
/// is locked, its budget for this window is spent, or its count belongs to another window
/// (then [`send_refusal`] says to start the window with [`open_send_window`]).
pub fn count_send(config: &LimitsConfig, key: &str, now: u64) -> Update {
    update(
        key,
        "SET sends = sends + :one, expires_at = :expires",
        &format!("{NOT_LOCKED} AND send_window = :window AND sends < :max"),
        &[],
        &[
            (":one", Value::N(1)),
            (":now", Value::N(now)),
            (":window", Value::N(now / config.window_seconds)),
            (":max", Value::N(config.max_sends.into())),
            (":expires", Value::N(expires_at(config, now))),
        ],
    )
}

/// Starts the current window with this send as its first, replacing an older window's count;
/// refused when the account is locked or the window was started already (by a concurrent
/// send: then counting again decides).
pub fn open_send_window(config: &LimitsConfig, key: &str, now: u64) -> Update {
    update(
        key,
        "SET send_window = :window, sends = :one, expires_at = :expires",
        &format!("{NOT_LOCKED} AND (attribute_not_exists(send_window) OR send_window < :window)"),
        &[],
        &[
            (":one", Value::N(1)),
            (":now", Value::N(now)),
            (":window", Value::N(now / config.window_seconds)),
            (":expires", Value::N(expires_at(config, now))),
        ],
    )
}

/// What a refused [`count_send`] means, from the item as it was (`ReturnValuesOnCondition
/// CheckFailure = ALL_OLD`): the account is locked, this window's budget is spent, or the
/// window is not started yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRefusal {
    Locked,
    BudgetSpent,
    NewWindow,
}

/// The send budget's answer to a first round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendAdmission {
    Admitted,
    /// This window's codes are all sent: refused with its own error, which says when the
    /// next window starts (see `TriggerError::SendBudgetUsedUp`).
    BudgetSpent,
    /// The stack's ceiling for this hour is reached: refused like a spent budget, until the
    /// hour ends.
    CeilingReached,
    /// Locked, or the table could not be asked: refused like any failed sign-in.
    Refused,
}

impl SendAdmission {
    pub fn admission(self) -> Admission {
        match self {
            Self::Admitted => Admission::Admitted,
            Self::BudgetSpent | Self::CeilingReached | Self::Refused => Admission::Refused,
        }
    }
}

/// Seconds until the current send window ends, when a spent budget is whole again.
pub fn window_ends_in(config: &LimitsConfig, now: u64) -> u64 {
    config.window_seconds - now % config.window_seconds
}

pub fn send_refusal(
    config: &LimitsConfig,
    locked_until: Option<u64>,
    send_window: Option<u64>,
    now: u64,
) -> SendRefusal {
    let current = now / config.window_seconds;
    if lock_admission(locked_until, now) == Admission::Refused {
        SendRefusal::Locked
    } else if send_window.is_some_and(|window| window >= current) {
        SendRefusal::BudgetSpent
    } else {
        SendRefusal::NewWindow
    }
}

/// The one item that counts every sign-in start of the stack in the current clock hour, for
/// `limits.max_sends_per_hour`. Every first round counts, whether a code is sent or the
/// send is imitated (an unknown user), so the ceiling tells nobody which addresses exist.
pub const STACK_KEY: &str = "stack#starts";
/// The clock hour the stack's count belongs to (its number since the epoch).
pub const HOUR: &str = "hour";
const HOUR_SECONDS: u64 = 3600;

/// Counts one start against the stack's ceiling for this hour; refused when the ceiling is
/// reached or the count belongs to another hour (then [`ceiling_refusal`] says to start the
/// hour with [`open_stack_hour`]).
pub fn count_stack_start(max_per_hour: u32, now: u64) -> Update {
    update(
        STACK_KEY,
        "SET sends = sends + :one, expires_at = :expires",
        "#hour = :hour AND sends < :max",
        &[("#hour", HOUR.to_owned())],
        &[
            (":one", Value::N(1)),
            (":hour", Value::N(now / HOUR_SECONDS)),
            (":max", Value::N(max_per_hour.into())),
            (":expires", Value::N(now + 2 * HOUR_SECONDS)),
        ],
    )
}

/// Starts this hour's count with this start as its first; refused when the hour was started
/// already (by a concurrent start: then counting again decides).
pub fn open_stack_hour(now: u64) -> Update {
    update(
        STACK_KEY,
        "SET #hour = :hour, sends = :one, expires_at = :expires",
        "attribute_not_exists(#hour) OR #hour < :hour",
        &[("#hour", HOUR.to_owned())],
        &[
            (":one", Value::N(1)),
            (":hour", Value::N(now / HOUR_SECONDS)),
            (":expires", Value::N(now + 2 * HOUR_SECONDS)),
        ],
    )
}

/// What a refused [`count_stack_start`] means, from the item as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeilingRefusal {
    Reached,
    NewHour,
}

pub fn ceiling_refusal(hour: Option<u64>, now: u64) -> CeilingRefusal {
    if hour.is_some_and(|hour| hour >= now / HOUR_SECONDS) {
        CeilingRefusal::Reached
    } else {
        CeilingRefusal::NewHour
    }
}

/// Seconds until the current clock hour ends, when a reached ceiling lifts.
pub fn hour_ends_in(now: u64) -> u64 {
    HOUR_SECONDS - now % HOUR_SECONDS
}

/// Counts one wrong answer, `guess` (its [`crate::verify::guess_id`], kept as `last_guess`:
/// the same answer to the same code again is not a new guess); refused when the account is locked, already at its
/// limit (then the answer is not counted as a guess at all), or when this very guess was the
/// last one counted (a repeat: its refusal changes nothing, as the lock the caller then
/// tries needs the count at the limit). The caller locks the account when the new count
/// reaches the limit.
pub fn record_failure(config: &LimitsConfig, key: &str, now: u64, guess: &str) -> Update {
    update(
        key,
        "ADD failures :one SET expires_at = :expires, last_guess = :guess",
        &format!(
            "{NOT_LOCKED} AND (attribute_not_exists(failures) OR failures < :max) \
             AND (attribute_not_exists(last_guess) OR last_guess <> :guess)"
        ),
        &[],
        &[
            (":one", Value::N(1)),
            (":now", Value::N(now)),
            (":max", Value::N(config.max_failures.into())),
            (":expires", Value::N(expires_at(config, now))),
            (":guess", Value::S(guess.to_owned())),
        ],
    )
}

/// Whether an answer's write calls for the lock: its failure count reached the limit, or it
/// was refused. A refusal while locked costs one more write that changes nothing (the lock
/// reset the count); a refusal at the limit with no lock (the lock's own write was lost)
/// writes the lock at last, instead of leaving the account refused until its record expires.
pub fn lock_due(config: &LimitsConfig, admission: Admission, failures: Option<u64>) -> bool {
    admission == Admission::Refused
        || failures.is_some_and(|count| count >= u64::from(config.max_failures))
}

/// What a read of the account's `locked_until` means now: a lock in force refuses.
pub fn lock_admission(locked_until: Option<u64>, now: u64) -> Admission {
    if locked_until.is_some_and(|until| until > now) {
        Admission::Refused
    } else {
        Admission::Admitted
    }
}

/// Locks the account and starts its count afresh for when the lock ends.
pub fn lock(config: &LimitsConfig, key: &str, now: u64) -> Update {
    update(
        key,
        "SET locked_until = :until, failures = :zero, expires_at = :expires",
        "failures >= :max",
        &[],
        &[
            (":until", Value::N(now + config.lockout_seconds)),
            (":zero", Value::N(0)),
            (":max", Value::N(config.max_failures.into())),
            (":expires", Value::N(expires_at(config, now))),
        ],
    )
}

/// A right answer: accepted only while the account is not locked (nor at its failure limit,
/// the moment before the lock is written), and then the failure count starts afresh.
pub fn record_success(config: &LimitsConfig, key: &str, now: u64) -> Update {
    update(
        key,
        "SET failures = :zero, expires_at = :expires",
        &format!("{NOT_LOCKED} AND (attribute_not_exists(failures) OR failures < :max)"),
        &[],
        &[
            (":zero", Value::N(0)),
            (":now", Value::N(now)),
            (":max", Value::N(config.max_failures.into())),
            (":expires", Value::N(expires_at(config, now))),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LimitsConfig {
        LimitsConfig {
            table: "acme-limits".into(),
            max_sends: 5,
            window_seconds: 3600,
            max_failures: 10,
            lockout_seconds: 900,
            max_sends_per_hour: None,
        }
    }

    #[test]
    fn the_stack_ceiling_counts_within_the_clock_hour_and_says_when_it_lifts() {
        let now = 7 * 3600 + 1800;
        let count = count_stack_start(300, now);
        assert_eq!(count.key, STACK_KEY);
        assert_eq!(count.condition, "#hour = :hour AND sends < :max");
        assert_eq!(count.values[":hour"], Value::N(7));
        assert_eq!(count.values[":max"], Value::N(300));
        let open = open_stack_hour(now);
        assert_eq!(
            open.condition,
            "attribute_not_exists(#hour) OR #hour < :hour"
        );
        assert_eq!(open.values[":hour"], Value::N(7));
        assert_eq!(ceiling_refusal(Some(7), now), CeilingRefusal::Reached);
        assert_eq!(ceiling_refusal(Some(6), now), CeilingRefusal::NewHour);
        assert_eq!(ceiling_refusal(None, now), CeilingRefusal::NewHour);
        assert_eq!(hour_ends_in(now), 1800);
        assert_eq!(
            SendAdmission::CeilingReached.admission(),
            Admission::Refused
        );
    }

    #[test]
    fn one_account_whatever_the_case_and_no_address_in_the_key() {
        let key = account_key("us-east-1_AbC", " Alice@Example.COM");
        assert_eq!(key, account_key("us-east-1_AbC", "alice@example.com"));
        assert_ne!(key, account_key("us-east-1_Other", "alice@example.com"));
        assert!(!key.contains("alice") && !key.contains("example"));
        assert_eq!(key.len(), "acct#".len() + 64);
    }

    #[test]
    fn only_a_lock_in_force_refuses() {
        assert_eq!(lock_admission(None, 100), Admission::Admitted);
        assert_eq!(lock_admission(Some(100), 100), Admission::Admitted);
        assert_eq!(lock_admission(Some(101), 100), Admission::Refused);
    }

    #[test]
    fn a_pending_sign_up_is_its_own_item_open_for_its_days() {
        let key = sign_up_key("us-east-1_AbC", "Alice@Example.com");
        assert_eq!(key, sign_up_key("us-east-1_AbC", "alice@example.com"));
        assert_ne!(key, account_key("us-east-1_AbC", "alice@example.com"));
        assert!(key.starts_with("signup#") && !key.contains("alice"));
        let record = record_sign_up(&key, 500, 86_400);
        assert_eq!(record.values[":now"], Value::N(500));
        assert_eq!(record.values[":expires"], Value::N(86_900));
        assert!(record.expression.contains(TTL_ATTRIBUTE), "{record:?}");
        assert!(pending_is_open(Some(86_900), 86_899));
        assert!(
            !pending_is_open(Some(86_900), 86_900),
            "expired, not yet deleted by TTL"
        );
        assert!(
            pending_is_open(None, 1_000_000),
            "a record from before expiry existed"
        );
    }

    #[test]
    fn a_send_counts_in_the_current_window_or_starts_it() {
        let now = 7 * 3600 + 10;
        let count = count_send(&config(), "k", now);
        assert_eq!(count.values[":window"], Value::N(7));
        assert_eq!(count.values[":max"], Value::N(5));
        assert!(
            count
                .condition
                .contains("send_window = :window AND sends < :max")
        );
        assert!(count.condition.contains("locked_until <= :now"));
        let open = open_send_window(&config(), "k", now);
        assert_eq!(open.values[":window"], Value::N(7));
        assert!(open.condition.contains("send_window < :window"));
        assert!(open.condition.contains("locked_until <= :now"));
        // Starting a window replaces the count: nothing of an older window stays behind.
        assert!(open.expression.contains("sends = :one"), "{open:?}");
        assert!(!open.expression.contains("ADD"), "{open:?}");
    }

    #[test]
    fn a_refused_count_starts_the_window_only_when_it_belongs_to_an_older_one() {
        let config = config();
        let now = 7 * 3600 + 10;
        assert_eq!(
            send_refusal(&config, None, None, now),
            SendRefusal::NewWindow
        );
        assert_eq!(
            send_refusal(&config, None, Some(5), now),
            SendRefusal::NewWindow
        );
        assert_eq!(
            send_refusal(&config, None, Some(7), now),
            SendRefusal::BudgetSpent
        );
        assert_eq!(
            send_refusal(&config, Some(now + 60), Some(5), now),
            SendRefusal::Locked,
            "a locked account must not start a window"
        );
        assert_eq!(
            send_refusal(&config, Some(now + 60), Some(7), now),
            SendRefusal::Locked
        );
        assert_eq!(window_ends_in(&config, now), 3600 - 10);
        assert_eq!(window_ends_in(&config, 8 * 3600), 3600);
        assert_eq!(
            send_refusal(&config, Some(now), Some(5), now),
            SendRefusal::NewWindow
        );
    }

    #[test]
    fn the_same_guess_again_is_not_a_new_failure() {
        let failure = record_failure(&config(), "k", 1_000, "g1");
        assert_eq!(failure.values[":guess"], Value::S("g1".into()));
        assert!(failure.condition.contains("last_guess <> :guess"));
        assert!(failure.expression.contains("last_guess = :guess"));
    }

    #[test]
    fn failures_lock_at_the_limit_and_a_lock_lasts_its_time() {
        let config = config();
        assert!(!lock_due(&config, Admission::Admitted, Some(9)));
        assert!(lock_due(&config, Admission::Admitted, Some(10)));
        assert!(!lock_due(&config, Admission::Admitted, None));
        assert!(lock_due(&config, Admission::Refused, None));
        let lock = lock(&config, "k", 1_000);
        assert_eq!(lock.values[":until"], Value::N(1_900));
        assert_eq!(lock.condition, "failures >= :max");
        for update in [
            record_failure(&config, "k", 1_000, "g"),
            record_success(&config, "k", 1_000),
        ] {
            assert!(update.condition.contains("failures < :max"), "{update:?}");
            assert!(
                update.condition.contains("locked_until <= :now"),
                "{update:?}"
            );
        }
    }

    #[test]
    fn every_record_expires_after_the_longest_window_or_lockout() {
        let config = config();
        for update in [
            count_send(&config, "k", 100),
            open_send_window(&config, "k", 100),
            record_failure(&config, "k", 100, "g"),
            lock(&config, "k", 100),
            record_success(&config, "k", 100),
        ] {
            assert_eq!(
                update.values[":expires"],
                Value::N(100 + 3600 + RETENTION_MARGIN_SECONDS),
                "{update:?}"
            );
            assert!(update.expression.contains("expires_at = :expires"));
        }
    }

    #[test]
    fn the_counted_name_is_the_email_of_a_known_user_and_the_typed_name_otherwise() {
        let known =
            std::collections::HashMap::from([("email".to_owned(), "Alice@example.com".to_owned())]);
        assert_eq!(counted_name(&known, Some("3f6a-uuid")), "Alice@example.com");
        assert_eq!(
            counted_name(&Default::default(), Some("alice@example.com")),
            "alice@example.com"
        );
    }
}
