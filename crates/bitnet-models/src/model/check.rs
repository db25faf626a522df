//! Every finding of a model file, in file order: the container's, then per ternary tensor its
//! flavor, scale sibling and scan, then the `bitnet-b1.58` metadata rules.

use bitnet_gguf::Finding;

use super::keys::{check_required_keys, BITNET_ARCH};
use super::{Model, ModelError};
use crate::format::TernaryFormat;

impl Model<'_> {
    /// Every finding for the file, in file order: the container's ([`bitnet_gguf::Gguf::validate`]),
    /// then per ternary tensor [`Model::check_tensor`], then the required keys of
    /// `bitnet-b1.58` files.
    pub fn check(&self) -> Vec<ModelError> {
        let gguf = self.gguf();
        let mut findings: Vec<ModelError> = gguf
            .validate()
            .findings
            .into_iter()
            .map(|f| match f {
                Finding::Error(e) => ModelError::Gguf(e),
                Finding::Warning(w) => ModelError::GgufWarning(w),
            })
            .collect();
        for index in 0..gguf.tensors().len() {
            findings.extend(self.check_tensor(index));
        }
        if gguf.get("general.architecture").and_then(|v| v.as_str()) == Some(BITNET_ARCH) {
            check_required_keys(gguf, &mut findings);
        }
        findings
    }

    /// The findings of ternary tensor `index` (none for other types): why it cannot be
    /// resolved (flavor, scale sibling, data out of bounds) or, when it can, an ignored scale
    /// sibling and what the scan finds.
    pub fn check_tensor(&self, index: usize) -> Vec<ModelError> {
        let t = match self.ternary(index) {
            Ok(Some(t)) => t,
            Ok(None) => return Vec::new(),
            Err(e) => return vec![e],
        };
        let mut findings = Vec::new();
        if t.format == TernaryFormat::BitNet32F16 {
            if let Some((_, sibling)) = self.scale_sibling(index) {
                findings.push(ModelError::ScaleIgnored {
                    tensor: sibling.name.to_owned(),
                    weight: t.name.to_owned(),
                });
            }
        }
        // Scan only a tensor that lies within its own span. Tensors that overlap are an error
        // validation already reports, and scanning each over the bytes they share would make
        // `check` quadratic in a hostile file's size (thousands of TQ2_0 infos over one region).
        if t.data.len() > self.gguf().tensor_span(index).len() {
            return findings;
        }
        match t.scan_findings() {
            Ok(found) => findings.extend(found),
            Err(e) => findings.push(e),
        }
        findings
    }
}
