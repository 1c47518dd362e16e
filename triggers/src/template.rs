//! The team's own sign-in email: `{{placeholder}}` templates per locale, parsed and checked
//! by the provisioner at plan time and rendered by the Create trigger for each code.
//!
//! Both sides use this module, so a template the plan accepted is one the trigger can
//! render: the trigger re-parses the same sources at cold start and never meets an
//! unknown placeholder.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::email::{Message, html_escape};

/// The file name of the bundle inside the Create function's zip, beside `bootstrap`.
pub const BUNDLE_FILE: &str = "email-templates.json";
/// The locale a bundle must have: what every user without a matching `locale` gets.
pub const DEFAULT_LOCALE: &str = "default";
/// One template folder's files.
pub const SUBJECT_FILE: &str = "subject.txt";
pub const TEXT_FILE: &str = "body.txt";
pub const HTML_FILE: &str = "body.html";

/// Mail clients cut long subjects; a subject past this is a mistake, not a design.
pub const MAX_SUBJECT_BYTES: usize = 200;
/// Gmail clips HTML bodies past about 100 KB; stay well inside.
pub const MAX_HTML_BYTES: usize = 64 * 1024;
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
pub const MAX_APP_NAME_CHARS: usize = 100;

/// A value a template may insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    Code,
    Minutes,
    AppName,
    Email,
}

impl Placeholder {
    pub const ALL: [Placeholder; 4] = [Self::Code, Self::Minutes, Self::AppName, Self::Email];

    pub fn name(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Minutes => "minutes",
            Self::AppName => "app_name",
            Self::Email => "email",
        }
    }

    fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Value(Placeholder),
}

/// A parsed template: literal text and placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Segment>);

/// A problem in one template file, at a line (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TemplateError {
    pub line: usize,
    pub message: String,
}

impl Template {
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut segments = Vec::new();
        let mut rest = source;
        let mut consumed = 0;
        let line_at = |offset: usize| source[..offset].matches('\n').count() + 1;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                segments.push(Segment::Literal(rest[..open].to_owned()));
            }
            let after_open = &rest[open + 2..];
            let Some(close) = after_open.find("}}") else {
                return Err(TemplateError {
                    line: line_at(consumed + open),
                    message: "`{{` is never closed by `}}`".to_owned(),
                });
            };
            let name = after_open[..close].trim();
            let placeholder = Placeholder::named(name).ok_or_else(|| TemplateError {
                line: line_at(consumed + open),
                message: format!(
                    "unknown placeholder `{{{{{name}}}}}`; the placeholders are {}",
                    Placeholder::ALL
                        .map(|p| format!("{{{{{}}}}}", p.name()))
                        .join(", ")
                ),
            })?;
            segments.push(Segment::Value(placeholder));
            let advance = open + 2 + close + 2;
            consumed += advance;
            rest = &rest[advance..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_owned()));
        }
        Ok(Self(segments))
    }

    pub fn uses(&self, placeholder: Placeholder) -> bool {
        self.0.contains(&Segment::Value(placeholder))
    }

    fn render(&self, values: &Values<'_>, escape: fn(&str) -> String) -> String {
        self.0
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => text.clone(),
                Segment::Value(placeholder) => escape(&values.get(*placeholder)),
            })
            .collect()
    }
}

/// The values of one email.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    pub code: &'a str,
    pub ttl_seconds: u64,
    pub app_name: &'a str,
    pub email: &'a str,
}

impl Values<'_> {
    fn get(&self, placeholder: Placeholder) -> String {
        match placeholder {
            Placeholder::Code => self.code.to_owned(),
            Placeholder::Minutes => minutes(self.ttl_seconds),
            Placeholder::AppName => self.app_name.to_owned(),
            Placeholder::Email => self.email.to_owned(),
        }
    }
}

