//! `doctor`: read-only checks before the first real deploy, each with what to do when it
//! fails. Values out; xtask prints them.

use std::fmt;

use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, PolicyEvaluationDecisionType};

use crate::aws::Clients;
use crate::deployer_policy::{deployer_policy, strings};
use crate::error::aws_error;
use crate::naming::Names;
use crate::spec::StackSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do, when the status is not ok.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn not_ok(
        name: &'static str,
        status: Status,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            name,
            status,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Whose policies decide what the caller may do, as far as the caller's ARN tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An assumed-role session: its role, by name. The session ARN drops the role's path
    /// (SSO roles live under `/aws-reserved/sso.amazonaws.com/`), so the role's own ARN has
    /// to be read with GetRole.
    Role(String),
    /// An IAM user, whose ARN is the caller's.
    User(String),
    /// A federated user (GetFederationToken): its permissions are the policies passed at
    /// federation, which IAM cannot simulate.
    Federated(String),
    Root,
    Unknown(String),
}

pub fn principal_of(caller_arn: &str) -> Principal {
    let Some((_, resource)) = caller_arn.rsplit_once(':') else {
        return Principal::Unknown(caller_arn.to_owned());
    };
    match resource.split('/').collect::<Vec<_>>().as_slice() {
        ["assumed-role", role, _session] => Principal::Role((*role).to_owned()),
        ["user", ..] => Principal::User(caller_arn.to_owned()),
        ["federated-user", ..] => Principal::Federated(caller_arn.to_owned()),
        ["root"] => Principal::Root,
        _ => Principal::Unknown(caller_arn.to_owned()),
    }
}

/// The ARN IAM's simulator takes for the caller, or the check to report instead.
async fn simulated_principal(clients: &Clients, caller: &str) -> Result<String, Check> {
    let cannot = |detail: String, fix: &str| {
        Check::not_ok("deployer permissions", Status::Warn, detail, fix.to_owned())
    };
    match principal_of(caller) {
        Principal::User(arn) => Ok(arn),
        Principal::Role(name) => {
            let role = clients.iam.get_role().role_name(&name).send().await;
            match role.ok().and_then(|r| r.role).map(|r| r.arn) {
                Some(arn) => Ok(arn),
                None => Err(cannot(
                    format!(
                        "could not read role {name} (its ARN, with its path, is what IAM simulates)"
                    ),
                    "allow iam:GetRole on your own role to have this checked, or compare your policy with `cargo xtask deployer-policy`",
                )),
            }
        }
        Principal::Federated(arn) => Err(cannot(
            format!(
                "{arn} is a federated user: its permissions are the policies passed when it was federated, which IAM cannot simulate"
            ),
            "compare the policy your federation passes with `cargo xtask deployer-policy`, or deploy as a role",
        )),
        Principal::Root => Err(cannot(
            format!("{caller} is the account root, which may do everything"),
            "deploy as a role with the policy from `cargo xtask deployer-policy` instead of the root user",
        )),
        Principal::Unknown(arn) => Err(cannot(
            format!("{arn} is no IAM user or role session this check knows"),
            "compare your permissions with `cargo xtask deployer-policy`",
        )),
    }
}

