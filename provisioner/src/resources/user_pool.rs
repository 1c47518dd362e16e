//! The Cognito user pool: email usernames, case-insensitive, our three sign-in triggers
//! (and PreSignUp with self sign-up), deletion protection, the Lite tier unless the spec
//! asks for more, the stack's tags.

use std::collections::HashMap;

use aws_sdk_cognitoidentityprovider::types::{
    AccountRecoverySettingType, AdminCreateUserConfigType, DeletionProtectionType,
    LambdaConfigType, RecoveryOptionNameType, RecoveryOptionType, UserAttributeUpdateSettingsType,
    UserPoolTierType, UserPoolType, UsernameAttributeType, UsernameConfigurationType,
    VerifiedAttributeType,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;

use super::{ApplyCx, Handover, Observed, PoolRef, Produced, ReadCx, Tagging};
use crate::error::{ProvisionError, already_gone_is_done, aws_error};
use crate::fields::{Fields, Tags, UpdateCall, Watched, list_field};
use crate::naming::{OWNER_TAG, TriggerKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub name: String,
    /// Define, Create and Verify, in that order.
    pub triggers: [String; 3],
    /// Our PreSignUp function while the spec enables self sign-up; the slot is this
    /// stack's either way, so a PreSignUp left there otherwise is removed.
    pub pre_sign_up: Option<String>,
    pub deletion_protection: bool,
    /// `LITE`, `ESSENTIALS` or `PLUS`.
    pub tier: String,
    pub tags: Tags,
}

pub const UPDATES: &[UpdateCall] = &[UpdateCall {
    operation: "cognito-idp:UpdateUserPool",
    fields: &[
        "lambda_triggers",
        "pre_sign_up_trigger",
        "deletion_protection",
        "tier",
        "tags",
        "auto_verified_attributes",
        "email_change_needs_verification",
        "account_recovery",
        "self_sign_up",
    ],
}];
/// Triggers another team may have added: reported, kept. Removing them could break what
/// they built; leaving them unreported could leave a token-minting trigger unnoticed.
pub const WATCHED: &[Watched] = &[Watched {
    field: "other_triggers",
    advice: "a trigger this stack does not manage runs on every sign-in; remove it from the pool if nobody owns it",
}];
/// Cognito fixes both at creation; a difference means a new pool, and so losing every user.
pub const REPLACE_ON: &[&str] = &["username_attributes", "case_sensitive"];

impl Desired {
    pub fn fields(&self) -> Fields {
        Fields::from([
            ("username_attributes", "email".to_owned()),
            // `Alice@x` and `alice@x` must be one user: people do not type case consistently.
            ("case_sensitive", "false".to_owned()),
            ("lambda_triggers", triggers_field(&self.triggers)),
            (
                "deletion_protection",
                protection(self.deletion_protection).as_str().to_owned(),
            ),
            ("tier", self.tier.clone()),
            ("tags", super::tags_field(&self.tags)),
            // Codes go to the address Cognito verified, and a changed address stays
            // unverified (so gets no code) until its owner confirms it.
            ("auto_verified_attributes", "email".to_owned()),
            ("email_change_needs_verification", "email".to_owned()),
            // Recovery mails would bypass the sign-in's limits; only an administrator recovers.
            ("account_recovery", "admin_only".to_owned()),
            (
                "pre_sign_up_trigger",
                trigger_or_none(self.pre_sign_up.as_deref()),
            ),
            // Users sign up only through our PreSignUp trigger; without it only an
            // administrator adds them (`cargo xtask users add`).
            (
                "self_sign_up",
                sign_up_field(self.pre_sign_up.is_some()).to_owned(),
            ),
            ("other_triggers", String::new()),
        ])
    }

    fn lambda_config(&self, existing: Option<LambdaConfigType>) -> LambdaConfigType {
        // Keep any trigger we do not manage (pre sign-up, custom message, ...).
        let mut config = existing.unwrap_or_else(|| LambdaConfigType::builder().build());
        let [define, create, verify] = self.triggers.clone();
        config.define_auth_challenge = Some(define);
        config.create_auth_challenge = Some(create);
        config.verify_auth_challenge_response = Some(verify);
        config.pre_sign_up.clone_from(&self.pre_sign_up);
        config
    }

    fn admin_create_user_only(&self) -> bool {
        self.pre_sign_up.is_none()
    }
}

fn sign_up_field(enabled: bool) -> &'static str {
    if enabled { "enabled" } else { "disabled" }
}

