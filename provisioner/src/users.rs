//! `users add|list|remove`: administrator-created users with a verified email.

use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType};

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

pub async fn list(session: &Session) -> Result<Vec<(String, String)>, ProvisionError> {
    let outputs = session.outputs()?;
    let mut users = Vec::new();
    let mut token = None;
    loop {
        let page = session
            .clients
            .cognito
            .list_users()
            .user_pool_id(&outputs.user_pool_id)
            .set_pagination_token(token)
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    format!("user pool {}", outputs.user_pool_id),
                    "cognito-idp:ListUsers",
                    e,
                )
            })?;
        for user in page.users() {
            let email = user
                .attributes()
                .iter()
                .find(|a| a.name() == "email")
                .and_then(|a| a.value())
                .or(user.username())
                .unwrap_or_default();
            let status = user.user_status().map(|s| s.as_str()).unwrap_or("UNKNOWN");
            users.push((email.to_owned(), status.to_owned()));
        }
        token = page.pagination_token;
        if token.is_none() {
            break;
        }
    }
    users.sort();
    Ok(users)
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