/// Every check; `nameserver` answers the sender domain's DNS questions (the system's, from
/// [`crate::mail_dns::system_nameserver`]; none skips them, saying so).
pub async fn doctor(
    spec: &StackSpec,
    clients: &Clients,
    nameserver: Option<std::net::SocketAddr>,
) -> Vec<Check> {
    let caller = match crate::observe::caller(clients).await {
        Ok(caller) => caller,
        Err(error) => {
            return vec![Check::not_ok(
                "credentials",
                Status::Fail,
                error.to_string(),
                "set AWS_PROFILE (and `aws sso login`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            )];
        }
    };
    let names = caller.names(spec);
    let (
        (ses_account, ses_sending),
        identity,
        [dkim, spf, dmarc],
        reputation,
        region,
        permissions,
        concurrency,
    ) = tokio::join!(
        ses_account(clients),
        ses_identity(clients, spec),
        mail_records(clients, spec, nameserver),
        reputation(clients),
        region(clients, spec),
        permissions(clients, &names, &caller.arn, spec),
        concurrency(clients),
    );
    vec![
        Check::ok(
            "credentials",
            format!(
                "account {} ({} partition), as {}",
                caller.account, names.partition.name, caller.arn
            ),
        ),
        region,
        ses_account,
        ses_sending,
        reputation,
        identity,
        dkim,
        spf,
        dmarc,
        permissions,
        concurrency,
    ]
}

/// DKIM (from SES), SPF of the MAIL FROM domain and DMARC of the From domain (from DNS): what
/// receivers check before they trust, or deliver, a code.
async fn mail_records(
    clients: &Clients,
    spec: &StackSpec,
    nameserver: Option<std::net::SocketAddr>,
) -> [Check; 3] {
    let domain = crate::spec::sender_domain(spec.ses_identity()).to_owned();
    let read = clients
        .ses
        .get_email_identity()
        .email_identity(&domain)
        .send()
        .await;
    let (dkim, mail_from) = match read {
        Ok(identity) => (
            dkim_check(
                &domain,
                Ok(identity
                    .dkim_attributes()
                    .filter(|d| d.signing_enabled())
                    .and_then(|d| d.status())
                    .map(|status| status.as_str().to_owned())),
            ),
            identity
                .mail_from_attributes()
                .map(|m| m.mail_from_domain().to_owned())
                .filter(|d| !d.is_empty()),
        ),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            (dkim_check(&domain, Ok(None)), None)
        }
        Err(e) => (
            dkim_check(
                &domain,
                Err(
                    aws_error(format!("ses identity {domain}"), "ses:GetEmailIdentity", e)
                        .to_string(),
                ),
            ),
            None,
        ),
    };
    let ask = |name: String| async move {
        match nameserver {
            Some(server) => {
                tokio::task::spawn_blocking(move || crate::mail_dns::txt(server, &name))
                    .await
                    .unwrap_or_else(|e| crate::mail_dns::Lookup::Unreachable(e.to_string()))
            }
            None => {
                crate::mail_dns::Lookup::Unreachable("no nameserver in /etc/resolv.conf".to_owned())
            }
        }
    };
    let spf = match &mail_from {
        Some(mail_from_domain) => spf_check(Some((
            mail_from_domain,
            ask(mail_from_domain.clone()).await,
        ))),
        None => spf_check(None),
    };
    let dmarc = dmarc_check(&domain, ask(format!("_dmarc.{domain}")).await);
    [dkim, spf, dmarc]
}

/// `status`: SES's DKIM status of the From domain when it signs for it, `None` when the domain
/// is no SES identity (or signing is off), or why SES could not be asked.
fn dkim_check(domain: &str, status: Result<Option<String>, String>) -> Check {
    match status {
        Ok(Some(status)) if status == "SUCCESS" => Check::ok(
            "mail dkim",
            format!("SES signs mail from {domain} with the domain's DKIM keys"),
        ),
        Ok(Some(status)) => Check::not_ok(
            "mail dkim",
            Status::Warn,
            format!("SES's DKIM for {domain} is {status}"),
            "publish the three CNAME records SES lists for the domain (`doctor` shows them for a domain identity) and wait for SUCCESS",
        ),
        Ok(None) => Check::not_ok(
            "mail dkim",
            Status::Warn,
            format!(
                "{domain} is not an SES identity with DKIM signing, so mail is signed for amazonses.com only, which DMARC does not count for {domain}"
            ),
            format!(
                "verify the domain in SES with Easy DKIM (set `email.identity: {domain}` and publish the CNAME records deploy prints)"
            ),
        ),
        Err(why) => Check::not_ok(
            "mail dkim",
            Status::Warn,
            why,
            "allow ses:GetEmailIdentity (see `cargo xtask deployer-policy`)",
        ),
    }
}

/// SPF matters for a custom MAIL FROM domain, with what DNS holds for it; with SES's own
/// (amazonses.com) it passes, and DMARC alignment rests on DKIM.
fn spf_check(mail_from: Option<(&str, crate::mail_dns::Lookup)>) -> Check {
    use crate::mail_dns::{Lookup, spf_allows_ses};
    let Some((domain, lookup)) = mail_from else {
        return Check::ok(
            "mail spf",
            "SES's own MAIL FROM domain (amazonses.com) passes SPF; alignment for DMARC comes from DKIM",
        );
    };
    let fix = format!("publish `{domain} TXT \"v=spf1 include:amazonses.com ~all\"`");
    match lookup {
        Lookup::Found(records) => match spf_allows_ses(&records) {
            Some(true) => Check::ok(
                "mail spf",
                format!("the MAIL FROM domain {domain} lets SES send"),
            ),
            Some(false) => Check::not_ok(
                "mail spf",
                Status::Warn,
                format!("the SPF record of {domain} does not include amazonses.com"),
                fix,
            ),
            None => Check::not_ok(
                "mail spf",
                Status::Warn,
                format!("the MAIL FROM domain {domain} has no SPF record"),
                fix,
            ),
        },
        Lookup::Nothing => Check::not_ok(
            "mail spf",
            Status::Warn,
            format!("the MAIL FROM domain {domain} has no SPF record"),
            fix,
        ),
        Lookup::Unreachable(why) => Check::not_ok(
            "mail spf",
            Status::Warn,
            format!("DNS did not answer ({why}); SPF not checked"),
            format!("check from a machine with DNS: `dig TXT {domain}`"),
        ),
    }
}

/// Gmail and Yahoo ask bulk senders for a DMARC record since 2024; without one, codes go to
/// spam more often.
fn dmarc_check(domain: &str, lookup: crate::mail_dns::Lookup) -> Check {
    use crate::mail_dns::{Lookup, dmarc_record};
    let fix = format!(
        "publish `_dmarc.{domain} TXT \"v=DMARC1; p=none; rua=mailto:dmarc@{domain}\"`, then tighten p= once reports show only your senders"
    );
    match lookup {
        Lookup::Found(records) => match dmarc_record(&records) {
            Some(record) => Check::ok("mail dmarc", format!("_dmarc.{domain}: {record}")),
            None => Check::not_ok(
                "mail dmarc",
                Status::Warn,
                format!("_dmarc.{domain} holds no DMARC record"),
                fix,
            ),
        },
        Lookup::Nothing => Check::not_ok(
            "mail dmarc",
            Status::Warn,
            format!("{domain} publishes no DMARC record"),
            fix,
        ),
        Lookup::Unreachable(why) => Check::not_ok(
            "mail dmarc",
            Status::Warn,
            format!("DNS did not answer ({why}); DMARC not checked"),
            format!("check from a machine with DNS: `dig TXT _dmarc.{domain}`"),
        ),
    }
}

async fn region(clients: &Clients, spec: &StackSpec) -> Check {
    match clients
        .cognito
        .list_user_pools()
        .max_results(1)
        .send()
        .await
    {
        Ok(_) => Check::ok(
            "region",
            format!("Cognito answers in {}", spec.region.as_str()),
        ),
        Err(e) => Check::not_ok(
            "region",
            Status::Fail,
            aws_error(spec.region.as_str(), "cognito-idp:ListUserPools", e).to_string(),
            "check the spec's `region` (Cognito user pools exist in most regions, not all) and the network",
        ),
    }
}

/// Production access or the sandbox, and what the account may still send today.
async fn ses_account(clients: &Clients) -> (Check, Check) {
    match clients.ses.get_account().send().await {
        Ok(account) => {
            let access = if account.production_access_enabled() {
                Check::ok(
                    "ses account",
                    "production access: codes can go to any address",
                )
            } else {
                Check::not_ok(
                    "ses account",
                    Status::Warn,
                    "in the SES sandbox: codes go only to verified addresses, at most 200 a day",
                    "verify each test recipient in SES, or request production access in the SES console",
                )
            };
            let quota = account.send_quota();
            let sending = sending_check(
                account.enforcement_status().unwrap_or("HEALTHY"),
                quota.map(|q| q.sent_last24_hours()).unwrap_or_default(),
                quota.map(|q| q.max24_hour_send()).unwrap_or_default(),
                quota.map(|q| q.max_send_rate()).unwrap_or_default(),
            );
            (access, sending)
        }
        Err(e) => {
            let unread = aws_error("the SES account", "ses:GetAccount", e).to_string();
            let fix = "allow ses:GetAccount (see `cargo xtask deployer-policy`); deploy assumes the sandbox meanwhile";
            (
                Check::not_ok("ses account", Status::Warn, unread.clone(), fix),
                Check::not_ok("ses sending", Status::Warn, unread, fix),
            )
        }
    }
}

/// Whether SES will keep sending: the account's standing, and today's sends against its quota.
fn sending_check(enforcement: &str, sent: f64, max_per_day: f64, max_rate: f64) -> Check {
    let used = format!(
        "{sent:.0} of {max_per_day:.0} emails sent in the last 24 h, at most {max_rate:.0} a second"
    );
    match enforcement {
        "SHUTDOWN" => Check::not_ok(
            "ses sending",
            Status::Fail,
            format!("AWS has paused sending for the account ({used})"),
            "no code can be sent by any stack of the account: read the case in the SES console's reputation dashboard and answer it",
        ),
        "PROBATION" => Check::not_ok(
            "ses sending",
            Status::Warn,
            format!("the account is under review for its bounce or complaint rate ({used})"),
            "find where bad addresses come from before AWS pauses sending (the alarms' advice in the README)",
        ),
        _ if max_per_day > 0.0 && sent >= max_per_day * 0.8 => Check::not_ok(
            "ses sending",
            Status::Warn,
            format!("{used}: over 80 % of the daily quota"),
            "request a higher sending quota in the SES console before codes stop going out",
        ),
        _ => Check::ok("ses sending", used),
    }
}

/// The account's bounce and complaint rates against the levels at which AWS reviews it.
async fn reputation(clients: &Clients) -> Check {
    match crate::status::ses_rates(clients, 86_400).await {
        Ok((bounce, complaint)) => reputation_check(bounce, complaint),
        Err(error) => Check::not_ok(
            "ses reputation",
            Status::Warn,
            error.to_string(),
            "allow cloudwatch:GetMetricData (see `cargo xtask deployer-policy --read-only`)",
        ),
    }
}

fn reputation_check(bounce: Option<f64>, complaint: Option<f64>) -> Check {
    use crate::resources::alarm::{BOUNCE_RATE, COMPLAINT_RATE};
    let shown =
        |rate: Option<f64>| rate.map_or("no data".to_owned(), |r| format!("{:.2} %", r * 100.0));
    let detail = format!(
        "bounces {}, complaints {} (AWS reviews at 5 % and 0.1 %)",
        shown(bounce),
        shown(complaint)
    );
    if bounce.is_some_and(|b| b >= BOUNCE_RATE) || complaint.is_some_and(|c| c >= COMPLAINT_RATE) {
        Check::not_ok(
            "ses reputation",
            Status::Warn,
            detail,
            "stop sending to addresses that bounce or complain (the stack's configuration set suppresses them) and find where they come from",
        )
    } else {
        Check::ok("ses reputation", detail)
    }
}

async fn ses_identity(clients: &Clients, spec: &StackSpec) -> Check {
    let identity = spec.ses_identity();
    let read = clients
        .ses
        .get_email_identity()
        .email_identity(identity)
        .send()
        .await;
    match read {
        Ok(output) if output.verified_for_sending_status() => Check::ok(
            "ses identity",
            format!("{identity} is verified for sending"),
        ),
        Ok(output) => {
            let records: Vec<String> = output
                .dkim_attributes()
                .map(|d| d.tokens().to_vec())
                .unwrap_or_default()
                .iter()
                .map(|token| {
                    format!("{token}._domainkey.{identity} CNAME {token}.dkim.amazonses.com")
                })
                .collect();
            let fix = if records.is_empty() {
                format!("confirm the verification email AWS sent to {identity}")
            } else {
                format!("publish these DKIM records: {}", records.join("; "))
            };
            Check::not_ok(
                "ses identity",
                Status::Warn,
                format!("{identity} exists but is not verified yet, so SES will refuse to send"),
                fix,
            )
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            Check::not_ok(
                "ses identity",
                Status::Warn,
                format!("{identity} does not exist yet"),
                "deploy creates it; then confirm the verification email (address) or publish the DKIM records deploy prints (domain)",
            )
        }
        Err(e) => Check::not_ok(
            "ses identity",
            Status::Fail,
            aws_error(
                format!("ses identity {identity}"),
                "ses:GetEmailIdentity",
                e,
            )
            .to_string(),
            "allow ses:GetEmailIdentity (see `cargo xtask deployer-policy`)",
        ),
    }
}

/// Asks IAM's policy simulator whether the caller's own policies allow each action of the
/// deployer policy on its resources.
pub async fn permissions(
    clients: &Clients,
    names: &Names,
    caller: &str,
    spec: &StackSpec,
) -> Check {
    let principal = match simulated_principal(clients, caller).await {
        Ok(principal) => principal,
        Err(check) => return check,
    };
    let policy = deployer_policy(names, spec.ses_identity());
    // The values deploy's own requests carry, so conditions like ours evaluate as they would.
    let owner = crate::naming::OWNER_TAG;
    let context: Vec<ContextEntry> = [
        (format!("aws:RequestTag/{owner}"), names.stack.clone()),
        (format!("aws:ResourceTag/{owner}"), names.stack.clone()),
        (
            "iam:PassedToService".to_owned(),
            "lambda.amazonaws.com".to_owned(),
        ),
        (
            "iam:PermissionsBoundary".to_owned(),
            names.boundary_policy_arn(),
        ),
        (
            "lambda:Principal".to_owned(),
            crate::deployer_policy::COGNITO_PRINCIPAL.to_owned(),
        ),
    ]
    .into_iter()
    .map(|(key, value)| {
        ContextEntry::builder()
            .context_key_name(key)
            .context_key_values(value)
            .context_key_type(ContextKeyTypeEnum::String)
            .build()
    })
    .collect();
    let mut denied = Vec::new();
    // The denials are the policy's guard rails, not permissions deploy needs.
    let grants = policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|statement| statement["Effect"] == "Allow");
    for statement in grants {
        let simulated = clients
            .iam
            .simulate_principal_policy()
            .policy_source_arn(&principal)
            .set_action_names(Some(strings(&statement["Action"])))
            .set_resource_arns(Some(strings(&statement["Resource"])))
            .set_context_entries(Some(context.clone()))
            .send()
            .await;
        let results = match simulated {
            Ok(output) => output.evaluation_results.unwrap_or_default(),
            Err(e) => {
                return Check::not_ok(
                    "deployer permissions",
                    Status::Warn,
                    format!(
                        "could not ask IAM's policy simulator: {}",
                        aws_error(&principal, "iam:SimulatePrincipalPolicy", e)
                    ),
                    "allow iam:SimulatePrincipalPolicy on yourself to have this checked, or compare your policy with `cargo xtask deployer-policy`",
                );
            }
        };
        denied.extend(
            results
                .iter()
                .filter(|r| *r.eval_decision() != PolicyEvaluationDecisionType::Allowed)
                .map(|r| r.eval_action_name().to_owned()),
        );
    }
    denied.sort();
    denied.dedup();
    if denied.is_empty() {
        Check::ok(
            "deployer permissions",
            format!("{principal} may do all that deploy, drift and teardown call"),
        )
    } else {
        Check::not_ok(
            "deployer permissions",
            Status::Fail,
            format!("{principal} may not: {}", denied.join(", ")),
            "attach the policy `cargo xtask deployer-policy --stack <spec>` prints",
        )
    }
}

