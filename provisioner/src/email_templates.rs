//! The spec's `email.templates`: each locale's folder read relative to the spec file and
//! checked with the trigger's own parser, so a template the plan accepts is one the
//! Create trigger renders. Without templates, the shipped English one is used, with the
//! spec's `email.subject` when it sets one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use triggers::template::{
    Bundle, BundleError, DEFAULT_LOCALE, HTML_FILE, SUBJECT_FILE, Sources, TEXT_FILE,
};

use crate::spec::{Document, SpecError, StackSpec};

/// The templates shipped in `stacks/emails/en`, built in for stacks that bring none.
pub(crate) fn shipped_english() -> Sources {
    Sources {
        subject: include_str!("../../stacks/emails/en/subject.txt").to_owned(),
        text: include_str!("../../stacks/emails/en/body.txt").to_owned(),
        html: include_str!("../../stacks/emails/en/body.html").to_owned(),
    }
}

/// The bundle for the spec read as `document`; each folder is relative to the file that
/// names it.
pub fn load(document: &Document, spec: &StackSpec) -> Result<Bundle, SpecError> {
    let email = &spec.email;
    let at = |keys: &[&str], message: String| document.error(keys, message);
    let folder_of =
        |locale: &str, folder: &Path| document.resolve(&["email", "templates", locale], folder);
    let app_name = email
        .app_name
        .clone()
        .unwrap_or_else(|| spec.name.as_str().to_owned());
    let locales = if email.templates.is_empty() {
        let mut english = shipped_english();
        if let Some(subject) = &email.subject {
            subject.clone_into(&mut english.subject);
        }
        BTreeMap::from([(DEFAULT_LOCALE.to_owned(), english)])
    } else {
        if email.subject.is_some() {
            return Err(at(
                &["email", "subject"],
                "with email.templates, each template's subject.txt is the subject; remove email.subject"
                    .to_owned(),
            ));
        }
        let mut locales = BTreeMap::new();
        for (locale, folder) in &email.templates {
            if !locale_well_formed(locale) {
                return Err(at(
                    &["email", "templates", locale],
                    format!(
                        "{locale:?} is not a locale: use `default`, a language such as `de`, or a language and region such as `pt-BR`"
                    ),
                ));
            }
            locales.insert(
                locale.to_lowercase(),
                read_folder(&folder_of(locale, folder))?,
            );
        }
        locales
    };
    let bundle = Bundle { app_name, locales };
    match bundle.check() {
        Ok(_) => Ok(bundle),
        Err(BundleError::Locale { locale, error }) => {
            let folder = email
                .templates
                .iter()
                .find(|(key, _)| key.to_lowercase() == locale)
                .map(|(locale, folder)| folder_of(locale, folder));
            Err(match folder {
                Some(folder) => SpecError::Invalid {
                    path: folder.join(error.file),
                    line: Some(error.error.line),
                    message: error.error.message,
                },
                None => at(&["email", "subject"], error.error.message),
            })
        }
        Err(BundleError::NoDefault) => Err(at(
            &["email", "templates"],
            format!(
                "needs a `{DEFAULT_LOCALE}` entry: what users whose locale has no template get"
            ),
        )),
        Err(BundleError::AppName(problem)) => Err(at(&["email", "app_name"], problem.to_owned())),
        Err(BundleError::Json(problem)) => Err(at(&["email"], problem)),
    }
}

fn read_folder(folder: &Path) -> Result<Sources, SpecError> {
    let read = |file: &str| -> Result<String, SpecError> {
        let path: PathBuf = folder.join(file);
        std::fs::read_to_string(&path).map_err(|error| SpecError::Invalid {
            message: format!(
                "cannot read this template file ({error}); a template folder holds {SUBJECT_FILE}, {TEXT_FILE} and {HTML_FILE}"
            ),
            path,
            line: None,
        })
    };
    Ok(Sources {
        subject: read(SUBJECT_FILE)?,
        text: read(TEXT_FILE)?,
        html: read(HTML_FILE)?,
    })
}