fn trigger_or_none(arn: Option<&str>) -> String {
    arn.unwrap_or("(none)").to_owned()
}

fn email_change_needs_verification() -> UserAttributeUpdateSettingsType {
    UserAttributeUpdateSettingsType::builder()
        .attributes_require_verification_before_update(VerifiedAttributeType::Email.as_str().into())
        .build()
}

fn admin_only_recovery() -> AccountRecoverySettingType {
    AccountRecoverySettingType::builder()
        .recovery_mechanisms(
            RecoveryOptionType::builder()
                .name(RecoveryOptionNameType::AdminOnly)
                .priority(1)
                .build()
                .expect("name and priority are set"),
        )
        .build()
}

fn protection(on: bool) -> DeletionProtectionType {
    if on {
        DeletionProtectionType::Active
    } else {
        DeletionProtectionType::Inactive
    }
}

fn triggers_field<S: AsRef<str>>([define, create, verify]: &[S; 3]) -> String {
    format!(
        "define={}, create={}, verify={}",
        define.as_ref(),
        create.as_ref(),
        verify.as_ref()
    )
}

pub fn fields_of(pool: &UserPoolType, tagging: &Tagging) -> Fields {
    let lambda = pool.lambda_config();
    let arn = |kind: TriggerKind| {
        lambda
            .and_then(|l| match kind {
                TriggerKind::Define => l.define_auth_challenge(),
                TriggerKind::Create => l.create_auth_challenge(),
                TriggerKind::Verify => l.verify_auth_challenge_response(),
                TriggerKind::PreSignUp => l.pre_sign_up(),
            })
            .unwrap_or("(none)")
    };
    let tags: HashMap<String, String> = pool.user_pool_tags().cloned().unwrap_or_default();
    Fields::from([
        (
            "username_attributes",
            list_field(pool.username_attributes().iter().map(|a| a.as_str())),
        ),
        (
            "case_sensitive",
            // A pool created without the setting is case-sensitive.
            pool.username_configuration()
                .is_none_or(|c| c.case_sensitive())
                .to_string(),
        ),
        (
            "lambda_triggers",
            triggers_field(&TriggerKind::CUSTOM_AUTH.map(arn)),
        ),
        (
            "pre_sign_up_trigger",
            trigger_or_none(lambda.and_then(|l| l.pre_sign_up())),
        ),
        (
            "deletion_protection",
            pool.deletion_protection()
                .map_or("INACTIVE", |d| d.as_str())
                .to_owned(),
        ),
        (
            "tier",
            // Pools from before tiers existed bill as Essentials.
            pool.user_pool_tier()
                .map_or("ESSENTIALS", |t| t.as_str())
                .to_owned(),
        ),
        ("tags", tagging.field(&tags)),
        (
            "auto_verified_attributes",
            list_field(pool.auto_verified_attributes().iter().map(|a| a.as_str())),
        ),
        (
            "email_change_needs_verification",
            list_field(
                pool.user_attribute_update_settings()
                    .map(|u| u.attributes_require_verification_before_update())
                    .unwrap_or_default()
                    .iter()
                    .map(|a| a.as_str()),
            ),
        ),
        (
            "account_recovery",
            list_field(
                pool.account_recovery_setting()
                    .map(|r| r.recovery_mechanisms())
                    .unwrap_or_default()
                    .iter()
                    .map(|m| m.name().as_str()),
            ),
        ),
        (
            "self_sign_up",
            sign_up_field(
                !pool
                    .admin_create_user_config()
                    .is_some_and(|c| c.allow_admin_create_user_only()),
            )
            .to_owned(),
        ),
        ("other_triggers", other_triggers(lambda)),
    ])
}

