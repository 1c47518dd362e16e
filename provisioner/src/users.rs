//! `users add|list|remove|unlock`: administrator-created users with a verified email, and
//! their standing with the abuse limits.

use std::collections::HashMap;

use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType, UserType};

use crate::error::{ProvisionError, aws_error};
use crate::session::Session;

/// What `add` and `remove` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Done,
    /// Already so: the user existed (add) or did not (remove).
    AlreadySo,
}

pub async fn add(session: &Session, email: &str) -> Result<Change, ProvisionError> {
    let outputs = session.outputs()?;
    let cognito = &session.clients.cognito;
    let resource = format!("user {email}");
    let attribute = |name: &str, value: &str| {
        AttributeType::builder()
            .name(name)
            .value(value)
            .build()
            .expect("name is set")
    };
    match cognito
        .admin_create_user()
        .user_pool_id(&outputs.user_pool_id)
        .username(email)
        .user_attributes(attribute("email", email))
        .user_attributes(attribute("email_verified", "true"))
        // No invitation: the user signs in with a code whenever they like.
        .message_action(MessageActionType::Suppress)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_username_exists_exception()) =>
        {
            return Ok(Change::AlreadySo);
        }
        Err(e) => return Err(aws_error(resource, "cognito-idp:AdminCreateUser", e)),
    }
    // A created user waits in FORCE_CHANGE_PASSWORD; a random password nobody knows moves it
    // to CONFIRMED, which CUSTOM_AUTH needs. No password flow is enabled on the client.
    cognito
        .admin_set_user_password()
        .user_pool_id(&outputs.user_pool_id)
        .username(email)
        .password(unusable_password()?)
        .permanent(true)
        .send()
        .await
        .map_err(|e| aws_error(&resource, "cognito-idp:AdminSetUserPassword", e))?;
    Ok(Change::Done)
}

/// 32 random bytes in hex, plus one character of each class Cognito's default policy asks for.
fn unusable_password() -> Result<String, ProvisionError> {
    let mut hex = String::new();
    for _ in 0..2 {
        let bytes = triggers::code::random_salt().map_err(|e| {
            ProvisionError::state(
                "password generator",
                format!("the OS random source failed: {e}"),
            )
        })?;
        hex.extend(bytes.iter().map(|b| format!("{b:02x}")));
    }
    Ok(format!("Aa1!{hex}"))
}

/// A user as `users list` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub email: String,
    pub status: String,
    /// Unix seconds until which the account is locked by the failure limit, if it is.
    pub locked_until: Option<u64>,
}

impl User {
    /// Whole minutes (rounded up) the lock has left, if the account is locked.
    pub fn lock_minutes_left(&self) -> Option<u64> {
        let now = triggers::unix_now();
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| (until - now).div_ceil(60))
    }
}

/// Every user of the stack's pool, page by page.
async fn pool_users(session: &Session, pool_id: &str) -> Result<Vec<UserType>, ProvisionError> {
    let mut users = Vec::new();
    let mut token = None;
    loop {
        let page = session
            .clients
            .cognito
            .list_users()
            .user_pool_id(pool_id)
            .set_pagination_token(token)
            .send()
            .await
            .map_err(|e| aws_error(format!("user pool {pool_id}"), "cognito-idp:ListUsers", e))?;
        users.extend(page.users().iter().cloned());
        token = page.pagination_token;
        if token.is_none() {
            return Ok(users);
        }
    }
}

fn attribute<'a>(user: &'a UserType, name: &str) -> Option<&'a str> {
    user.attributes()
        .iter()
        .find(|a| a.name() == name)
        .and_then(|a| a.value())
}

pub async fn list(session: &Session) -> Result<Vec<User>, ProvisionError> {
    let outputs = session.outputs()?;
    let locked = locked_accounts(session).await?;
    let mut users: Vec<User> = pool_users(session, &outputs.user_pool_id)
        .await?
        .iter()
        .map(|user| {
            let email = attribute(user, "email")
                .or(user.username())
                .unwrap_or_default();
            let key = triggers::limits::account_key(&outputs.user_pool_id, email);
            User {
                email: email.to_owned(),
                status: user
                    .user_status()
                    .map_or("UNKNOWN", |s| s.as_str())
                    .to_owned(),
                locked_until: locked.get(&key).copied(),
            }
        })
        .collect();
    users.sort_by(|a, b| a.email.cmp(&b.email));
    Ok(users)
}

