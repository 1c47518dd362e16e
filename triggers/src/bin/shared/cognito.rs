//! Cognito's admin API, for the triggers that need it: one client per process, with a
//! budget well inside the 5 s Cognito gives a trigger.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;

/// A Cognito call gets at most this much of the trigger's 5 s.
pub const COGNITO_BUDGET: Duration = Duration::from_millis(1500);

pub async fn client() -> aws_sdk_cognitoidentityprovider::Client {
    let config = crate::http::sdk_defaults()
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_timeout(COGNITO_BUDGET)
                .build(),
        )
        .load()
        .await;
    aws_sdk_cognitoidentityprovider::Client::new(&config)
}
