//! Every finding of a model file, in file order: the container's, then per ternary tensor its
//! flavor, scale sibling and scan, then the `bitnet-b1.58` metadata rules.

use bitnet_gguf::{ggml_type, Finding, GgufError};

use super::keys::{check_required_keys, BITNET_ARCH};
use super::{Model, ModelError, TernaryTensor};
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
        let mut findings = self.container_findings();
        for index in 0..gguf.tensors().len() {
            findings.extend(self.tensor_findings(index, true));
            progress(gguf.tensor_span(index).len() as u64);
        }
        if gguf.get("general.architecture").and_then(|v| v.as_str()) == Some(BITNET_ARCH) {
            check_required_keys(gguf, &mut findings);
        }
        findings
    }

    /// The container's findings ([`bitnet_gguf::Gguf::validate`]) as model findings.
    fn container_findings(&self) -> Vec<ModelError> {
        self.gguf()
            .validate()
            .findings
            .into_iter()
            .map(|f| match f {
                Finding::Error(e) => ModelError::Gguf(e),
                Finding::Warning(w) => ModelError::GgufWarning(w),
            })
            .collect()
    }

    /// What [`Model::check`] reports for tensor `index` beyond the container's findings: its
    /// [`Model::check_tensor`], or without `scan` only what resolving it finds.
    fn tensor_findings(&self, index: usize, scan: bool) -> Vec<ModelError> {
        let Some(t) = self.gguf().tensors().get(index) else {
            return Vec::new();
        };
        // Validation reports every partial block of a sized type (a TQ1_0 `ne[0]` that is not
        // a multiple of 256), and every sized tensor whose data runs past the end of the
        // file: the same error from resolving the tensor is not repeated.
        let sized = t.byte_size().is_some();
        let (mut findings, resolved) = self.resolve_findings(index);
        if let (Some(t), true) = (resolved, scan) {
            findings.extend(self.scan_tensor(index, &t));
        }
        findings.retain(|f| match f {
            ModelError::Gguf(GgufError::NotBlockMultiple { .. }) => false,
            ModelError::Gguf(GgufError::DataOutOfBounds { .. }) => !sized,
            _ => true,
        });
        findings
    }

    /// The findings of ternary tensor `index` (none for other types): why it cannot be
    /// resolved (flavor, scale sibling, data out of bounds) or, when it can, an ignored scale
    /// sibling and what the scan finds.
    pub fn check_tensor(&self, index: usize) -> Vec<ModelError> {
        let (mut findings, resolved) = self.resolve_findings(index);
        if let Some(t) = resolved {
            findings.extend(self.scan_tensor(index, &t));
        }
        findings
    }

    /// [`Model::check_tensor`] without the scan, which reads the tensor's data: the findings of
    /// resolving it, and the tensor when it resolves.
    fn resolve_findings(&self, index: usize) -> (Vec<ModelError>, Option<TernaryTensor<'_>>) {
        let mut findings: Vec<ModelError> =
            self.flavor_from_file(index).cloned().into_iter().collect();
        let t = match self.ternary(index) {
            Ok(Some(t)) => t,
            Ok(None) => {
                findings.extend(self.check_mxfp4(index));
                return (findings, None);
            }
            Err(e) => {
                findings.push(e);
                return (findings, None);
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
        (findings, Some(t))
    }

    /// What the scan of resolved tensor `index` finds.
    fn scan_tensor(&self, index: usize, t: &TernaryTensor<'_>) -> Vec<ModelError> {
        // Scan only a tensor that lies within its own span. Tensors that overlap are an error
        // validation already reports, and scanning each over the bytes they share would make
        // `check` quadratic in a hostile file's size (thousands of TQ2_0 infos over one region).
        if t.data.len() > self.gguf().tensor_span(index).len() {
            return Vec::new();
        }
        t.scan_findings().unwrap_or_else(|e| vec![e])
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
        self.split_for_decode(index, self.check())
    }

    /// [`Model::check_for_decode`] without reading any tensor's data but this one's: the
    /// findings that refuse it are the same, and the others are the container's and those of
    /// this tensor, its `.scale` sibling and the weight whose `.scale` it is — not the scans of
    /// other tensors nor the `bitnet-b1.58` key rules, which [`Model::check`] reports. For a
    /// caller that decodes one tensor of a large file.
    ///
    /// Every finding that refuses a tensor is about it, its sibling or the placement of the
    /// tensor after it (a container finding), and only resolving a tensor (never its scan) finds
    /// refusing ones about another: so the container's findings, this tensor's, and what
    /// resolving the sibling and the weight finds hold them all.
    pub fn check_for_decode_alone(&self, index: usize) -> (Vec<ModelError>, Vec<ModelError>) {
        let gguf = self.gguf();
        let sibling = self.scale_sibling(index).map(|(i, _)| i);
        let weight = gguf
            .tensors()
            .get(index)
            .and_then(|t| t.name.strip_suffix(".scale"))
            .and_then(|base| gguf.tensor(&format!("{base}.weight")))
            .map(|(i, _)| i);
        // In file order, as `check` reports them: the last refusing finding is the same.
        let mut tensors: Vec<usize> = [Some(index), sibling, weight]
            .into_iter()
            .flatten()
            .collect();
        tensors.sort_unstable();
        tensors.dedup();
        let mut findings = self.container_findings();
        for i in tensors {
            findings.extend(self.tensor_findings(i, i == index));
        }
        self.split_for_decode(index, findings)
    }

    /// [`Model::check_for_decode`] over `findings`, findings of the file as [`Model::check`]
    /// returns them.
    pub fn split_for_decode(
        &self,
        index: usize,
        findings: Vec<ModelError>,
    ) -> (Vec<ModelError>, Vec<ModelError>) {
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
        findings.into_iter().partition(|f| {
            let about = f.location().tensor;
            let mine = about.is_some() && (about == name || about == sibling);
            let bounds_mine = about.is_some() && about == next && PLACEMENT.contains(&f.code());
            f.severity() == bitnet_gguf::Severity::Error
                && (mine || bounds_mine)
                && !DATA.contains(&f.code())
        })
    }
}