/// Every trigger of the pool besides our three, from the SDK's own rendering of the
/// configuration, so a trigger type Cognito adds later shows up too.
fn other_triggers(lambda: Option<&LambdaConfigType>) -> String {
    let Some(config) = lambda else {
        return String::new();
    };
    let mut others = config.clone();
    others.define_auth_challenge = None;
    others.create_auth_challenge = None;
    others.verify_auth_challenge_response = None;
    others.pre_sign_up = None;
    // `LambdaConfigType { pre_sign_up: None, pre_token_generation: Some("arn"), .. }`: keep
    // the members that are set. The rendering is only compared and shown, never parsed back.
    let rendered = format!("{others:?}");
    let inner = rendered
        .split_once('{')
        .and_then(|(_, rest)| rest.rsplit_once('}'))
        .map_or("", |(inner, _)| inner);
    let mut members = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (index, c) in inner.char_indices() {
        match c {
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                members.push(&inner[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    members.push(&inner[start..]);
    list_field(
        members
            .into_iter()
            .map(str::trim)
            .filter(|m| !m.is_empty() && !m.ends_with(": None")),
    )
}

/// One page of the account's pools: the ids of those with the stack's pool name, and the
/// token of the next page, if any.
pub async fn list_page(
    cx: &ReadCx<'_>,
    token: Option<String>,
) -> Result<(Vec<String>, Option<String>), ProvisionError> {
    let pool_name = cx.names.user_pool();
    let page = cx
        .clients
        .cognito
        .list_user_pools()
        .max_results(60)
        .set_next_token(token)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("user pool {pool_name}"),
                "cognito-idp:ListUserPools",
                e,
            )
        })?;
    let named = page
        .user_pools()
        .iter()
        .filter(|p| p.name() == Some(pool_name.as_str()))
        .filter_map(|p| p.id().map(str::to_owned))
        .collect();
    Ok((named, page.next_token))
}

/// The ids of every pool with the stack's pool name; ownership is decided once described.
/// A page per 60 pools of the account: many with a stack per pull request, which is why
/// observation pages on only when the client locator cannot say.
pub async fn list_candidates(cx: &ReadCx<'_>) -> Result<Vec<String>, ProvisionError> {
    list_rest(cx, list_page(cx, None).await?).await
}

/// [`list_candidates`] from a first page already read.
pub async fn list_rest(
    cx: &ReadCx<'_>,
    first_page: (Vec<String>, Option<String>),
) -> Result<Vec<String>, ProvisionError> {
    let (mut candidates, mut next_token) = first_page;
    while let Some(token) = next_token {
        let (named, next) = list_page(cx, Some(token)).await?;
        candidates.extend(named);
        next_token = next;
    }
    Ok(candidates)
}

/// The pool `id`, or `None` when there is none (deleted since it was listed or located).
pub async fn describe(cx: &ReadCx<'_>, id: &str) -> Result<Option<UserPoolType>, ProvisionError> {
    match cx
        .clients
        .cognito
        .describe_user_pool()
        .user_pool_id(id)
        .send()
        .await
    {
        Ok(described) => Ok(described.user_pool),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error(
            format!("user pool {}", cx.names.user_pool()),
            "cognito-idp:DescribeUserPool",
            e,
        )),
    }
}

pub fn is_ours(pool: &UserPoolType, tagging: &Tagging) -> bool {
    let tag = pool.user_pool_tags().and_then(|tags| tags.get(OWNER_TAG));
    tagging.owns(tag.map(String::as_str))
}

pub fn observed(pool: &UserPoolType, tagging: &Tagging) -> (Observed, PoolRef) {
    (
        Observed::Owned(fields_of(pool, tagging)),
        PoolRef {
            id: pool.id().unwrap_or_default().to_owned(),
            arn: pool.arn().unwrap_or_default().to_owned(),
        },
    )
}

