//! The app client: public (no secret), custom auth and refresh only, existence errors
//! prevented, token lifetimes from the spec, revocation on.

use aws_sdk_cognitoidentityprovider::types::{
    ExplicitAuthFlowsType, PreventUserExistenceErrorTypes, TimeUnitsType, TokenValidityUnitsType,
    UserPoolClientType,
};

use super::{ApplyCx, Handover, Observed, Produced, ReadCx};
use crate::error::{ProvisionError, already_gone_is_done, aws_error};
use crate::fields::{Fields, UpdateCall, Watched, list_field};

pub const AUTH_FLOWS: [&str; 2] = ["ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"];
/// What the app may read of a user, and the one thing a user may change about themselves.
/// `email` is not writable: an access token must not be able to move where codes go.
pub const READ_ATTRIBUTES: [&str; 3] = ["email", "email_verified", "locale"];
pub const WRITE_ATTRIBUTES: [&str; 1] = ["locale"];
/// Cognito's defaults, made explicit so drift notices when someone changes them.
pub const DEFAULT_ACCESS_TOKEN_MINUTES: u32 = 60;
pub const DEFAULT_ID_TOKEN_MINUTES: u32 = 60;
pub const DEFAULT_REFRESH_TOKEN_DAYS: u32 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub name: String,
    pub auth_session_minutes: u32,
    pub access_token_minutes: u32,
    pub id_token_minutes: u32,
    pub refresh_token_days: u32,
}

pub const UPDATES: &[UpdateCall] = &[UpdateCall {
    operation: "cognito-idp:UpdateUserPoolClient",
    fields: &[
        "explicit_auth_flows",
        "prevent_user_existence_errors",
        "auth_session_validity_minutes",
        "access_token_validity",
        "id_token_validity",
        "refresh_token_validity",
        "enable_token_revocation",
        "read_attributes",
        "write_attributes",
        "oauth_flows",
        "oauth_enabled",
        "callback_urls",
        "logout_urls",
    ],
}];
/// Other clients of the pool: another team's, perhaps with password flows. Reported, kept.
pub const WATCHED: &[Watched] = &[Watched {
    field: "other_clients",
    advice: "another app client can sign users in with flows this stack does not allow; delete it if nobody owns it, or check its auth flows",
}];
/// A client secret can be neither added nor removed after creation.
pub const REPLACE_ON: &[&str] = &["generate_secret"];

impl Desired {
    pub fn fields(&self) -> Fields {
        Fields::from([
            ("explicit_auth_flows", list_field(AUTH_FLOWS)),
            ("generate_secret", "false".to_owned()),
            ("prevent_user_existence_errors", "ENABLED".to_owned()),
            (
                "auth_session_validity_minutes",
                self.auth_session_minutes.to_string(),
            ),
            (
                "access_token_validity",
                format!("{} minutes", self.access_token_minutes),
            ),
            (
                "id_token_validity",
                format!("{} minutes", self.id_token_minutes),
            ),
            (
                "refresh_token_validity",
                format!("{} days", self.refresh_token_days),
            ),
            ("enable_token_revocation", "true".to_owned()),
            ("read_attributes", list_field(READ_ATTRIBUTES)),
            ("write_attributes", list_field(WRITE_ATTRIBUTES)),
            // The hosted UI and OAuth redirects are not part of this sign-in; every one of
            // them is a way in that these settings would otherwise leave open.
            ("oauth_flows", String::new()),
            ("oauth_enabled", "false".to_owned()),
            ("callback_urls", String::new()),
            ("logout_urls", String::new()),
            ("other_clients", String::new()),
        ])
    }
}

