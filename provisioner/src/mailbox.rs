//! The local emulator's outbox (`GET /_ministack/ses/messages`), where sign-in codes land
//! instead of an inbox. Only meaningful for a stack with an `endpoint`.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SentMessage {
    pub message_id: String,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub body_text: String,
    #[serde(default)]
    pub body_html: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Outbox {
    messages: std::collections::BTreeMap<String, Vec<SentMessage>>,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read the emulator's outbox at {url}: {reason}; is the emulator running (`cargo xtask emulator start`)?"
)]
pub struct MailboxError {
    pub url: String,
    pub reason: String,
}

/// Every message the emulator sent for `account`, oldest first.
pub fn messages(endpoint: &str, account: &str) -> Result<Vec<SentMessage>, MailboxError> {
    let url = format!("{endpoint}/_ministack/ses/messages?account={account}");
    let error = |reason: String| MailboxError {
        url: url.clone(),
        reason,
    };
    let outbox: Outbox = ureq::get(&url)
        .call()
        .map_err(|e| error(e.to_string()))?
        .body_mut()
        .read_json()
        .map_err(|e| error(e.to_string()))?;
    Ok(outbox.messages.into_values().flatten().collect())
}

/// The digits of the newest code sent to `recipient` that is not among `seen` message ids.
pub fn newest_code(messages: &[SentMessage], recipient: &str, seen: &[String]) -> Option<String> {
    messages
        .iter()
        .rev()
        .filter(|m| !seen.contains(&m.message_id))
        .find(|m| m.to.iter().any(|to| to.eq_ignore_ascii_case(recipient)))
        .and_then(|m| code_in(&m.body_text))
}

/// The first run of 6 to 10 digits in a message body.
pub fn code_in(body: &str) -> Option<String> {
    body.split(|c: char| !c.is_ascii_digit())
        .find(|run| (6..=10).contains(&run.len()))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_code_in_our_email_text() {
        let bundle = triggers::template::Bundle {
            app_name: "Acme 2026".to_owned(),
            locales: [(
                "default".to_owned(),
                crate::email_templates::shipped_english(),
            )]
            .into(),
        };
        let message = bundle
            .check()
            .unwrap()
            .render(None, "0042917", 180, "a@b.example");
        assert_eq!(code_in(&message.text).as_deref(), Some("0042917"));
        assert_eq!(code_in("no code here, only 12345"), None);
    }
}