/// CreateUserPool is not idempotent: a create whose response was lost and that is sent again
/// makes a second pool, and two pools with the stack's tag wedge every later command. So the
/// SDK does not retry it; after an ambiguous failure the pool is looked up by name and tag,
/// and only when none exists is the create sent once more.
pub async fn create(cx: &ApplyCx<'_>, desired: &Desired) -> Result<Produced, ProvisionError> {
    let resource = format!("user pool {}", desired.name);
    let request = cx
        .clients
        .cognito
        .create_user_pool()
        .pool_name(&desired.name)
        .username_attributes(UsernameAttributeType::Email)
        .username_configuration(
            UsernameConfigurationType::builder()
                .case_sensitive(false)
                .build()
                .expect("case_sensitive is set"),
        )
        .auto_verified_attributes(VerifiedAttributeType::Email)
        .user_attribute_update_settings(email_change_needs_verification())
        .account_recovery_setting(admin_only_recovery())
        .admin_create_user_config(
            AdminCreateUserConfigType::builder()
                .allow_admin_create_user_only(desired.admin_create_user_only())
                .build(),
        )
        .lambda_config(desired.lambda_config(None))
        .deletion_protection(protection(desired.deletion_protection))
        .user_pool_tier(UserPoolTierType::from(desired.tier.as_str()))
        .set_user_pool_tags(Some(desired.tags.clone().into_iter().collect()));
    let send = || {
        request
            .clone()
            .customize()
            .config_override(super::without_retries())
            .send()
    };
    let created = match super::create_without_duplicates(
        &resource,
        "cognito-idp:CreateUserPool",
        send,
        || find_created(cx, desired),
    )
    .await?
    {
        super::Created::New(created) => created,
        super::Created::Found(pool) => return Ok(Produced::Pool(pool)),
    };
    let pool = created
        .user_pool
        .ok_or_else(|| ProvisionError::state(&resource, "CreateUserPool returned no pool"))?;
    Ok(Produced::Pool(PoolRef {
        id: pool.id.unwrap_or_default(),
        arn: pool.arn.unwrap_or_default(),
    }))
}

/// The pool of this stack, if a create whose answer was lost made it after all.
async fn find_created(
    cx: &ApplyCx<'_>,
    desired: &Desired,
) -> Result<Option<PoolRef>, ProvisionError> {
    let tagging = super::Tagging::owned_by(&cx.names.stack);
    let read = ReadCx {
        clients: cx.clients,
        names: cx.names,
        tagging: &tagging,
    };
    for id in list_candidates(&read).await? {
        if let Some(pool) = describe(&read, &id).await?
            && is_ours(&pool, &tagging)
            && pool.name() == Some(desired.name.as_str())
        {
            return Ok(Some(observed(&pool, &tagging).1));
        }
    }
    Ok(None)
}

/// Members of `UpdateUserPoolInput` that `update` sends: ours from the desired value, every
/// other one echoed from DescribeUserPool (sent whenever the pool has it).
pub const SENT: &[&str] = &[
    "UserPoolId",
    "Policies",
    "DeletionProtection",
    "LambdaConfig",
    "AutoVerifiedAttributes",
    "SmsVerificationMessage",
    "EmailVerificationMessage",
    "EmailVerificationSubject",
    "VerificationMessageTemplate",
    "SmsAuthenticationMessage",
    "UserAttributeUpdateSettings",
    "MfaConfiguration",
    "DeviceConfiguration",
    "EmailConfiguration",
    "SmsConfiguration",
    "UserPoolTags",
    "AdminCreateUserConfig",
    "UserPoolAddOns",
    "AccountRecoverySetting",
    "PoolName",
    "UserPoolTier",
    "KeyConfiguration",
    "IssuerConfiguration",
    "AcrConfiguration",
];
/// Members of `UpdateUserPoolInput` that `update` deliberately leaves out, each with why.
/// The wire test fails when the SDK gains a member that is in neither list.
pub const NOT_SENT: &[(&str, &str)] = &[];