/// `default`, or a BCP 47 language with optional subtags: `de`, `pt-BR`, `zh-Hant-TW`.
fn locale_well_formed(locale: &str) -> bool {
    if locale == DEFAULT_LOCALE {
        return true;
    }
    let mut parts = locale.split(['-', '_']);
    let language_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()));
    language_ok
        && parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_in(dir: &Path, email_yaml: &str) -> Result<StackSpec, SpecError> {
        let path = dir.join("stack.yaml");
        let text =
            format!("name: acme\nregion: us-east-1\nemail:\n  from: a@acme.example\n{email_yaml}");
        std::fs::write(&path, &text).unwrap();
        StackSpec::load(&path)
    }

    fn folder(dir: &Path, name: &str, subject: &str, text: &str, html: &str) {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(SUBJECT_FILE), subject).unwrap();
        std::fs::write(folder.join(TEXT_FILE), text).unwrap();
        std::fs::write(folder.join(HTML_FILE), html).unwrap();
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("email-templates-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn without_templates_the_shipped_english_is_used_with_the_spec_subject() {
        let dir = scratch("shipped");
        let spec = spec_in(&dir, "  subject: Sign in to Acme\n").unwrap();
        let bundle = &spec.email_templates;
        assert_eq!(bundle.app_name, "acme");
        assert_eq!(bundle.locales[DEFAULT_LOCALE].subject, "Sign in to Acme");
        assert_eq!(bundle.locales[DEFAULT_LOCALE].html, shipped_english().html);
    }

    #[test]
    fn folders_are_read_relative_to_the_spec_and_checked() {
        let dir = scratch("folders");
        folder(
            &dir,
            "en",
            "Code for {{app_name}}",
            "{{code}}",
            "<b>{{code}}</b>",
        );
        folder(&dir, "de", "Code", "{{code}}", "{{code}}");
        let spec = spec_in(
            &dir,
            "  app_name: Acme Portal\n  templates:\n    default: en\n    DE: de\n",
        )
        .unwrap();
        let bundle = &spec.email_templates;
        assert_eq!(bundle.app_name, "Acme Portal");
        assert_eq!(
            bundle.locales.keys().collect::<Vec<_>>(),
            ["de", DEFAULT_LOCALE]
        );
    }

    #[test]
    fn an_unknown_placeholder_names_the_template_file_and_line() {
        let dir = scratch("placeholder");
        folder(
            &dir,
            "en",
            "Code",
            "Hello\n{{code}}\n{{name}}\n",
            "{{code}}",
        );
        let error = spec_in(&dir, "  templates:\n    default: en\n").unwrap_err();
        let SpecError::Invalid {
            path,
            line,
            message,
        } = &error
        else {
            panic!("{error}");
        };
        assert_eq!(path, &dir.join("en").join(TEXT_FILE));
        assert_eq!(*line, Some(3));
        assert!(
            message.contains("unknown placeholder `{{name}}`"),
            "{message}"
        );
        assert!(
            error
                .to_string()
                .contains("body.txt:3: unknown placeholder"),
            "{error}"
        );
    }

    #[test]
    fn spec_level_mistakes_name_the_spec_line() {
        let dir = scratch("spec-level");
        folder(&dir, "en", "Code", "{{code}}", "{{code}}");
        let error = spec_in(&dir, "  templates:\n    de: en\n").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("stack.yaml:5: email.templates: needs a `default`"),
            "{error}"
        );
        let error = spec_in(&dir, "  templates:\n    default: en\n    german!: en\n").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("stack.yaml:7: email.templates.german!"),
            "{error}"
        );
        let error = spec_in(&dir, "  subject: S\n  templates:\n    default: en\n").unwrap_err();
        assert!(
            error.to_string().contains("stack.yaml:5: email.subject"),
            "{error}"
        );
        let error = spec_in(&dir, "  templates:\n    default: missing\n").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("missing/subject.txt: cannot read"),
            "{error}"
        );
    }

    #[test]
    fn locales_are_language_tags() {
        for good in ["default", "de", "pt-BR", "zh-Hant-TW", "pt_br"] {
            assert!(locale_well_formed(good), "{good}");
        }
        for bad in ["", "d", "german", "de-", "de DE", "../x"] {
            assert!(!locale_well_formed(bad), "{bad}");
        }
    }
}
