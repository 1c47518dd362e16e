//! Fields: every managed setting as a named canonical text value, so one comparison serves
//! all resource kinds and a difference prints as `field: old → new`. Pure.

use std::collections::BTreeMap;

pub type Fields = BTreeMap<&'static str, String>;

/// A value that exists only once an earlier step of the same apply has run.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// `k=v, k=v`, sorted by key.
pub fn map_field<K: AsRef<str>, V: AsRef<str>>(map: impl IntoIterator<Item = (K, V)>) -> String {
    let mut pairs: Vec<String> = map
        .into_iter()
        .map(|(k, v)| format!("{}={}", k.as_ref(), v.as_ref()))
        .collect();
    pairs.sort();
    pairs.join(", ")
}

/// Items sorted and joined, so order never counts as a change.
pub fn list_field<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let mut items: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    items.sort();
    items.join(", ")
}

/// JSON with sorted keys and no whitespace, so equal documents compare equal as text.
pub fn canonical_json(value: &serde_json::Value) -> String {
    fn sorted(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                serde_json::Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(sorted).collect())
            }
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// Tags as the stack wants them: the spec's and the ownership tag.
pub type Tags = BTreeMap<String, String>;

/// One field's difference between what exists and what is wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    /// `None` when the resource does not exist.
    pub old: Option<String>,
    /// `None` when the resource is to be deleted.
    pub new: Option<String>,
}

/// The fields one update call carries. Each kind declares its calls beside its fields, and a
/// unit test per kind checks that every field is carried by some call or forces a replace.
#[derive(Debug, Clone, Copy)]
pub struct UpdateCall {
    pub operation: &'static str,
    pub fields: &'static [&'static str],
}

impl UpdateCall {
    /// Whether any of the changes is one this call carries.
    pub fn needed_for(&self, changes: &[FieldChange]) -> bool {
        changes.iter().any(|c| self.fields.contains(&c.field))
    }
}

/// A field deploy watches but never changes: settings someone else may have added (a foreign
/// trigger, another app client). Drift reports them with `advice`; deploy names them and
/// leaves them alone, since removing what another team added could break them.
#[derive(Debug, Clone, Copy)]
pub struct Watched {
    pub field: &'static str,
    pub advice: &'static str,
}
