//! The models engine-check runs, written to `target/engine-check/`: `gen-model` outputs, their
//! conversions (through `bitnet_models::convert`, exactly as `bitnet-cli convert` makes them), the
//! same models with their ternary weights decoded to F32, and on request one file altered.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bitnet_gguf::{ggml_type, GgufBuilder};
use bitnet_models::convert::{Options, Plan};
use bitnet_models::{Kernel, Model, TernaryFormat};

use crate::files::write_atomic;
use crate::gen_model::{self, Shape};

/// Where the models go, relative to the workspace root.
pub const SCRATCH: &str = "target/engine-check";

/// The seed of the synthetic models.
const SEED: u64 = 1;

/// Mainline llama.cpp's name of the BitNet architecture.
pub const MAINLINE_ARCH: &str = "bitnet";

/// What a model is expected to do in mainline llama.cpp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Load and give finite logits.
    Run,
    /// Be refused: I2_S (type 36) is not a mainline type.
    RefuseI2s,
    /// Be refused: `bitnet-b1.58` is not a mainline architecture.
    RefuseArch,
}

/// One model file and how it was made.
#[derive(Debug, Clone)]
pub struct ModelFile {
    pub path: PathBuf,
    /// The file name, as the report shows it.
    pub name: String,
    /// How it was made, as a command line.
    pub made: String,
    pub expect: Expect,
}

