//! Every finding of a model file, in file order: the container's, then per ternary tensor its
//! flavor, scale sibling and scan, then the `bitnet-b1.58` metadata rules.

use bitnet_gguf::{ggml_type, Finding, GgufError};

use super::keys::{check_required_keys, BITNET_ARCH};
use super::{Model, ModelError};
use crate::detect::fits;
use crate::format::Flavor;

impl Model<'_> {
    /// Every finding for the file, in file order: the container's ([`bitnet_gguf::Gguf::validate`]),
    /// then per ternary tensor [`Model::check_tensor`], then the required keys of
    /// `bitnet-b1.58` files.
    pub fn check(&self) -> Vec<ModelError> {
        self.check_with_progress(&mut |_| {})
    }

    /// [`Model::check`], calling `progress` with the bytes of each tensor's span as the tensor
    /// is done, so a caller can show the work move through a large file.
    pub fn check_with_progress(&self, progress: &mut dyn FnMut(u64)) -> Vec<ModelError> {
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
        for (index, t) in gguf.tensors().iter().enumerate() {
            // Validation reports every partial block of a sized type (a TQ1_0 `ne[0]` that is not
            // a multiple of 256), and every sized tensor whose data runs past the end of the
            // file: the same error from resolving the tensor is not repeated.
            let sized = t.byte_size().is_some();
            findings.extend(self.check_tensor(index).into_iter().filter(|f| match f {
                ModelError::Gguf(GgufError::NotBlockMultiple { .. }) => false,
                ModelError::Gguf(GgufError::DataOutOfBounds { .. }) => !sized,
                _ => true,
            }));
            progress(gguf.tensor_span(index).len() as u64);
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
        let mut findings: Vec<ModelError> =
            self.flavor_from_file(index).cloned().into_iter().collect();
        let t = match self.ternary(index) {
            Ok(Some(t)) => t,
            Ok(None) => {
                findings.extend(self.check_mxfp4(index));
                return findings;
            }
            Err(e) => {
                findings.push(e);
                return findings;
            }
        };
        if let Ok(Some(flavor)) = self.flavor(index) {
            if flavor != Flavor::Qk256 {
                if let Some((_, sibling)) = self.scale_sibling(index) {
                    findings.push(ModelError::ScaleIgnored {
                        tensor: sibling.name.to_owned(),
                        weight: t.name.to_owned(),
                        flavor,
                    });
                }
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

    /// A type-39 tensor whose bytes do not fit MXFP4 (docs/validation.md): type 39 is MXFP4 in
    /// mainline ggml and TL2 in older bitnet.cpp builds.
    fn check_mxfp4(&self, index: usize) -> Option<ModelError> {
        let gguf = self.gguf();
        let t = gguf.tensors().get(index)?;
        if t.ggml_type != ggml_type::MXFP4 {
            return None;
        }
        let available = gguf.tensor_span(index).len() as u64;
        let reason = if !t.cols().is_multiple_of(32) {
            format!("ne[0] = {} is not a multiple of MXFP4's 32", t.cols())
        } else {
            let size = t.byte_size()?;
            if fits(size, available, gguf.alignment()) {
                return None;
            }
            format!("{available} bytes available do not fit MXFP4's {size}")
        };
        Some(ModelError::ProbablyTl2 {
            tensor: t.name.to_owned(),
            reason,
        })
    }

    /// The file's findings ([`Model::check`]) split for decoding tensor `index`: first those that
    /// make its values untrustworthy — about its span, type, flavor or scale: findings about the
    /// tensor itself or its `.scale` sibling, and, for an I2_S tensor (whose flavor its span
    /// decides), about the placement of the tensor after it, which bounds that span — then the
    /// others: findings elsewhere, and the scan's about its codes (reserved codes, non-finite
    /// block scales, bad padding), whose values are defined.
    pub fn check_for_decode(&self, index: usize) -> (Vec<ModelError>, Vec<ModelError>) {
        /// Findings about the codes, which still decode to defined values.
        const DATA: [&str; 3] = ["reserved-code", "block-scale-not-finite", "bad-padding"];
        /// Findings about a tensor's placement, which move the end of the one before it.
        const PLACEMENT: [&str; 4] = [
            "misaligned-offset",
            "tensor-gap",
            "tensor-overlap",
            "tensor-misordered",
        ];
        let tensors = self.gguf().tensors();
        let name = tensors.get(index).map(|t| t.name);
        let sibling = self.scale_sibling(index).map(|(_, s)| s.name);
        let is_i2s = tensors
            .get(index)
            .is_some_and(|t| t.ggml_type == bitnet_gguf::ggml_type::I2_S);
        let next = tensors.get(index + 1).filter(|_| is_i2s).map(|t| t.name);
        self.check().into_iter().partition(|f| {
            let about = f.location().tensor;
            let mine = about.is_some() && (about == name || about == sibling);
            let bounds_mine = about.is_some() && about == next && PLACEMENT.contains(&f.code());
            f.severity() == bitnet_gguf::Severity::Error
                && (mine || bounds_mine)
                && !DATA.contains(&f.code())
        })
    }
}