/// Whole minutes as a number, a part minute with one decimal: 180 → "3", 90 → "1.5".
pub fn minutes(ttl_seconds: u64) -> String {
    if ttl_seconds.is_multiple_of(60) {
        (ttl_seconds / 60).to_string()
    } else {
        format!("{:.1}", ttl_seconds as f64 / 60.0)
    }
}

/// One locale's three files, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sources {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A problem in one file of one locale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {error}")]
pub struct FileError {
    /// `subject.txt`, `body.txt` or `body.html`.
    pub file: &'static str,
    #[source]
    pub error: TemplateError,
}

/// A locale's templates, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocaleTemplates {
    subject: Template,
    text: Template,
    html: Template,
}

impl Sources {
    /// Parses and checks the three files: known placeholders only, the code in both
    /// bodies, a one-line subject, sizes within bounds.
    pub fn check(&self) -> Result<LocaleTemplates, FileError> {
        let fail = |file, line, message: String| FileError {
            file,
            error: TemplateError { line, message },
        };
        let subject = self.subject.trim_end_matches(['\r', '\n']);
        if let Some(newline) = subject.find('\n') {
            let line = subject[..newline].matches('\n').count() + 2;
            return Err(fail(
                SUBJECT_FILE,
                line,
                "the subject must be one line".to_owned(),
            ));
        }
        if subject.trim().is_empty() {
            return Err(fail(SUBJECT_FILE, 1, "the subject is empty".to_owned()));
        }
        for (file, text, max) in [
            (SUBJECT_FILE, subject, MAX_SUBJECT_BYTES),
            (TEXT_FILE, self.text.as_str(), MAX_TEXT_BYTES),
            (HTML_FILE, self.html.as_str(), MAX_HTML_BYTES),
        ] {
            if text.len() > max {
                return Err(fail(
                    file,
                    1,
                    format!("{} bytes, more than the {max} allowed", text.len()),
                ));
            }
        }
        let parse = |file, text| Template::parse(text).map_err(|error| FileError { file, error });
        let parsed = LocaleTemplates {
            subject: parse(SUBJECT_FILE, subject)?,
            text: parse(TEXT_FILE, &self.text)?,
            html: parse(HTML_FILE, &self.html)?,
        };
        for (file, template) in [(TEXT_FILE, &parsed.text), (HTML_FILE, &parsed.html)] {
            if !template.uses(Placeholder::Code) {
                return Err(fail(
                    file,
                    1,
                    "has no `{{code}}`: the email would not carry the sign-in code".to_owned(),
                ));
            }
        }
        Ok(parsed)
    }
}

impl LocaleTemplates {
    /// The email: values escaped for HTML in the HTML body, line breaks kept out of the
    /// subject (a header), the text body as is.
    pub fn render(&self, values: &Values<'_>) -> Message {
        let one_line = |value: &str| value.replace(['\r', '\n'], " ");
        Message {
            subject: self.subject.render(values, one_line),
            text: self.text.render(values, str::to_owned),
            html: self.html.render(values, html_escape),
        }
    }
}

/// What travels with the Create function: the app's name and every locale's sources.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Bundle {
    pub app_name: String,
    /// Keyed by locale (`default`, `de`, `pt-br`, ...), lower case.
    pub locales: BTreeMap<String, Sources>,
}

/// A bundle's problem: which locale, which file, which line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("the email template bundle is not valid JSON: {0}")]
    Json(String),
    #[error("the email templates have no `{DEFAULT_LOCALE}` locale")]
    NoDefault,
    #[error("locale {locale:?}: {error}")]
    Locale {
        locale: String,
        #[source]
        error: FileError,
    },
    #[error("app_name {0}")]
    AppName(&'static str),
}

/// Every locale checked, ready to render.
#[derive(Debug, Clone)]
pub struct Templates {
    app_name: String,
    locales: BTreeMap<String, LocaleTemplates>,
}