fn auth_flows() -> Vec<ExplicitAuthFlowsType> {
    AUTH_FLOWS.map(ExplicitAuthFlowsType::from).to_vec()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn token_units() -> TokenValidityUnitsType {
    TokenValidityUnitsType::builder()
        .access_token(TimeUnitsType::Minutes)
        .id_token(TimeUnitsType::Minutes)
        .refresh_token(TimeUnitsType::Days)
        .build()
}

/// `others`: the names of the pool's other clients.
pub fn fields_of(client: &UserPoolClientType, others: &[String]) -> Fields {
    let units = client.token_validity_units();
    let access = validity(
        client.access_token_validity(),
        units.and_then(|u| u.access_token()),
        TimeUnitsType::Hours,
    );
    let id = validity(
        client.id_token_validity(),
        units.and_then(|u| u.id_token()),
        TimeUnitsType::Hours,
    );
    let refresh = validity(
        Some(client.refresh_token_validity()),
        units.and_then(|u| u.refresh_token()),
        TimeUnitsType::Days,
    );
    Fields::from([
        (
            "explicit_auth_flows",
            list_field(client.explicit_auth_flows().iter().map(|f| f.as_str())),
        ),
        (
            "generate_secret",
            client.client_secret().is_some().to_string(),
        ),
        (
            "prevent_user_existence_errors",
            client
                .prevent_user_existence_errors()
                .map_or("LEGACY", |p| p.as_str())
                .to_owned(),
        ),
        (
            "auth_session_validity_minutes",
            client
                .auth_session_validity()
                .map_or_else(|| "3".to_owned(), |m| m.to_string()),
        ),
        ("access_token_validity", as_unit(access, 60, "minutes")),
        ("id_token_validity", as_unit(id, 60, "minutes")),
        ("refresh_token_validity", as_unit(refresh, 86_400, "days")),
        (
            "enable_token_revocation",
            client
                .enable_token_revocation()
                .unwrap_or(false)
                .to_string(),
        ),
        ("read_attributes", list_field(client.read_attributes())),
        ("write_attributes", list_field(client.write_attributes())),
        (
            "oauth_flows",
            list_field(client.allowed_o_auth_flows().iter().map(|f| f.as_str())),
        ),
        (
            "oauth_enabled",
            client
                .allowed_o_auth_flows_user_pool_client()
                .unwrap_or(false)
                .to_string(),
        ),
        ("callback_urls", list_field(client.callback_urls())),
        ("logout_urls", list_field(client.logout_urls())),
        ("other_clients", list_field(others)),
    ])
}

/// A token lifetime in seconds, from Cognito's value and unit (with Cognito's default unit).
fn validity(
    value: Option<i32>,
    unit: Option<&TimeUnitsType>,
    default_unit: TimeUnitsType,
) -> Option<i64> {
    let seconds_per = match unit.unwrap_or(&default_unit) {
        TimeUnitsType::Seconds => 1,
        TimeUnitsType::Minutes => 60,
        TimeUnitsType::Hours => 3_600,
        TimeUnitsType::Days => 86_400,
        _ => return None,
    };
    value.map(|v| i64::from(v) * seconds_per)
}

fn as_unit(seconds: Option<i64>, per: i64, unit: &str) -> String {
    match seconds {
        Some(s) if s % per == 0 => format!("{} {unit}", s / per),
        Some(s) => format!("{s} seconds"),
        None => "(none)".to_owned(),
    }
}

/// Every client of the pool by name and id, across pages: a pool may hold more than one
/// page of clients, and missing ours would create a second one.
pub async fn list(cx: &ReadCx<'_>, pool_id: &str) -> Result<Vec<(String, String)>, ProvisionError> {
    let mut clients = Vec::new();
    let mut next_token = None;
    loop {
        let page = cx
            .clients
            .cognito
            .list_user_pool_clients()
            .user_pool_id(pool_id)
            .max_results(60)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    format!("app client {}", cx.names.app_client()),
                    "cognito-idp:ListUserPoolClients",
                    e,
                )
            })?;
        clients.extend(
            page.user_pool_clients()
                .iter()
                .filter_map(|c| Some((c.client_name()?.to_owned(), c.client_id()?.to_owned()))),
        );
        next_token = page.next_token;
        if next_token.is_none() {
            return Ok(clients);
        }
    }
}

/// A read on speculation: a stale or missing locator only costs the round it would have saved.
pub async fn describe_located(
    cx: &ReadCx<'_>,
    pool_id: &str,
    client_id: Option<&str>,
) -> Option<UserPoolClientType> {
    cx.clients
        .cognito
        .describe_user_pool_client()
        .user_pool_id(pool_id)
        .client_id(client_id?)
        .send()
        .await
        .ok()?
        .user_pool_client
}

