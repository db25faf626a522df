//! The files crossval compares: those given, or by default every fixture, every third-party
//! file and a synthetic `gen-model --shape mini` model per ternary format; plus, for each of
//! them, its conversion to every format a reference reads (`convert`, through the library), so
//! that a file the references reject for its I2_S tensors is still compared through its
//! conversion. Generated and converted files go to `target/crossval/`, emptied first.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bitnet_models::convert::{Options, Plan};
use bitnet_models::{Model, TernaryFormat};

use crate::files::write_atomic;
use crate::gen_model::{self, Shape};

/// Where generated and converted files go, relative to the workspace root.
pub const SCRATCH: &str = "target/crossval";

/// The formats of the synthetic models: every format `gen-model` writes.
const MODEL_FORMATS: [TernaryFormat; 5] = [
    TernaryFormat::Qk256,
    TernaryFormat::BitNet32F16,
    TernaryFormat::BitnetCpp,
    TernaryFormat::Tq2_0,
    TernaryFormat::Tq1_0,
];
/// The synthetic models' seed.
const MODEL_SEED: u64 = 1;

/// What every file is converted to: the ternary formats the references read.
pub const CONVERSION_TARGETS: [TernaryFormat; 2] = [TernaryFormat::Tq2_0, TernaryFormat::Tq1_0];

/// One file to compare.
#[derive(Debug, Clone)]
pub struct Input {
    /// The path the readers open.
    pub path: PathBuf,
    /// The path as the report shows it: as given, or relative to the workspace root.
    pub name: String,
}

/// The attempt to convert one file to one target.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The index of the source in the input list.
    pub source: usize,
    pub target: TernaryFormat,
    /// The index of the converted file in the input list, or why there is none.
    pub result: Result<usize, String>,
}

/// The files, and what became of their conversions.
#[derive(Debug, Default)]
pub struct Inputs {
    pub files: Vec<Input>,
    pub conversions: Vec<Conversion>,
}

impl Inputs {
    /// The conversions of input `index`.
    pub fn conversions_of(&self, index: usize) -> impl Iterator<Item = &Conversion> {
        self.conversions.iter().filter(move |c| c.source == index)
    }

    /// Whether input `index` is a conversion.
    pub fn is_conversion(&self, index: usize) -> bool {
        self.conversions.iter().any(|c| c.result == Ok(index))
    }
}

/// Collects the files: `given`, or the default set (written where needed), each followed by
/// its conversions.
pub fn collect(root: &Path, given: &[PathBuf]) -> Result<Inputs> {
    let scratch = root.join(SCRATCH);
    if scratch.exists() {
        fs::remove_dir_all(&scratch).with_context(|| format!("emptying {}", scratch.display()))?;
    }
    fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let name_of = |path: &Path| {
        path.strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string()
    };

    // (path, whether its conversions must succeed)
    let mut sources: Vec<(PathBuf, bool)> = Vec::new();
    if given.is_empty() {
        for dir in ["ci/fixtures/qk256", "testdata/third-party"] {
            sources.extend(gguf_files(&root.join(dir))?.into_iter().map(|p| (p, false)));
        }
        for format in MODEL_FORMATS {
            let path = scratch.join(format!("mini-{}.gguf", format.name()));
            gen_model::generate(
                Shape::Mini,
                format,
                MODEL_SEED,
                gen_model::DEFAULT_ARCH,
                &path,
            )
            .with_context(|| format!("generating {}", path.display()))?;
            // Made to convert exactly (f16 scales, whole blocks): a refusal is a failure.
            sources.push((path, true));
        }
    } else {
        sources.extend(given.iter().map(|p| (p.clone(), false)));
    }

    let mut inputs = Inputs::default();
    for (path, must_convert) in sources {
        let source = inputs.files.len();
        let name = if given.is_empty() {
            name_of(&path)
        } else {
            path.display().to_string()
        };
        inputs.files.push(Input {
            path: path.clone(),
            name,
        });
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        for target in CONVERSION_TARGETS {
            let result = match convert(&bytes, target) {
                Ok(bytes) => {
                    let out = unused_name(&scratch, &path, target);
                    write_atomic(&out, &bytes)?;
                    inputs.files.push(Input {
                        name: name_of(&out),
                        path: out,
                    });
                    Ok(inputs.files.len() - 1)
                }
                Err(Skip::NotPossible(why)) if must_convert => {
                    bail!(
                        "{}: the conversion to {} failed: {why}",
                        path.display(),
                        target.name()
                    )
                }
                Err(Skip::NotPossible(why)) => Err(why),
                Err(Skip::NothingToDo(why)) => Err(why),
            };
            inputs.conversions.push(Conversion {
                source,
                target,
                result,
            });
        }
    }
    Ok(inputs)
}

/// Why a file has no conversion.
enum Skip {
    /// Nothing to convert, or it is already in the target format.
    NothingToDo(String),
    /// `convert` refuses (or the file cannot be read).
    NotPossible(String),
}

/// `bytes` converted to `target` as `bitnet-cli convert` would.
fn convert(bytes: &[u8], target: TernaryFormat) -> Result<Vec<u8>, Skip> {
    let model = Model::parse(bytes).map_err(|e| Skip::NotPossible(format!("not readable: {e}")))?;
    let formats: Vec<Option<TernaryFormat>> = (0..model.gguf().tensors().len())
        .map(|i| model.ternary_format(i).ok().flatten())
        .collect();
    if formats.iter().all(Option::is_none) {
        return Err(Skip::NothingToDo("no ternary tensors to convert".into()));
    }
    if formats.iter().flatten().all(|&f| f == target) {
        return Err(Skip::NothingToDo(format!("already {}", target.name())));
    }
    let options = Options { target, arch: None };
    let plan = Plan::new(&model, &options).map_err(|e| Skip::NotPossible(e.to_string()))?;
    let (bytes, _) = plan
        .write(Vec::new(), |_| {})
        .map_err(|e| Skip::NotPossible(e.to_string()))?;
    Ok(bytes)
}

/// `<scratch>/<stem>.<target>.gguf`, numbered when another file took that name.
fn unused_name(scratch: &Path, source: &Path, target: TernaryFormat) -> PathBuf {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let mut path = scratch.join(format!("{stem}.{}.gguf", target.name()));
    let mut n = 2;
    while path.exists() {
        path = scratch.join(format!("{stem}-{n}.{}.gguf", target.name()));
        n += 1;
    }
    path
}

/// The `.gguf` files directly in `dir`, sorted by name.
fn gguf_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "gguf") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use bitnet_gguf::ggml_type;
    use bitnet_models::convert::ggml_type_of;

    use super::*;

    /// The hook for new formats: every ternary format that is not I2_S is a ggml type the
    /// references read, so crossval must convert to it (TQ1_0 when it lands).
    #[test]
    fn every_format_the_references_read_is_a_conversion_target() {
        for format in TernaryFormat::ALL {
            if ggml_type_of(format) != ggml_type::I2_S {
                assert!(
                    CONVERSION_TARGETS.contains(&format),
                    "add TernaryFormat::{format:?} to CONVERSION_TARGETS in {}",
                    file!()
                );
            }
        }
    }
}