/// The accounts locked now, by their key in the limits table.
async fn locked_accounts(session: &Session) -> Result<HashMap<String, u64>, ProvisionError> {
    use aws_sdk_dynamodb::types::AttributeValue;
    use triggers::limits::{KEY, LOCKED_UNTIL};
    let table = session.observation.names.limits_table();
    let now = triggers::unix_now();
    let mut locked = HashMap::new();
    let mut start = None;
    loop {
        let page = session
            .clients
            .dynamodb
            .scan()
            .table_name(&table)
            .filter_expression("locked_until > :now")
            .projection_expression("#key, locked_until")
            .expression_attribute_names("#key", KEY)
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| aws_error(format!("dynamodb table {table}"), "dynamodb:Scan", e))?;
        for item in page.items() {
            let key = item.get(KEY).and_then(|v| v.as_s().ok());
            let until = item
                .get(LOCKED_UNTIL)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok());
            if let (Some(key), Some(until)) = (key, until) {
                locked.insert(key.clone(), until);
            }
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(locked);
        }
    }
}

/// Clears an account's send budget, failure count and lock, for support staff.
pub async fn unlock(session: &Session, email: &str) -> Result<Change, ProvisionError> {
    use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
    let outputs = session.outputs()?;
    let table = session.observation.names.limits_table();
    let deleted = session
        .clients
        .dynamodb
        .delete_item()
        .table_name(&table)
        .key(
            triggers::limits::KEY,
            AttributeValue::S(triggers::limits::account_key(&outputs.user_pool_id, email)),
        )
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .map_err(|e| aws_error(format!("dynamodb table {table}"), "dynamodb:DeleteItem", e))?;
    Ok(if deleted.attributes().is_some_and(|a| !a.is_empty()) {
        Change::Done
    } else {
        Change::AlreadySo
    })
}

pub async fn remove(session: &Session, email: &str) -> Result<Change, ProvisionError> {
    let outputs = session.outputs()?;
    match session
        .clients
        .cognito
        .admin_delete_user()
        .user_pool_id(&outputs.user_pool_id)
        .username(email)
        .send()
        .await
    {
        Ok(_) => Ok(Change::Done),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_user_not_found_exception()) =>
        {
            Ok(Change::AlreadySo)
        }
        Err(e) => Err(aws_error(
            format!("user {email}"),
            "cognito-idp:AdminDeleteUser",
            e,
        )),
    }
}

/// Accounts self sign-up created that never proved their address and can no longer get a
/// code: unverified, with their pending record expired (`sign_up.pending_days`) or gone.
/// Each still counts as a user (and, signed in to or not, may count as a monthly active
/// user); nobody can use it.
pub async fn stale_sign_ups(session: &Session) -> Result<Vec<String>, ProvisionError> {
    let outputs = session.outputs()?;
    let now = triggers::unix_now();
    let mut stale = Vec::new();
    for user in pool_users(session, &outputs.user_pool_id).await? {
        if attribute(&user, "email_verified") == Some("true") {
            continue;
        }
        let Some(email) = attribute(&user, "email") else {
            continue;
        };
        let record = pending_record(session, &outputs.user_pool_id, email).await?;
        let open =
            record.is_some_and(|expires_at| triggers::limits::pending_is_open(expires_at, now));
        if !open {
            stale.push(email.to_owned());
        }
    }
    stale.sort();
    Ok(stale)
}

/// The pending sign-up record of `email`: `None` when there is none, else its expiry.
async fn pending_record(
    session: &Session,
    pool_id: &str,
    email: &str,
) -> Result<Option<Option<u64>>, ProvisionError> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let table = session.observation.names.limits_table();
    let item = session
        .clients
        .dynamodb
        .get_item()
        .table_name(&table)
        .key(
            triggers::limits::KEY,
            AttributeValue::S(triggers::limits::sign_up_key(pool_id, email)),
        )
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| aws_error(format!("dynamodb table {table}"), "dynamodb:GetItem", e))?
        .item;
    Ok(item.map(|item| {
        item.get(triggers::limits::TTL_ATTRIBUTE)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
    }))
}

/// Removes a stale sign-up: the account, then what is left of its pending record.
pub async fn remove_sign_up(session: &Session, email: &str) -> Result<Change, ProvisionError> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let outputs = session.outputs()?;
    let removed = remove(session, email).await?;
    let table = session.observation.names.limits_table();
    session
        .clients
        .dynamodb
        .delete_item()
        .table_name(&table)
        .key(
            triggers::limits::KEY,
            AttributeValue::S(triggers::limits::sign_up_key(&outputs.user_pool_id, email)),
        )
        .send()
        .await
        .map_err(|e| aws_error(format!("dynamodb table {table}"), "dynamodb:DeleteItem", e))?;
    Ok(removed)
}