impl Bundle {
    pub fn check(&self) -> Result<Templates, BundleError> {
        if self.app_name.chars().count() > MAX_APP_NAME_CHARS {
            return Err(BundleError::AppName("is longer than 100 characters"));
        }
        if self.app_name.chars().any(char::is_control) {
            return Err(BundleError::AppName(
                "contains a control character such as a line break",
            ));
        }
        if !self.locales.contains_key(DEFAULT_LOCALE) {
            return Err(BundleError::NoDefault);
        }
        let locales = self
            .locales
            .iter()
            .map(|(locale, sources)| {
                sources
                    .check()
                    .map(|parsed| (locale.to_lowercase(), parsed))
                    .map_err(|error| BundleError::Locale {
                        locale: locale.clone(),
                        error,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Templates {
            app_name: self.app_name.clone(),
            locales,
        })
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a bundle is strings only")
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, BundleError> {
        serde_json::from_slice(bytes).map_err(|e| BundleError::Json(e.to_string()))
    }
}

impl Templates {
    /// The templates for a user's `locale` attribute: the exact locale (`pt-BR`, `pt_br`),
    /// else its language (`pt`), else `default`.
    pub fn for_locale(&self, locale: Option<&str>) -> &LocaleTemplates {
        let wanted = locale.map(|l| l.trim().to_lowercase().replace('_', "-"));
        wanted
            .as_deref()
            .and_then(|wanted| {
                self.locales.get(wanted).or_else(|| {
                    wanted
                        .split_once('-')
                        .and_then(|(language, _)| self.locales.get(language))
                })
            })
            .unwrap_or_else(|| &self.locales[DEFAULT_LOCALE])
    }

    /// The email for `email` in its owner's locale.
    pub fn render(
        &self,
        locale: Option<&str>,
        code: &str,
        ttl_seconds: u64,
        email: &str,
    ) -> Message {
        self.for_locale(locale).render(&Values {
            code,
            ttl_seconds,
            app_name: &self.app_name,
            email,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(subject: &str, text: &str, html: &str) -> Sources {
        Sources {
            subject: subject.to_owned(),
            text: text.to_owned(),
            html: html.to_owned(),
        }
    }

    fn bundle(app_name: &str, locales: &[(&str, Sources)]) -> Bundle {
        Bundle {
            app_name: app_name.to_owned(),
            locales: locales
                .iter()
                .map(|(l, s)| ((*l).to_owned(), s.clone()))
                .collect(),
        }
    }

    fn plain() -> Sources {
        sources(
            "{{app_name}} code\n",
            "Code {{code}} for {{email}}, {{minutes}} min",
            "<b>{{code}}</b> for {{ email }} in {{app_name}}",
        )
    }

    #[test]
    fn every_placeholder_is_filled_in() {
        let templates = bundle("Acme", &[("default", plain())]).check().unwrap();
        let message = templates.render(None, "123456", 180, "a@b.example");
        assert_eq!(message.subject, "Acme code");
        assert_eq!(message.text, "Code 123456 for a@b.example, 3 min");
        assert_eq!(message.html, "<b>123456</b> for a@b.example in Acme");
    }

    #[test]
    fn an_unknown_placeholder_is_named_with_its_line() {
        let error = Template::parse("Hello\n\nYour {{ cod }} is here").unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.message.contains("`{{cod}}`"), "{}", error.message);
        assert!(
            error
                .message
                .contains("{{code}}, {{minutes}}, {{app_name}}, {{email}}")
        );
        let error = Template::parse("a\n{{code").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.message.contains("never closed"));
    }

    #[test]
    fn a_template_without_the_code_is_refused_naming_the_file() {
        let error = sources("S", "no code here", "<p>{{code}}</p>")
            .check()
            .unwrap_err();
        assert_eq!(error.file, TEXT_FILE);
        assert!(error.to_string().contains("no `{{code}}`"), "{error}");
        let error = sources("S", "{{code}}", "<p>code</p>").check().unwrap_err();
        assert_eq!(error.file, HTML_FILE);
    }

    #[test]
    fn inserted_values_are_escaped_for_html_and_kept_on_one_line_in_the_subject() {
        let templates = bundle("<script>alert(1)</script>\u{2028}", &[("default", plain())]);
        // U+2028 is not a control character; a real line break in the name is refused.
        let templates = templates.check().unwrap();
        let message = templates.render(None, "123456", 60, "x\"@b.example");
        assert!(
            message
                .html
                .contains("in &lt;script&gt;alert(1)&lt;/script&gt;")
        );
        assert!(message.html.contains("for x&quot;@b.example"));
        assert!(!message.html.contains("<script>"));
        assert_eq!(
            bundle("Acme\nBcc: x@y.example", &[("default", plain())])
                .check()
                .unwrap_err(),
            BundleError::AppName("contains a control character such as a line break")
        );
        let one_line = bundle(
            "Acme",
            &[("default", sources("{{email}}", "{{code}}", "{{code}}"))],
        )
        .check()
        .unwrap()
        .render(None, "1", 60, "a@b.example\r\nBcc: c@d.example");
        assert!(
            !one_line.subject.contains(['\r', '\n']),
            "{:?}",
            one_line.subject
        );
    }

    #[test]
    fn the_subject_is_one_line() {
        let error = sources("Line one\nLine two\n", "{{code}}", "{{code}}")
            .check()
            .unwrap_err();
        assert_eq!((error.file, error.error.line), (SUBJECT_FILE, 2));
        assert!(
            sources("Only line\r\n", "{{code}}", "{{code}}")
                .check()
                .is_ok()
        );
        assert!(sources("\n", "{{code}}", "{{code}}").check().is_err());
    }

    #[test]
    fn sizes_are_bounded() {
        let long_subject = "s".repeat(MAX_SUBJECT_BYTES + 1);
        let error = sources(&long_subject, "{{code}}", "{{code}}")
            .check()
            .unwrap_err();
        assert_eq!(error.file, SUBJECT_FILE);
        let huge = format!("{{{{code}}}}{}", "x".repeat(MAX_HTML_BYTES));
        let error = sources("S", "{{code}}", &huge).check().unwrap_err();
        assert_eq!(error.file, HTML_FILE);
        assert!(error.to_string().contains("more than the 65536 allowed"));
        let error = bundle(&"a".repeat(101), &[("default", plain())])
            .check()
            .unwrap_err();
        assert_eq!(error, BundleError::AppName("is longer than 100 characters"));
    }

    #[test]
    fn the_locale_picks_the_closest_template_else_the_default() {
        let german = sources("Ihr Code", "Code {{code}}", "{{code}}");
        let templates = bundle("Acme", &[("default", plain()), ("de", german)])
            .check()
            .unwrap();
        let subject = |locale| templates.render(locale, "1", 60, "a@b.example").subject;
        assert_eq!(subject(Some("de")), "Ihr Code");
        assert_eq!(subject(Some("de-AT")), "Ihr Code");
        assert_eq!(subject(Some("DE_ch")), "Ihr Code");
        assert_eq!(subject(Some("fr")), "Acme code");
        assert_eq!(subject(None), "Acme code");
        assert_eq!(
            bundle("Acme", &[("de", plain())]).check().unwrap_err(),
            BundleError::NoDefault
        );
    }

    #[test]
    fn minutes_read_as_numbers() {
        assert_eq!(minutes(180), "3");
        assert_eq!(minutes(90), "1.5");
        assert_eq!(minutes(600), "10");
    }

    #[test]
    fn a_bundle_survives_its_json() {
        let original = bundle("Acme", &[("default", plain())]);
        assert_eq!(Bundle::from_json(&original.to_json()).unwrap(), original);
        assert!(matches!(Bundle::from_json(b"{"), Err(BundleError::Json(_))));
    }
}