/// How one model is made from the ones before it.
enum Recipe {
    /// `gen-model --shape mini --flavor F [--arch A]`.
    Generate(TernaryFormat, &'static str),
    /// `convert SOURCE --to F [--arch bitnet]`.
    Convert(&'static str, TernaryFormat, bool),
    /// The ternary weights of SOURCE decoded to F32, scales applied.
    F32(&'static str),
}

/// The models, in order: name, recipe, expectation.
const MODELS: &[(&str, Recipe, Expect)] = &[
    (
        "mini-tq2_0.gguf",
        Recipe::Generate(TernaryFormat::Tq2_0, MAINLINE_ARCH),
        Expect::Run,
    ),
    (
        "mini-tq2_0.tq1_0.gguf",
        Recipe::Convert("mini-tq2_0.gguf", TernaryFormat::Tq1_0, false),
        Expect::Run,
    ),
    (
        "mini-tq2_0.f32.gguf",
        Recipe::F32("mini-tq2_0.gguf"),
        Expect::Run,
    ),
    (
        "mini-bitnetcpp.gguf",
        Recipe::Generate(TernaryFormat::BitnetCpp, gen_model::DEFAULT_ARCH),
        Expect::RefuseI2s,
    ),
    (
        "mini-bitnetcpp.tq2_0.gguf",
        Recipe::Convert("mini-bitnetcpp.gguf", TernaryFormat::Tq2_0, true),
        Expect::Run,
    ),
    (
        "mini-bitnetcpp.tq1_0.gguf",
        Recipe::Convert("mini-bitnetcpp.gguf", TernaryFormat::Tq1_0, true),
        Expect::Run,
    ),
    (
        "mini-bitnetcpp.qk256.gguf",
        Recipe::Convert("mini-bitnetcpp.gguf", TernaryFormat::Qk256, false),
        Expect::RefuseI2s,
    ),
    (
        "mini-bitnetcpp.qk256.tq2_0.gguf",
        Recipe::Convert("mini-bitnetcpp.qk256.gguf", TernaryFormat::Tq2_0, true),
        Expect::Run,
    ),
    (
        "mini-bitnetcpp.tq2_0.f32.gguf",
        Recipe::F32("mini-bitnetcpp.tq2_0.gguf"),
        Expect::Run,
    ),
    (
        "mini-bitnetcpp.keep-arch.tq2_0.gguf",
        Recipe::Convert("mini-bitnetcpp.gguf", TernaryFormat::Tq2_0, false),
        Expect::RefuseArch,
    ),
];

/// The names of every model, in order (for `--alter`).
pub fn names() -> impl Iterator<Item = &'static str> {
    MODELS.iter().map(|(name, ..)| *name)
}

/// Writes every model into `<root>/target/engine-check/` (emptied first).
pub fn write_all(root: &Path, kernel: Kernel) -> Result<Vec<ModelFile>> {
    let scratch = root.join(SCRATCH);
    if scratch.exists() {
        fs::remove_dir_all(&scratch).with_context(|| format!("emptying {}", scratch.display()))?;
    }
    fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let mut out = Vec::new();
    for (name, recipe, expect) in MODELS {
        let path = scratch.join(name);
        let made = match *recipe {
            Recipe::Generate(format, arch) => {
                gen_model::generate(Shape::Mini, format, SEED, arch, &path)
                    .with_context(|| format!("generating {name}"))?;
                let arch = if arch == gen_model::DEFAULT_ARCH {
                    String::new()
                } else {
                    format!(" --arch {arch}")
                };
                format!(
                    "gen-model --shape mini --flavor {} --seed {SEED}{arch}",
                    format.name()
                )
            }
            Recipe::Convert(source, target, rename) => {
                let bytes =
                    fs::read(scratch.join(source)).with_context(|| format!("reading {source}"))?;
                let arch = rename.then(|| MAINLINE_ARCH.to_owned());
                let converted = convert(&bytes, target, arch)
                    .with_context(|| format!("converting {source} to {}", target.name()))?;
                write_atomic(&path, &converted)?;
                let arch = if rename {
                    format!(" --arch {MAINLINE_ARCH}")
                } else {
                    String::new()
                };
                format!("convert {source} --to {}{arch}", target.name())
            }
            Recipe::F32(source) => {
                let bytes =
                    fs::read(scratch.join(source)).with_context(|| format!("reading {source}"))?;
                let f32_model =
                    to_f32(&bytes, kernel).with_context(|| format!("decoding {source} to F32"))?;
                write_atomic(&path, &f32_model)?;
                format!("{source}, ternary weights decoded to F32")
            }
        };
        out.push(ModelFile {
            path,
            name: (*name).to_owned(),
            made,
            expect: *expect,
        });
    }
    Ok(out)
}

/// `bytes` converted to `target`, with `general.architecture` renamed to `arch`.
fn convert(bytes: &[u8], target: TernaryFormat, arch: Option<String>) -> Result<Vec<u8>> {
    let model = Model::parse(bytes)?;
    let plan = Plan::new(&model, &Options { target, arch })?;
    Ok(plan.write(Vec::new(), |_| {})?.0)
}

/// The model in `bytes` with every ternary weight decoded to F32, its scales applied (the
/// `.scale` siblings they used are left out), every other tensor and all metadata copied, but
/// `general.file_type`, which no longer applies (llama.cpp then guesses it from the tensors).
pub fn to_f32(bytes: &[u8], kernel: Kernel) -> Result<Vec<u8>> {
    let model = Model::parse(bytes)?;
    let gguf = model.gguf();
    let mut builder = GgufBuilder::new();
    for e in gguf.metadata() {
        if e.key != "general.file_type" {
            builder.kv(e.key, e.value.to_owned_value());
        }
    }
    let mut siblings = HashSet::new();
    for i in 0..gguf.tensors().len() {
        if model.ternary(i)?.is_some() {
            if let Some((sibling, _)) = model.scale_sibling(i) {
                siblings.insert(sibling);
            }
        }
    }
    for (i, t) in gguf.tensors().iter().enumerate() {
        if siblings.contains(&i) {
            continue;
        }
        if model.ternary(i)?.is_some() {
            let values = model.decode(i, kernel)?;
            let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            builder.tensor(t.name, t.ne(), ggml_type::F32, data);
        } else {
            builder.tensor(t.name, t.ne(), t.ggml_type, gguf.tensor_data(i)?.to_vec());
        }
    }
    Ok(builder.build()?)
}

/// Alters the model `name` in place, as a file damaged after conversion would be: the first
/// block scale `d` of its first TQ tensor is negated (the signs of 256 weights flip), or in an
/// F32 model the first value of its first ternary-named weight. Returns what was changed.
pub fn alter(models: &[ModelFile], name: &str) -> Result<String> {
    let Some(file) = models.iter().find(|m| m.name == name) else {
        bail!(
            "--alter {name}: not one of the models ({})",
            names().collect::<Vec<_>>().join(", ")
        );
    };
    let mut bytes = fs::read(&file.path).with_context(|| format!("reading {name}"))?;
    let (offset, what) = {
        let model = Model::parse(&bytes)?;
        let gguf = model.gguf();
        let mut found = None;
        for (i, t) in gguf.tensors().iter().enumerate() {
            if let Some(tq) = model.ternary(i)? {
                if matches!(tq.format, TernaryFormat::Tq2_0 | TernaryFormat::Tq1_0) {
                    let at = tq.offset + tq.format.code_bytes() as u64;
                    found = Some((at, 2, format!("the first block scale d of {}", t.name)));
                    break;
                }
            }
            if t.ggml_type == ggml_type::F32 && t.name.starts_with("blk.") && t.ne().len() == 2 {
                let at = gguf.tensor_start(i).context("tensor offset")?;
                found = Some((at, 4, format!("the first value of {}", t.name)));
                break;
            }
        }
        let Some((at, width, what)) = found else {
            bail!("--alter {name}: the model has no TQ or F32 weight to alter");
        };
        // The sign bit is the top bit of the last (little-endian) byte, for f16 and f32 alike.
        (at + width - 1, what)
    };
    let byte = usize::try_from(offset)
        .ok()
        .and_then(|o| bytes.get_mut(o))
        .context("the altered byte is past the end of the file")?;
    *byte ^= 0x80;
    write_atomic(&file.path, &bytes)?;
    Ok(format!("{what} negated (byte {offset} of {name})"))
}

#[cfg(test)]
mod tests {
    use bitnet_gguf::Gguf;
    use half::f16;

    use super::*;

    fn written() -> (tempfile::TempDir, Vec<ModelFile>) {
        let root = tempfile::tempdir().unwrap();
        let models = write_all(root.path(), Kernel::scalar()).unwrap();
        (root, models)
    }

    fn arch(bytes: &[u8]) -> String {
        let g = Gguf::parse(bytes).unwrap();
        g.get("general.architecture")
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn test_writes_every_model_as_its_recipe_says() {
        let (root, models) = written();
        let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, names_list());
        for m in &models {
            assert_eq!(m.path, root.path().join(SCRATCH).join(&m.name));
            let bytes = fs::read(&m.path).unwrap();
            let model = Model::parse(&bytes).unwrap();
            let formats: HashSet<Option<TernaryFormat>> = (0..model.gguf().tensors().len())
                .map(|i| model.ternary_format(i).unwrap())
                .collect();
            let (format, arch_name) = match m.name.as_str() {
                "mini-bitnetcpp.gguf" => (Some(TernaryFormat::BitnetCpp), "bitnet-b1.58"),
                "mini-bitnetcpp.qk256.gguf" => (Some(TernaryFormat::Qk256), "bitnet-b1.58"),
                "mini-bitnetcpp.keep-arch.tq2_0.gguf" => {
                    (Some(TernaryFormat::Tq2_0), "bitnet-b1.58")
                }
                n if n.ends_with(".f32.gguf") => (None, "bitnet"),
                n if n.ends_with("tq1_0.gguf") => (Some(TernaryFormat::Tq1_0), "bitnet"),
                _ => (Some(TernaryFormat::Tq2_0), "bitnet"),
            };
            // Every tensor is that format, or not ternary (the embedding and the norms).
            assert_eq!(formats, HashSet::from([None, format]), "{}", m.name);
            assert_eq!(arch(&bytes), arch_name, "{}", m.name);
            let refused = m.name.contains("bitnetcpp.gguf")
                || m.name.contains("qk256.gguf")
                || m.name.contains("keep-arch");
            assert_eq!(m.expect != Expect::Run, refused, "{}", m.name);
        }
        assert_eq!(
            models[4].made,
            "convert mini-bitnetcpp.gguf --to tq2_0 --arch bitnet"
        );
        assert_eq!(
            models[0].made,
            "gen-model --shape mini --flavor tq2_0 --seed 1 --arch bitnet"
        );
        assert_eq!(
            models[3].made,
            "gen-model --shape mini --flavor bitnetcpp --seed 1"
        );
    }

    fn names_list() -> Vec<&'static str> {
        names().collect()
    }

    /// TQ2_0 decoded from the layout (docs/formats.md): in a 66-byte block, value `j` is the
    /// 2-bit field `(j % 128) / 32` of byte `(j / 128) * 32 + j % 32`, minus 1, times the f16 `d`
    /// in bytes 64..66.
    fn tq2_0_reference(data: &[u8], scale: f32) -> Vec<f32> {
        data.chunks_exact(66)
            .flat_map(|block| {
                let d = f16::from_le_bytes([block[64], block[65]]).to_f32();
                (0..256).map(move |j| {
                    let byte = block[(j / 128) * 32 + j % 32];
                    let code = (byte >> (2 * ((j % 128) / 32))) & 3;
                    (f32::from(code) - 1.0) * d * scale
                })
            })
            .collect()
    }

    #[test]
    fn test_f32_decoding_holds_the_weights_with_their_scales() {
        let (root, _) = written();
        let dir = root.path().join(SCRATCH);
        let tq = fs::read(dir.join("mini-tq2_0.gguf")).unwrap();
        let f32_bytes = fs::read(dir.join("mini-tq2_0.f32.gguf")).unwrap();
        let (src, out) = (Gguf::parse(&tq).unwrap(), Gguf::parse(&f32_bytes).unwrap());
        let mut weights = 0;
        for (i, t) in src.tensors().iter().enumerate() {
            if t.name.ends_with(".scale") {
                assert!(out.tensor(t.name).is_none(), "{} dropped", t.name);
                continue;
            }
            let (j, o) = out.tensor(t.name).unwrap();
            assert_eq!(o.ne(), t.ne(), "{}", t.name);
            let data = out.tensor_data(j).unwrap();
            if t.ggml_type == ggml_type::TQ2_0 {
                weights += 1;
                let sibling = t.name.replace(".weight", ".scale");
                let (s, _) = src.tensor(&sibling).unwrap();
                let s = f32::from_le_bytes(src.tensor_data(s).unwrap().try_into().unwrap());
                let expected = tq2_0_reference(src.tensor_data(i).unwrap(), s);
                let found: Vec<f32> = data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect();
                assert_eq!(o.ggml_type, ggml_type::F32);
                assert!(
                    expected
                        .iter()
                        .map(|v| v.to_bits())
                        .eq(found.iter().map(|v| v.to_bits())),
                    "{}",
                    t.name
                );
            } else {
                assert_eq!(
                    (o.ggml_type, data),
                    (t.ggml_type, src.tensor_data(i).unwrap())
                );
            }
        }
        assert_eq!(weights, 14);
        assert!(out.get("general.file_type").is_none());
        let keys = |g: &Gguf<'_>| -> Vec<String> {
            g.metadata()
                .iter()
                .map(|e| e.key.to_owned())
                .filter(|k| k != "general.file_type")
                .collect()
        };
        assert_eq!(keys(&out), keys(&src));
    }

