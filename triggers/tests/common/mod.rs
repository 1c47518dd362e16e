use serde::de::DeserializeOwned;

/// Loads `tests/fixtures/<name>.json` as the event type a trigger receives.
pub fn fixture<T: DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// The templates the project ships (`stacks/emails`), English as the default and German.
#[allow(dead_code)]
pub fn shipped_templates() -> triggers::template::Templates {
    use triggers::template::{Bundle, Sources};
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../stacks/emails");
    let locale = |dir: &str| {
        let read = |file: &str| std::fs::read_to_string(format!("{root}/{dir}/{file}")).unwrap();
        Sources {
            subject: read("subject.txt"),
            text: read("body.txt"),
            html: read("body.html"),
        }
    };
    Bundle {
        app_name: "Acme <Staging>".to_owned(),
        locales: [("default", locale("en")), ("de", locale("de"))]
            .into_iter()
            .map(|(l, s)| (l.to_owned(), s))
            .collect(),
    }
    .check()
    .unwrap()
}