async fn concurrency(clients: &Clients) -> Check {
    match clients.lambda.get_account_settings().send().await {
        Ok(settings) => {
            let limit = settings.account_limit();
            let total = limit.map_or(0, |l| l.concurrent_executions());
            let unreserved = limit
                .and_then(|l| l.unreserved_concurrent_executions())
                .unwrap_or(total);
            if unreserved >= 50 {
                Check::ok(
                    "lambda concurrency",
                    format!("{unreserved} of {total} concurrent executions unreserved"),
                )
            } else {
                Check::not_ok(
                    "lambda concurrency",
                    Status::Warn,
                    format!(
                        "only {unreserved} of {total} concurrent executions unreserved: a burst of sign-ins will be throttled"
                    ),
                    "request a higher \"Concurrent executions\" quota in Service Quotas (new accounts start at 10)",
                )
            }
        }
        Err(e) => Check::not_ok(
            "lambda concurrency",
            Status::Warn,
            aws_error("the Lambda account", "lambda:GetAccountSettings", e).to_string(),
            "allow lambda:GetAccountSettings to have this checked",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sending_speaks_up_on_review_a_pause_or_a_quota_nearly_spent() {
        assert_eq!(
            sending_check("HEALTHY", 10.0, 50_000.0, 14.0).status,
            Status::Ok
        );
        let nearly = sending_check("HEALTHY", 40_000.0, 50_000.0, 14.0);
        assert_eq!(nearly.status, Status::Warn);
        assert!(nearly.detail.contains("40000 of 50000"), "{nearly:?}");
        assert_eq!(
            sending_check("PROBATION", 0.0, 50_000.0, 14.0).status,
            Status::Warn
        );
        let paused = sending_check("SHUTDOWN", 0.0, 50_000.0, 14.0);
        assert_eq!(paused.status, Status::Fail);
        assert!(paused.fix.is_some());
    }

    #[test]
    fn reputation_warns_at_the_alarms_levels_and_takes_no_data_for_fine() {
        assert_eq!(reputation_check(None, None).status, Status::Ok);
        assert!(reputation_check(None, None).detail.contains("no data"));
        assert_eq!(
            reputation_check(Some(0.01), Some(0.0001)).status,
            Status::Ok
        );
        assert_eq!(reputation_check(Some(0.04), None).status, Status::Warn);
        let complaints = reputation_check(Some(0.0), Some(0.0009));
        assert_eq!(complaints.status, Status::Warn);
        assert!(
            complaints.detail.contains("complaints 0.09 %"),
            "{complaints:?}"
        );
    }

    #[test]
    fn the_principal_behind_a_session_is_its_role() {
        assert_eq!(
            principal_of("arn:aws:sts::123456789012:assumed-role/ci-deploy/run-42"),
            Principal::Role("ci-deploy".to_owned())
        );
        assert_eq!(
            principal_of(
                "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123abcd/alice@acme.example"
            ),
            Principal::Role("AWSReservedSSO_Admin_0123abcd".to_owned())
        );
        assert_eq!(
            principal_of("arn:aws:iam::123456789012:user/alice"),
            Principal::User("arn:aws:iam::123456789012:user/alice".to_owned())
        );
        assert_eq!(
            principal_of("arn:aws:sts::123456789012:federated-user/bob"),
            Principal::Federated("arn:aws:sts::123456789012:federated-user/bob".to_owned())
        );
        assert_eq!(
            principal_of("arn:aws:iam::123456789012:root"),
            Principal::Root
        );
    }

    #[test]
    fn mail_records_are_judged_as_receivers_judge_them_and_unanswered_dns_judges_nothing() {
        use crate::mail_dns::Lookup;
        let found =
            |records: &[&str]| Lookup::Found(records.iter().map(|r| (*r).to_owned()).collect());
        let status = |check: Check| (check.status, check.fix.is_some());
        assert_eq!(
            status(dkim_check("acme.example", Ok(Some("SUCCESS".into())))),
            (Status::Ok, false)
        );
        let pending = dkim_check("acme.example", Ok(Some("PENDING".into())));
        assert_eq!(
            (pending.status, pending.detail.contains("PENDING")),
            (Status::Warn, true)
        );
        let unsigned = dkim_check("acme.example", Ok(None));
        assert!(
            unsigned
                .fix
                .unwrap()
                .contains("email.identity: acme.example")
        );

        assert_eq!(status(spf_check(None)), (Status::Ok, false));
        let mail_from = "mail.acme.example";
        assert_eq!(
            status(spf_check(Some((
                mail_from,
                found(&["v=spf1 include:amazonses.com ~all"])
            )))),
            (Status::Ok, false)
        );
        for lookup in [
            found(&["v=spf1 mx -all"]),
            found(&["other"]),
            Lookup::Nothing,
        ] {
            let check = spf_check(Some((mail_from, lookup)));
            assert_eq!(check.status, Status::Warn);
            assert!(check.fix.unwrap().contains("include:amazonses.com"));
        }

        let dmarc = dmarc_check("acme.example", found(&["x", "v=DMARC1; p=quarantine"]));
        assert_eq!(
            (dmarc.status, dmarc.detail.as_str()),
            (Status::Ok, "_dmarc.acme.example: v=DMARC1; p=quarantine")
        );
        for lookup in [found(&["v=spf1 -all"]), Lookup::Nothing] {
            let check = dmarc_check("acme.example", lookup);
            assert_eq!(check.status, Status::Warn);
            assert!(check.fix.unwrap().contains("_dmarc.acme.example TXT"));
        }
        let unanswered = dmarc_check("acme.example", Lookup::Unreachable("timed out".into()));
        assert_eq!(unanswered.status, Status::Warn);
        assert!(
            unanswered.detail.contains("not checked"),
            "{}",
            unanswered.detail
        );
    }
}
