//! The spec as YAML text: one file or a chain of them (`extends:`), merged, with `${NAME}`
//! taken from the environment, every node remembering the file and line it came from. Errors
//! found later (a value out of range, a rule spanning fields) are located through it: the
//! file, line and full key path of the offending value itself.

use std::path::{Path, PathBuf};

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoadError, LoaderOptions, Node, Span};
use serde::de::DeserializeOwned;

use super::SpecError;

/// The key that names a base spec; it is the loader's, not the stack's.
pub const EXTENDS: &str = "extends";

/// Where to look up `${NAME}`: the process environment, or a map in tests.
pub type Environment<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The merged spec and the files it came from (the spec first, then its bases).
#[derive(Debug, Clone)]
pub struct Document {
    files: Vec<PathBuf>,
    root: MarkedMappingNode,
}

impl Document {
    /// Reads `path` and every base it extends, merges them and expands `${NAME}`.
    pub fn load(path: &Path, environment: Environment<'_>) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|error| SpecError::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::from_text(path, &text, environment)
    }

    /// As [`Document::load`], with the spec's own text given; its bases are read from disk.
    pub fn from_text(
        path: &Path,
        text: &str,
        environment: Environment<'_>,
    ) -> Result<Self, SpecError> {
        let mut document = Self {
            files: Vec::new(),
            root: MarkedMappingNode::new_empty(Span::new_blank()),
        };
        document.root = document.read_chain(path, text)?;
        let mut root = std::mem::replace(
            &mut document.root,
            MarkedMappingNode::new_empty(Span::new_blank()),
        );
        expand_mapping(
            &mut root,
            &mut Vec::new(),
            &|span, path, problem| document.error_at(span, path, problem),
            environment,
        )?;
        document.root = root;
        Ok(document)
    }

    /// Parses one file and, before it, the base it names; returns the two merged.
    fn read_chain(&mut self, path: &Path, text: &str) -> Result<MarkedMappingNode, SpecError> {
        let source = self.files.len();
        self.files.push(path.to_owned());
        let options = LoaderOptions::default().error_on_duplicate_keys(true);
        let mut mapping = match marked_yaml::parse_yaml_with_options(source, text, options) {
            Ok(Node::Mapping(mapping)) => mapping,
            Ok(_) => {
                return Err(self.invalid(
                    source,
                    Some(1),
                    "the spec must be a mapping of keys such as `name:` and `email:`".to_owned(),
                ));
            }
            Err(error) => return Err(self.load_error(source, &error)),
        };
        let Some(extends) = mapping.remove(EXTENDS) else {
            return Ok(mapping);
        };
        let (line, named) = match &extends {
            Node::Scalar(scalar) if !scalar.as_str().trim().is_empty() => {
                (line_of_span(scalar.span()), scalar.as_str().to_owned())
            }
            other => {
                return Err(self.invalid(
                    source,
                    line_of_span(other.span()),
                    format!("{EXTENDS}: must be the path of a base spec, relative to this file"),
                ));
            }
        };
        let base_path = path.parent().unwrap_or(Path::new(".")).join(&named);
        let identity = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
        if self
            .files
            .iter()
            .any(|seen| identity(seen) == identity(&base_path))
        {
            let chain: Vec<String> = self
                .files
                .iter()
                .map(|f| f.display().to_string())
                .chain([base_path.display().to_string()])
                .collect();
            return Err(self.invalid(
                source,
                line,
                format!(
                    "{EXTENDS}: {named:?} makes a cycle ({}); a base may not extend a spec that extends it",
                    chain.join(" -> ")
                ),
            ));
        }
        let base_text = std::fs::read_to_string(&base_path).map_err(|error| {
            self.invalid(
                source,
                line,
                format!(
                    "{EXTENDS}: cannot read the base spec {} ({error}); the path is relative to this file",
                    base_path.display()
                ),
            )
        })?;
        let mut base = self.read_chain(&base_path, &base_text)?;
        merge(&mut base, mapping);
        Ok(base)
    }

