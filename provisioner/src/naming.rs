//! Names, ARNs and the provisioner's own tag keys: pure functions of the stack name, the
//! region and the caller's account and partition. Every phase derives names from here.

use std::fmt;

/// The tag that marks a resource as this stack's; its value is the stack name.
pub const OWNER_TAG: &str = "emailcode:stack";
/// Tag keys under this prefix are the provisioner's own; a spec may not set them.
pub const RESERVED_TAG_PREFIX: &str = "emailcode:";
/// The Define function's tag that holds the client locator, `<pool id>/<client id>`.
pub const CLIENT_LOCATOR_TAG: &str = "emailcode:app-client";
/// A function's tag holding the CodeSha256 deploy uploaded, so drift can tell an out-of-band
/// code change without building.
pub const CODE_TAG: &str = "emailcode:code-sha256";
/// A function's tag holding the source fingerprint its package was made from.
pub const SOURCE_TAG: &str = "emailcode:source";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TriggerKind {
    Define,
    Create,
    Verify,
    /// Deployed only while the spec enables self sign-up.
    PreSignUp,
}

impl TriggerKind {
    pub const ALL: [TriggerKind; 4] = [Self::Define, Self::Create, Self::Verify, Self::PreSignUp];
    /// The three that run the CUSTOM_AUTH sign-in, in every stack.
    pub const CUSTOM_AUTH: [TriggerKind; 3] = [Self::Define, Self::Create, Self::Verify];

    /// The binary in the `triggers` crate, and the suffix of the function name.
    pub fn binary_name(self) -> &'static str {
        match self {
            Self::Define => "define-auth-challenge",
            Self::Create => "create-auth-challenge",
            Self::Verify => "verify-auth-challenge",
            Self::PreSignUp => "pre-sign-up",
        }
    }

    pub fn zip_name(self) -> String {
        format!("{}.zip", self.binary_name())
    }
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.binary_name())
    }
}

/// An AWS partition and the DNS suffix of its service endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    pub dns_suffix: &'static str,
}

impl Partition {
    /// The partition named in an ARN such as the caller's from `sts:GetCallerIdentity`.
    /// Guessing it from the region would miss partitions added later; the ARN cannot.
    pub fn from_arn(arn: &str) -> Option<Self> {
        let name = arn.strip_prefix("arn:")?.split(':').next()?;
        (!name.is_empty()).then(|| Self::named(name))
    }

    /// The partition of a region, for a caller with no ARN to read it from (the sign-in
    /// service runs without credentials): by the regions' published prefixes.
    pub fn of_region(region: &str) -> Self {
        let name = [
            ("cn-", "aws-cn"),
            ("us-gov-", "aws-us-gov"),
            ("us-isob-", "aws-iso-b"),
            ("us-isof-", "aws-iso-f"),
            ("us-iso-", "aws-iso"),
            ("eu-isoe-", "aws-iso-e"),
        ]
        .into_iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, name)| name);
        Self::named(name)
    }

    pub fn named(name: &str) -> Self {
        // AWS's published partition table; an unknown partition keeps the commercial suffix
        // and is named in every ARN as given.
        let dns_suffix = match name {
            "aws-cn" => "amazonaws.com.cn",
            "aws-iso" => "c2s.ic.gov",
            "aws-iso-b" => "sc2s.sgov.gov",
            "aws-iso-e" => "cloud.adc-e.uk",
            "aws-iso-f" => "csp.hci.ic.gov",
            "aws-eusc" => "amazonaws.eu",
            _ => "amazonaws.com",
        };
        Self {
            name: name.to_owned(),
            dns_suffix,
        }
    }
}

impl Default for Partition {
    fn default() -> Self {
        Self::named("aws")
    }
}

/// Names and ARNs of one stack in one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub stack: String,
    pub region: String,
    pub account: String,
    pub partition: Partition,
}

impl Names {
    pub fn new(stack: &str, region: &str, account: &str, partition: Partition) -> Self {
        Self {
            stack: stack.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            partition,
        }
    }

