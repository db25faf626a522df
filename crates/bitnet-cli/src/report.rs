//! Findings as the command line shows them: one line of text, or a JSON object.

use bitnet_gguf::Severity;
use bitnet_models::ModelError;
use serde_json::{json, Map, Value};

/// `MESSAGE [CODE]`: one error as every command but compat-check shows it, with the stable
/// code compat-check shows in its `SEVERITY[CODE]` lines.
#[cfg_attr(not(feature = "full-cli"), allow(dead_code))]
pub(crate) fn coded(message: impl std::fmt::Display, code: &str) -> String {
    format!("{message} [{code}]")
}

/// One finding, with the facts the library error carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) offset: Option<u64>,
    pub(crate) tensor: Option<String>,
    pub(crate) key: Option<String>,
}

impl Finding {
    /// The finding for a library error; under `strict`, a warning is an error.
    pub(crate) fn new(error: &ModelError, strict: bool) -> Self {
        let severity = match error.severity() {
            Severity::Warning if strict => Severity::Error,
            s => s,
        };
        Self {
            severity,
            code: error.code(),
            message: error.to_string(),
            offset: error.location().offset,
            tensor: error.location().tensor.map(str::to_owned),
            key: error.location().key.map(str::to_owned),
        }
    }

    /// `error`, `warning` or `info`.
    pub(crate) fn label(&self) -> &'static str {
        match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    /// One line: `error[code] byte N: message (tensor "t")`. The tensor and key are appended
    /// only when the message does not already name them, which the library's messages do.
    pub(crate) fn text(&self) -> String {
        let mut line = format!("{}[{}]", self.label(), self.code);
        if let Some(offset) = self.offset {
            line.push_str(&format!(" byte {offset}"));
        }
        line.push_str(": ");
        line.push_str(&self.message);
        let named = |s: &str| self.message.contains(&format!("{s:?}"));
        let mut extra = Vec::new();
        if let Some(t) = self.tensor.as_deref().filter(|t| !named(t)) {
            extra.push(format!("tensor {t:?}"));
        }
        if let Some(k) = self.key.as_deref().filter(|k| !named(k)) {
            extra.push(format!("key {k:?}"));
        }
        if !extra.is_empty() {
            line.push_str(&format!(" ({})", extra.join(", ")));
        }
        line
    }

    /// `{"code", "message"}` plus `offset`, `tensor` and `key` where known.
    pub(crate) fn json(&self) -> Value {
        let mut m = Map::new();
        m.insert("code".into(), json!(self.code));
        m.insert("message".into(), json!(self.message));
        if let Some(offset) = self.offset {
            m.insert("offset".into(), json!(offset));
        }
        if let Some(tensor) = &self.tensor {
            m.insert("tensor".into(), json!(tensor));
        }
        if let Some(key) = &self.key {
            m.insert("key".into(), json!(key));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitnet_gguf::{GgufError, GgufWarning};

    #[test]
    fn strict_turns_warnings_into_errors() {
        let warning = ModelError::GgufWarning(GgufWarning::TrailingBytes { offset: 96, len: 3 });
        assert_eq!(Finding::new(&warning, false).severity, Severity::Warning);
        let strict = Finding::new(&warning, true);
        assert_eq!(strict.severity, Severity::Error);
        assert_eq!(
            strict.text(),
            "error[trailing-bytes] byte 96: 3 unexpected bytes after the last tensor, from byte 96"
        );
        assert_eq!(
            strict.json(),
            json!({"code": "trailing-bytes", "message": strict.message, "offset": 96})
        );
    }

    #[test]
    fn names_the_tensor_once() {
        let e = ModelError::Gguf(GgufError::UnknownType {
            tensor: "w".into(),
            type_id: 99,
        });
        assert_eq!(
            Finding::new(&e, false).text(),
            "error[unknown-type]: tensor \"w\": unknown ggml type 99"
        );
        let e = ModelError::MissingKey {
            key: "general.name".into(),
        };
        assert_eq!(
            Finding::new(&e, false).text(),
            "error[missing-key]: required key \"general.name\" is missing"
        );
    }
}