    fn load_error(&self, source: usize, error: &LoadError) -> SpecError {
        let (line, message) = match error {
            LoadError::UnexpectedAnchor(m) => (
                m.line(),
                "YAML anchors, aliases and merge keys are not supported; use `extends:` to share settings".to_owned(),
            ),
            LoadError::UnexpectedTag(m) => (m.line(), "YAML tags (`!name`) are not supported".to_owned()),
            LoadError::MappingKeyMustBeScalar(m) => (m.line(), "keys must be plain names".to_owned()),
            LoadError::TopLevelMustBeMapping(m) | LoadError::TopLevelMustBeSequence(m) => (
                m.line(),
                "the spec must be a mapping of keys such as `name:` and `email:`".to_owned(),
            ),
            LoadError::ScanError(m, scan) => (m.line(), format!("not valid YAML: {}", scan.info())),
            LoadError::DuplicateKey(inner) => (
                inner.key.span().start().map_or(1, |m| m.line()),
                format!("the key {:?} appears twice", inner.key.as_str()),
            ),
        };
        self.invalid(source, Some(line), message)
    }

    fn invalid(&self, source: usize, line: Option<usize>, message: String) -> SpecError {
        SpecError::Invalid {
            path: self.files[source].clone(),
            line,
            message,
        }
    }

    /// An error about the node spanning `span`, at `key_path`.
    fn error_at(&self, span: &Span, key_path: &[String], problem: String) -> SpecError {
        let source = span.start().map_or(0, |m| m.source());
        let prefix = if key_path.is_empty() {
            String::new()
        } else {
            format!("{}: ", key_path.join("."))
        };
        self.invalid(source, line_of_span(span), format!("{prefix}{problem}"))
    }

    /// The spec file itself (not a base).
    pub fn path(&self) -> &Path {
        &self.files[0]
    }

    /// The key at `key_path`, when the merged spec has it.
    fn key(&self, key_path: &[&str]) -> Option<&MarkedScalarNode> {
        let (last, parents) = key_path.split_last()?;
        let mut mapping = &self.root;
        for key in parents {
            mapping = mapping.get_mapping(key)?;
        }
        mapping.keys().find(|k| k.as_str() == *last)
    }

    /// An error about the value at `key_path`: in the file and on the line that set it,
    /// or where the nearest enclosing key was set when the key itself is absent.
    pub fn error(&self, key_path: &[&str], problem: impl Into<String>) -> SpecError {
        let owned: Vec<String> = key_path.iter().map(|k| (*k).to_owned()).collect();
        let located = (0..=key_path.len())
            .rev()
            .find_map(|n| self.key(&key_path[..n]).map(|k| *k.span()))
            .unwrap_or_else(Span::new_blank);
        self.error_at(&located, &owned, problem.into())
    }

    /// A path written in the spec at `key_path`, resolved against the folder of the file
    /// that wrote it (a base's templates sit beside the base).
    pub fn resolve(&self, key_path: &[&str], written: &Path) -> PathBuf {
        let source = self
            .key(key_path)
            .and_then(|k| k.span().start())
            .map_or(0, |m| m.source());
        self.files[source]
            .parent()
            .unwrap_or(Path::new("."))
            .join(written)
    }

    /// The merged spec as `T`; an error names the file, line and key path of the value.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, SpecError> {
        let root = Node::Mapping(self.root.clone());
        marked_yaml::from_node(&root).map_err(|error| {
            let path: Vec<String> = error
                .path()
                .map(|p| p.split('.').map(str::to_owned).collect())
                .unwrap_or_default();
            let mut path: Vec<&str> = path.iter().map(String::as_str).collect();
            let message = match error.into_inner() {
                marked_yaml::Error::UnknownFieldError(field, expected, _) => {
                    if path.last() != Some(&field.as_str()) {
                        path.push(&field);
                    }
                    let message = format!("unknown field, expected {}", one_of(expected));
                    return self.error(&path, message);
                }
                marked_yaml::Error::NotBoolean(_) => "expected true or false".to_owned(),
                marked_yaml::Error::IntegerParseFailure(..) => "expected a whole number".to_owned(),
                marked_yaml::Error::FloatParseFailure(..) => "expected a number".to_owned(),
                marked_yaml::Error::Other(message, _) => message,
            };
            self.error(&path, message)
        })
    }
}