pub async fn read(
    cx: &ReadCx<'_>,
    pool_id: &str,
    client_id: &str,
    others: &[String],
) -> Result<Observed, ProvisionError> {
    let described = cx
        .clients
        .cognito
        .describe_user_pool_client()
        .user_pool_id(pool_id)
        .client_id(client_id)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("app client {}", cx.names.app_client()),
                "cognito-idp:DescribeUserPoolClient",
                e,
            )
        })?;
    // Clients take no tags; one inside our own pool is ours.
    Ok(described
        .user_pool_client
        .map_or(Observed::Absent, |client| {
            Observed::Owned(fields_of(&client, others))
        }))
}

/// Like the pool: CreateUserPoolClient is not idempotent, so no blind retry; after an
/// ambiguous failure the pool's clients are listed, and the create is sent once more only when
/// ours is not among them.
pub async fn create(
    cx: &ApplyCx<'_>,
    desired: &Desired,
    handover: &Handover,
) -> Result<Produced, ProvisionError> {
    let resource = format!("app client {}", desired.name);
    let pool = handover.pool(&resource)?;
    let request = cx
        .clients
        .cognito
        .create_user_pool_client()
        .user_pool_id(&pool.id)
        .client_name(&desired.name)
        .generate_secret(false)
        .set_explicit_auth_flows(Some(auth_flows()))
        .prevent_user_existence_errors(PreventUserExistenceErrorTypes::Enabled)
        .auth_session_validity(desired.auth_session_minutes as i32)
        .access_token_validity(desired.access_token_minutes as i32)
        .id_token_validity(desired.id_token_minutes as i32)
        .refresh_token_validity(desired.refresh_token_days as i32)
        .token_validity_units(token_units())
        .enable_token_revocation(true)
        .set_read_attributes(Some(strings(&READ_ATTRIBUTES)))
        .set_write_attributes(Some(strings(&WRITE_ATTRIBUTES)));
    let send = || {
        request
            .clone()
            .customize()
            .config_override(super::without_retries())
            .send()
    };
    let find = || async {
        let tagging = super::Tagging::owned_by(&cx.names.stack);
        let read = ReadCx {
            clients: cx.clients,
            names: cx.names,
            tagging: &tagging,
        };
        Ok(list(&read, &pool.id)
            .await?
            .into_iter()
            .find(|(name, _)| *name == desired.name)
            .map(|(_, id)| id))
    };
    let created = match super::create_without_duplicates(
        &resource,
        "cognito-idp:CreateUserPoolClient",
        send,
        find,
    )
    .await?
    {
        super::Created::New(created) => created,
        super::Created::Found(id) => return Ok(Produced::Client(id)),
    };
    created
        .user_pool_client
        .and_then(|c| c.client_id)
        .map(Produced::Client)
        .ok_or_else(|| {
            ProvisionError::state(resource, "CreateUserPoolClient returned no client id")
        })
}

/// Members of `UpdateUserPoolClientInput` that `update` sends: ours from the desired value,
/// every other one echoed from DescribeUserPoolClient (sent whenever the client has it).
pub const SENT: &[&str] = &[
    "UserPoolId",
    "ClientId",
    "ClientName",
    "RefreshTokenValidity",
    "AccessTokenValidity",
    "IdTokenValidity",
    "TokenValidityUnits",
    "ReadAttributes",
    "WriteAttributes",
    "ExplicitAuthFlows",
    "SupportedIdentityProviders",
    "CallbackURLs",
    "LogoutURLs",
    "AllowedOAuthFlows",
    "AllowedOAuthScopes",
    "AllowedOAuthFlowsUserPoolClient",
    "AnalyticsConfiguration",
    "PreventUserExistenceErrors",
    "EnableTokenRevocation",
    "EnablePropagateAdditionalUserContextData",
    "AuthSessionValidity",
    "RefreshTokenRotation",
];
/// Members of `UpdateUserPoolClientInput` that `update` deliberately leaves out, each with
/// why. The wire test fails when the SDK gains a member that is in neither list.
pub const NOT_SENT: &[(&str, &str)] = &[(
    "DefaultRedirectURI",
    "OAuth is off and the callback URLs are cleared, so no redirect may remain",
)];