    #[test]
    fn test_alter_flips_the_sign_of_one_block_scale_or_value() {
        let (_root, models) = written();
        for (name, width, what) in [
            (
                "mini-bitnetcpp.tq1_0.gguf",
                2,
                "the first block scale d of blk.0.attn_q.weight",
            ),
            (
                "mini-tq2_0.gguf",
                2,
                "the first block scale d of blk.0.attn_q.weight",
            ),
            (
                "mini-tq2_0.f32.gguf",
                4,
                "the first value of blk.0.attn_q.weight",
            ),
        ] {
            let path = &models.iter().find(|m| m.name == name).unwrap().path;
            let before = fs::read(path).unwrap();
            let said = alter(&models, name).unwrap();
            let after = fs::read(path).unwrap();
            let differ: Vec<usize> = (0..before.len())
                .filter(|&i| before[i] != after[i])
                .collect();
            assert_eq!(differ.len(), 1, "{name}");
            assert_eq!(after[differ[0]], before[differ[0]] ^ 0x80, "{name}");
            assert_eq!(
                said,
                format!("{what} negated (byte {} of {name})", differ[0])
            );
            // The byte is the last of the first block's d (after the codes), or of the value.
            let g = Gguf::parse(&before).unwrap();
            let (i, t) = g.tensor("blk.0.attn_q.weight").unwrap();
            let code_bytes = match t.ggml_type {
                ggml_type::TQ1_0 => 52,
                ggml_type::TQ2_0 => 64,
                _ => 0,
            };
            let start = g.tensor_start(i).unwrap() as usize;
            assert_eq!(differ[0], start + code_bytes + width - 1, "{name}");
        }
        let e = alter(&models, "mini-bitnetcpp.gguf")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "--alter mini-bitnetcpp.gguf: the model has no TQ or F32 weight to alter"
        );
        let e = alter(&models, "nope.gguf").unwrap_err().to_string();
        assert!(
            e.starts_with("--alter nope.gguf: not one of the models (mini-tq2_0.gguf, "),
            "{e}"
        );
    }
}