    fn arn(&self, service: &str, region: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{region}:{}:{resource}",
            self.partition.name, self.account
        )
    }

    pub fn role(&self) -> String {
        format!("{}-triggers", self.stack)
    }

    pub fn role_arn(&self) -> String {
        self.arn("iam", "", &format!("role/{}", self.role()))
    }

    /// The trigger role's permissions boundary, which `cargo xtask bootstrap` creates.
    pub fn boundary_policy(&self) -> String {
        format!("{}-trigger-boundary", self.stack)
    }

    pub fn boundary_policy_arn(&self) -> String {
        self.arn(
            "iam",
            "",
            &format!(
                "policy{}{}",
                crate::bootstrap::BOUNDARY_PATH,
                self.boundary_policy()
            ),
        )
    }

    pub fn role_policy(&self) -> String {
        format!("{}-triggers", self.stack)
    }

    pub fn function(&self, kind: TriggerKind) -> String {
        format!("{}-{}", self.stack, kind.binary_name())
    }

    pub fn function_arn(&self, kind: TriggerKind) -> String {
        self.arn(
            "lambda",
            &self.region,
            &format!("function:{}", self.function(kind)),
        )
    }

    pub fn user_pool(&self) -> String {
        self.stack.clone()
    }

    pub fn app_client(&self) -> String {
        format!("{}-app", self.stack)
    }

    /// The table the triggers count sends, failures and locks in.
    pub fn limits_table(&self) -> String {
        format!("{}-limits", self.stack)
    }

    /// Every user pool of the account in the stack's region: the role exists before its
    /// pool, so grants on the pool name this and narrow it by the pool's ownership tag.
    pub fn user_pools_arn(&self) -> String {
        self.arn("cognito-idp", &self.region, "userpool/*")
    }

    pub fn limits_table_arn(&self) -> String {
        self.arn(
            "dynamodb",
            &self.region,
            &format!("table/{}", self.limits_table()),
        )
    }

    pub fn identity_arn(&self, identity: &str) -> String {
        self.arn("ses", &self.region, &format!("identity/{identity}"))
    }

    /// The stack's own SES configuration set, which every code is sent with.
    pub fn configuration_set(&self) -> String {
        format!("{}-mail", self.stack)
    }

    pub fn configuration_set_arn(&self, name: &str) -> String {
        self.arn("ses", &self.region, &format!("configuration-set/{name}"))
    }

    /// The topic the stack's alarms notify, when the stack owns one.
    pub fn alarm_topic(&self) -> String {
        format!("{}-alarms", self.stack)
    }

    pub fn alarm_topic_arn(&self) -> String {
        self.arn("sns", &self.region, &self.alarm_topic())
    }

    /// One of the stack's alarms, by its suffix (`send-failures`).
    pub fn alarm(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.stack)
    }

    pub fn alarm_arn(&self, name: &str) -> String {
        self.arn("cloudwatch", &self.region, &format!("alarm:{name}"))
    }

    /// The trigger's log group: the name Lambda writes to by default.
    pub fn log_group(&self, kind: TriggerKind) -> String {
        format!("/aws/lambda/{}", self.function(kind))
    }

    /// The log group's ARN as tagging takes it (without DescribeLogGroups' `:*`).
    pub fn log_group_resource_arn(&self, kind: TriggerKind) -> String {
        self.arn(
            "logs",
            &self.region,
            &format!("log-group:{}", self.log_group(kind)),
        )
    }

    pub fn log_group_arn(&self, kind: TriggerKind) -> String {
        self.arn(
            "logs",
            &self.region,
            &format!("log-group:/aws/lambda/{}:*", self.function(kind)),
        )
    }

    /// The issuer Cognito writes into this pool's tokens.
    pub fn issuer(&self, pool_id: &str) -> String {
        issuer(&self.region, &self.partition, pool_id)
    }
}

/// The issuer Cognito writes into the tokens of pool `pool_id` in `region`.
pub fn issuer(region: &str, partition: &Partition, pool_id: &str) -> String {
    format!(
        "https://cognito-idp.{region}.{}/{pool_id}",
        partition.dns_suffix
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_comes_from_the_callers_arn() {
        let china =
            Partition::from_arn("arn:aws-cn:sts::123456789012:assumed-role/ci/run").unwrap();
        assert_eq!(china.name, "aws-cn");
        assert_eq!(china.dns_suffix, "amazonaws.com.cn");
        let names = Names::new("acme", "cn-north-1", "123456789012", china);
        assert_eq!(
            names.role_arn(),
            "arn:aws-cn:iam::123456789012:role/acme-triggers"
        );
        assert_eq!(
            names.issuer("cn-north-1_x"),
            "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_x"
        );
        let gov = Partition::from_arn("arn:aws-us-gov:iam::1:user/x").unwrap();
        assert_eq!(gov.dns_suffix, "amazonaws.com");
        assert_eq!(Partition::from_arn("not an arn"), None);
        assert_eq!(Partition::of_region("cn-northwest-1"), names.partition);
        assert_eq!(Partition::of_region("us-isob-east-1").name, "aws-iso-b");
        assert_eq!(Partition::of_region("eu-west-1").name, "aws");
    }
}
