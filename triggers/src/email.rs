//! The sign-in email as SES sends it, HTML escaping, and the masked address shown to the
//! client. The email's wording is in `template`.

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
    fn html_special_characters_are_escaped() {
        assert_eq!(
            html_escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