/// Like the pool: UpdateUserPoolClient resets what it is not given, so it gets everything
/// the client has now, with our fields set as desired.
pub async fn update(
    cx: &ApplyCx<'_>,
    desired: &Desired,
    handover: &Handover,
) -> Result<(), ProvisionError> {
    let resource = format!("app client {}", desired.name);
    let pool = handover.pool(&resource)?;
    let client_id = handover
        .app_client_id
        .as_deref()
        .ok_or_else(|| ProvisionError::state(&resource, "the app client does not exist yet"))?;
    let client = cx
        .clients
        .cognito
        .describe_user_pool_client()
        .user_pool_id(&pool.id)
        .client_id(client_id)
        .send()
        .await
        .map_err(|e| aws_error(&resource, "cognito-idp:DescribeUserPoolClient", e))?
        .user_pool_client
        .ok_or_else(|| {
            ProvisionError::state(&resource, "DescribeUserPoolClient returned no client")
        })?;
    cx.clients
        .cognito
        .update_user_pool_client()
        .user_pool_id(&pool.id)
        .client_id(client_id)
        .set_client_name(client.client_name)
        .refresh_token_validity(desired.refresh_token_days as i32)
        .access_token_validity(desired.access_token_minutes as i32)
        .id_token_validity(desired.id_token_minutes as i32)
        .token_validity_units(token_units())
        .set_read_attributes(Some(strings(&READ_ATTRIBUTES)))
        .set_write_attributes(Some(strings(&WRITE_ATTRIBUTES)))
        .set_explicit_auth_flows(Some(auth_flows()))
        .set_supported_identity_providers(client.supported_identity_providers)
        .set_callback_urls(Some(Vec::new()))
        .set_logout_urls(Some(Vec::new()))
        .set_allowed_o_auth_flows(Some(Vec::new()))
        .set_allowed_o_auth_scopes(Some(Vec::new()))
        .allowed_o_auth_flows_user_pool_client(false)
        .set_analytics_configuration(client.analytics_configuration)
        .prevent_user_existence_errors(PreventUserExistenceErrorTypes::Enabled)
        .enable_token_revocation(true)
        .set_enable_propagate_additional_user_context_data(
            client.enable_propagate_additional_user_context_data,
        )
        .auth_session_validity(desired.auth_session_minutes as i32)
        .set_refresh_token_rotation(client.refresh_token_rotation)
        .send()
        .await
        .map_err(|e| aws_error(&resource, "cognito-idp:UpdateUserPoolClient", e))?;
    Ok(())
}

pub async fn delete(cx: &ApplyCx<'_>, handover: &Handover) -> Result<(), ProvisionError> {
    let (Some(pool), Some(client_id)) = (&handover.user_pool, &handover.app_client_id) else {
        return Ok(());
    };
    already_gone_is_done(
        cx.clients
            .cognito
            .delete_user_pool_client()
            .user_pool_id(&pool.id)
            .client_id(client_id)
            .send()
            .await,
        |e| e.is_resource_not_found_exception(),
        format!("app client {}", cx.names.app_client()),
        "cognito-idp:DeleteUserPoolClient",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::tests::assert_kind_watches;

    #[test]
    fn every_field_is_read_back_and_carried_by_an_update_or_a_replace() {
        let desired = Desired {
            name: "acme-app".into(),
            auth_session_minutes: 3,
            access_token_minutes: 60,
            id_token_minutes: 5,
            refresh_token_days: 30,
        };
        let client = UserPoolClientType::builder()
            .set_explicit_auth_flows(Some(auth_flows()))
            .prevent_user_existence_errors(PreventUserExistenceErrorTypes::Enabled)
            .auth_session_validity(3)
            .access_token_validity(60)
            .id_token_validity(5)
            .refresh_token_validity(30)
            .token_validity_units(token_units())
            .enable_token_revocation(true)
            .set_read_attributes(Some(strings(&READ_ATTRIBUTES)))
            .set_write_attributes(Some(strings(&WRITE_ATTRIBUTES)))
            .build();
        let read = fields_of(&client, &[]);
        assert_eq!(read, desired.fields());
        assert_kind_watches(&desired.fields(), &read, UPDATES, REPLACE_ON, WATCHED);
        let crowded = fields_of(&client, &["legacy-web".to_owned()]);
        assert_eq!(crowded["other_clients"], "legacy-web");
    }

    #[test]
    fn lifetimes_read_in_any_unit_compare_in_ours() {
        let client = UserPoolClientType::builder()
            .access_token_validity(1)
            .token_validity_units(
                TokenValidityUnitsType::builder()
                    .access_token(TimeUnitsType::Hours)
                    .build(),
            )
            .build();
        assert_eq!(
            fields_of(&client, &[])["access_token_validity"],
            "60 minutes"
        );
    }
}