/// UpdateUserPool resets every member it is not given, so it gets all of them: what the
/// pool has now, with our fields set as desired.
pub async fn update(
    cx: &ApplyCx<'_>,
    desired: &Desired,
    handover: &Handover,
) -> Result<(), ProvisionError> {
    let resource = format!("user pool {}", desired.name);
    let pool_ref = handover.pool(&resource)?;
    let pool = cx
        .clients
        .cognito
        .describe_user_pool()
        .user_pool_id(&pool_ref.id)
        .send()
        .await
        .map_err(|e| aws_error(&resource, "cognito-idp:DescribeUserPool", e))?
        .user_pool
        .ok_or_else(|| ProvisionError::state(&resource, "DescribeUserPool returned no pool"))?;
    let mut tags = pool.user_pool_tags.clone().unwrap_or_default();
    tags.extend(desired.tags.clone());
    cx.clients
        .cognito
        .update_user_pool()
        .user_pool_id(&pool_ref.id)
        .set_policies(pool.policies)
        .deletion_protection(protection(desired.deletion_protection))
        .lambda_config(desired.lambda_config(pool.lambda_config))
        .auto_verified_attributes(VerifiedAttributeType::Email)
        .set_sms_verification_message(pool.sms_verification_message)
        .set_email_verification_message(pool.email_verification_message)
        .set_email_verification_subject(pool.email_verification_subject)
        .set_verification_message_template(pool.verification_message_template)
        .set_sms_authentication_message(pool.sms_authentication_message)
        .user_attribute_update_settings(email_change_needs_verification())
        .set_mfa_configuration(pool.mfa_configuration)
        .set_device_configuration(pool.device_configuration)
        .set_email_configuration(pool.email_configuration)
        .set_sms_configuration(pool.sms_configuration)
        .set_user_pool_tags(Some(tags))
        .admin_create_user_config(
            pool.admin_create_user_config
                .map(|mut config| {
                    config.allow_admin_create_user_only = desired.admin_create_user_only();
                    config
                })
                .unwrap_or_else(|| {
                    AdminCreateUserConfigType::builder()
                        .allow_admin_create_user_only(desired.admin_create_user_only())
                        .build()
                }),
        )
        .set_user_pool_add_ons(pool.user_pool_add_ons)
        .account_recovery_setting(admin_only_recovery())
        .set_pool_name(pool.name)
        .user_pool_tier(UserPoolTierType::from(desired.tier.as_str()))
        .set_key_configuration(pool.key_configuration)
        .set_issuer_configuration(pool.issuer_configuration)
        .set_acr_configuration(pool.acr_configuration)
        .customize()
        .mutate_request(drop_legacy_validity)
        .send()
        .await
        .map_err(|e| aws_error(&resource, "cognito-idp:UpdateUserPool", e))?;
    Ok(())
}

/// DescribeUserPool reports the legacy `AdminCreateUserConfig.UnusedAccountValidityDays`
/// beside `Policies.PasswordPolicy.TemporaryPasswordValidityDays`, and UpdateUserPool
/// rejects a request carrying both ("Please use TemporaryPasswordValidityDays in
/// PasswordPolicy instead of UnusedAccountValidityDays"). The SDK writes the member even
/// at 0, so it is taken out of the serialised body before signing.
pub fn drop_legacy_validity(request: &mut HttpRequest) {
    let Some(body) = request.body().bytes() else {
        return;
    };
    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let Some(config) = json
        .get_mut("AdminCreateUserConfig")
        .and_then(|c| c.as_object_mut())
    else {
        return;
    };
    if config.remove("UnusedAccountValidityDays").is_none() {
        return;
    }
    let bytes = serde_json::to_vec(&json).expect("a JSON value serialises");
    request
        .headers_mut()
        .insert("content-length", bytes.len().to_string());
    *request.body_mut() = aws_smithy_types::body::SdkBody::from(bytes);
}