fn one_of(expected: &[&str]) -> String {
    let quoted: Vec<String> = expected.iter().map(|e| format!("`{e}`")).collect();
    match quoted.as_slice() {
        [] => "no fields here".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("one of {}, or {last}", init.join(", ")),
    }
}

fn line_of_span(span: &Span) -> Option<usize> {
    span.start().map(|m| m.line()).filter(|&line| line > 0)
}

/// `over` on top of `base`: maps merge key by key, anything else is replaced whole.
fn merge(base: &mut MarkedMappingNode, over: MarkedMappingNode) {
    for (key, value) in over.iter() {
        let merged = match (base.get_mut(key.as_str()), value) {
            (Some(Node::Mapping(under)), Node::Mapping(above)) => {
                merge(under, above.clone());
                None
            }
            _ => Some(value.clone()),
        };
        if let Some(value) = merged {
            // The overriding key replaces the base's, so errors point at the file that set it.
            base.remove(key.as_str());
            base.insert(key.clone(), value);
        }
    }
}

type Locate<'a> = dyn Fn(&Span, &[String], String) -> SpecError + 'a;

fn expand_mapping(
    mapping: &mut MarkedMappingNode,
    path: &mut Vec<String>,
    locate: &Locate<'_>,
    environment: Environment<'_>,
) -> Result<(), SpecError> {
    for (key, value) in mapping.iter_mut() {
        path.push(key.as_str().to_owned());
        expand_node(value, path, locate, environment)?;
        path.pop();
    }
    Ok(())
}

fn expand_node(
    node: &mut Node,
    path: &mut Vec<String>,
    locate: &Locate<'_>,
    environment: Environment<'_>,
) -> Result<(), SpecError> {
    match node {
        Node::Mapping(mapping) => expand_mapping(mapping, path, locate, environment),
        Node::Sequence(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                path.push(index.to_string());
                expand_node(item, path, locate, environment)?;
                path.pop();
            }
            Ok(())
        }
        Node::Scalar(scalar) => {
            if !scalar.as_str().contains("${") {
                return Ok(());
            }
            let expanded = expand(scalar.as_str(), environment)
                .map_err(|problem| locate(scalar.span(), path, problem))?;
            let mut replaced = MarkedScalarNode::new(*scalar.span(), expanded);
            replaced.set_coerce(scalar.may_coerce());
            *scalar = replaced;
            Ok(())
        }
    }
}

/// `${NAME}` replaced by the variable's value, and `${NAME:-default}` by the value or, when
/// the variable is unset or empty, by `default`; nothing else is touched.
fn expand(text: &str, environment: Environment<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!(
                "{text:?}: `${{` opens a variable that is never closed; write `${{NAME}}`"
            ));
        };
        let (name, default) = match after[..end].split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (&after[..end], None),
        };
        let well_formed = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !well_formed {
            return Err(format!(
                "{text:?}: `${{{name}}}` is not a variable name; use letters, digits and _ (such as `${{PR_NUMBER}}`)"
            ));
        }
        let value = match (environment(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => value,
            (None, Some(default)) => default.to_owned(),
            (None, None) => {
                return Err(format!(
                    "the environment variable {name} is not set (the spec uses `${{{name}}}`); set it, write the value out, or give a default: `${{{name}:-value}}`"
                ));
            }
        };
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The process environment, for `${NAME}`.
pub fn process_environment(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
