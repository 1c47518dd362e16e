//! The sign-in email, rendered as plain text and HTML, and the masked address shown to
//! the client.

use crate::code::OneTimeCode;

/// A deliberately loose check: one `@` with something on both sides and a dot in the domain.
/// SES and Cognito do the real validation; this only catches configuration typos early.
pub fn looks_like_address(address: &str) -> bool {
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !address.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// `alice@example.com` becomes `a***@example.com`: enough for the user to recognise the
/// inbox, too little to harvest addresses. Anything that is not an address is fully hidden.
pub fn mask_address(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) if looks_like_address(address) => {
            let first = local.chars().next().unwrap_or('*');
            format!("{first}***@{domain}")
        }
        _ => "***".to_owned(),
    }
}

/// The email as SES sends it. Both bodies hold the code, so `Debug` leaves them out.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl Message {
    pub fn new(subject: &str, code: &OneTimeCode, ttl_seconds: u64) -> Self {
        let validity = validity_phrase(ttl_seconds);
        let digits = code.digits();
        let text = format!(
            "Your sign-in code is {digits}\n\nIt is valid for {validity}. If you did not try to sign in, you can ignore this email.\n"
        );
        let html = format!(
            "<!doctype html><html><body><p>Your sign-in code is</p><p style=\"font-size:24px;font-weight:bold;letter-spacing:4px\">{}</p><p>It is valid for {}. If you did not try to sign in, you can ignore this email.</p></body></html>",
            html_escape(digits),
            html_escape(&validity)
        );
        Self {
            subject: subject.to_owned(),
            text,
            html,
        }
    }
}

/// "3 minutes", "1 minute", or "90 seconds" when the TTL is not whole minutes.
pub fn validity_phrase(ttl_seconds: u64) -> String {
    match (ttl_seconds / 60, ttl_seconds % 60) {
        (1, 0) => "1 minute".to_owned(),
        (minutes, 0) => format!("{minutes} minutes"),
        _ if ttl_seconds == 1 => "1 second".to_owned(),
        _ => format!("{ttl_seconds} seconds"),
    }
}

pub fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_local_part_but_keeps_the_domain() {
        assert_eq!(mask_address("alice@example.com"), "a***@example.com");
        assert_eq!(mask_address("b@x.io"), "b***@x.io");
        assert_eq!(mask_address("3f1c9a2e-uuid-not-an-address"), "***");
    }

    #[test]
    fn address_check_catches_typos() {
        assert!(looks_like_address("no-reply@acme.example"));
        for bad in [
            "",
            "acme.example",
            "@acme.example",
            "a@b",
            "a@@b.c",
            "a b@c.d",
            "a@.c",
            "a@c.",
        ] {
            assert!(!looks_like_address(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn validity_reads_naturally() {
        assert_eq!(validity_phrase(180), "3 minutes");
        assert_eq!(validity_phrase(60), "1 minute");
        assert_eq!(validity_phrase(90), "90 seconds");
        assert_eq!(validity_phrase(1), "1 second");
    }

    #[test]
    fn html_special_characters_are_escaped() {
        assert_eq!(
            html_escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn message_carries_the_code_and_validity_in_both_bodies() {
        let code = OneTimeCode::from_digits("314159").unwrap();
        let message = Message::new("Sign in", &code, 300);
        assert_eq!(message.subject, "Sign in");
        assert!(message.text.contains("314159") && message.text.contains("5 minutes"));
        assert!(message.html.contains(">314159<") && message.html.contains("5 minutes"));
    }
}