pub async fn delete(cx: &ApplyCx<'_>, handover: &Handover) -> Result<Produced, ProvisionError> {
    if let Some(pool) = &handover.user_pool {
        already_gone_is_done(
            cx.clients
                .cognito
                .delete_user_pool()
                .user_pool_id(&pool.id)
                .send()
                .await,
            |e| e.is_resource_not_found_exception(),
            format!("user pool {}", cx.names.user_pool()),
            "cognito-idp:DeleteUserPool",
        )?;
    }
    Ok(Produced::PoolGone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::tests::{assert_kind_watches, fixture_context};

    #[test]
    fn every_field_is_read_back_and_carried_by_an_update_or_a_replace() {
        let (names, tagging, tags, _) = fixture_context();
        let desired = Desired {
            name: names.user_pool(),
            triggers: TriggerKind::CUSTOM_AUTH.map(|k| names.function_arn(k)),
            pre_sign_up: None,
            deletion_protection: true,
            tier: "LITE".into(),
            tags: tags.clone(),
        };
        let pool = UserPoolType::builder()
            .username_attributes(UsernameAttributeType::Email)
            .username_configuration(
                UsernameConfigurationType::builder()
                    .case_sensitive(false)
                    .build()
                    .unwrap(),
            )
            .lambda_config(desired.lambda_config(None))
            .deletion_protection(DeletionProtectionType::Active)
            .user_pool_tier(UserPoolTierType::Lite)
            .set_user_pool_tags(Some(tags.clone().into_iter().collect()))
            .auto_verified_attributes(VerifiedAttributeType::Email)
            .user_attribute_update_settings(email_change_needs_verification())
            .account_recovery_setting(admin_only_recovery())
            .admin_create_user_config(
                AdminCreateUserConfigType::builder()
                    .allow_admin_create_user_only(true)
                    .build(),
            )
            .build();
        let read = fields_of(&pool, &tagging);
        assert_eq!(read, desired.fields());
        assert_kind_watches(&desired.fields(), &read, UPDATES, REPLACE_ON, WATCHED);
    }

    #[test]
    fn a_foreign_trigger_is_named_and_ours_are_not() {
        let (names, tagging, _, _) = fixture_context();
        let ours = TriggerKind::CUSTOM_AUTH.map(|k| names.function_arn(k));
        let mut config = LambdaConfigType::builder().build();
        config.define_auth_challenge = Some(ours[0].clone());
        assert_eq!(other_triggers(Some(&config)), "");
        config.pre_token_generation = Some("arn:aws:lambda:us-east-1:1:function:mint".into());
        let pool = UserPoolType::builder().lambda_config(config).build();
        let read = fields_of(&pool, &tagging);
        assert!(
            read["other_triggers"].contains("pre_token_generation")
                && read["other_triggers"].contains("function:mint"),
            "{}",
            read["other_triggers"]
        );
        assert_eq!(read["self_sign_up"], "enabled");
        assert_eq!(read["account_recovery"], "");
    }

    #[test]
    fn self_sign_up_sets_the_pre_sign_up_slot_and_opens_the_pool() {
        let (names, tagging, tags, _) = fixture_context();
        let arn = names.function_arn(TriggerKind::PreSignUp);
        let desired = Desired {
            name: names.user_pool(),
            triggers: TriggerKind::CUSTOM_AUTH.map(|k| names.function_arn(k)),
            pre_sign_up: Some(arn.clone()),
            deletion_protection: false,
            tier: "LITE".into(),
            tags,
        };
        let config = desired.lambda_config(None);
        assert_eq!(config.pre_sign_up(), Some(arn.as_str()));
        assert!(!desired.admin_create_user_only());
        let pool = UserPoolType::builder()
            .lambda_config(config)
            .admin_create_user_config(
                AdminCreateUserConfigType::builder()
                    .allow_admin_create_user_only(false)
                    .build(),
            )
            .build();
        let read = fields_of(&pool, &tagging);
        assert_eq!(read["pre_sign_up_trigger"], arn);
        assert_eq!(read["self_sign_up"], "enabled");
        assert_eq!(read["other_triggers"], "", "our PreSignUp is not foreign");
        // Turned off again: the slot is emptied, even of a PreSignUp that was there.
        let off = Desired {
            pre_sign_up: None,
            ..desired
        };
        let mut existing = LambdaConfigType::builder().build();
        existing.pre_sign_up = Some(arn);
        assert_eq!(off.lambda_config(Some(existing)).pre_sign_up(), None);
    }
}
