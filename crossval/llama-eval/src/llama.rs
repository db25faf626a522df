//! Every unsafe call of llama-eval: llama.cpp's C API (llama.h) through `llama-cpp-sys-2`'s
//! generated bindings, wrapped in owning types that free what they hold, and the log capture.
//!
//! One process evaluates one model (main.rs), so the process-wide state here — the backend, the
//! log callback — needs no more than a `Once` and a mutex.

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::{Mutex, Once};

use llama_cpp_sys_2 as sys;

/// Levels of `enum ggml_log_level` kept in [`Log`] for the JSON output: warnings and errors (and
/// their continuations). With `--verbose`, every line also goes to stderr as it comes.
const KEEP_FROM: sys::ggml_log_level = sys::GGML_LOG_LEVEL_WARN;

/// What llama.cpp and ggml logged, as whole messages (`CONT` pieces appended to their message).
#[derive(Debug, Default)]
struct Log {
    /// Every level, for `--verbose`.
    verbose: bool,
    /// Kept messages: `(level, text)`.
    messages: Vec<(sys::ggml_log_level, String)>,
    /// The level of the last message, so a `CONT` piece joins it (or is dropped with it).
    last_level: sys::ggml_log_level,
}

static LOG: Mutex<Log> = Mutex::new(Log {
    verbose: false,
    messages: Vec::new(),
    last_level: sys::GGML_LOG_LEVEL_NONE,
});

/// Receives every log message of llama.cpp and ggml. Must not unwind into C: it neither panics
/// nor blocks on a poisoned lock.
unsafe extern "C" fn capture_log(
    level: sys::ggml_log_level,
    text: *const c_char,
    _user_data: *mut c_void,
) {
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string that lives for the duration of the call.
    let text = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    let Ok(mut log) = LOG.lock() else { return };
    let cont = level == sys::GGML_LOG_LEVEL_CONT;
    let level = if cont { log.last_level } else { level };
    if log.verbose {
        // Not eprint!, which panics when stderr is gone.
        let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
    }
    if level >= KEEP_FROM {
        match (cont, log.messages.last_mut()) {
            (true, Some(last)) => last.1.push_str(&text),
            _ => log.messages.push((level, text.into_owned())),
        }
    }
    log.last_level = level;
}

/// Installs the log capture and initializes llama.cpp's backends, once per process.
pub fn init(verbose: bool) {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Ok(mut log) = LOG.lock() {
            log.verbose = verbose;
        }
        // SAFETY: `capture_log` is valid for the whole program and ignores its user data;
        // llama_backend_init has no preconditions and runs once here.
        unsafe {
            sys::llama_log_set(Some(capture_log), std::ptr::null_mut());
            sys::llama_backend_init();
        }
    });
}

/// The warnings and errors logged since the last call, each as `warn: …` or `error: …`.
pub fn take_log() -> Vec<String> {
    let Ok(mut log) = LOG.lock() else {
        return Vec::new();
    };
    std::mem::take(&mut log.messages)
        .into_iter()
        .map(|(level, text)| {
            let tag = if level >= sys::GGML_LOG_LEVEL_ERROR {
                "error"
            } else {
                "warn"
            };
            format!("{tag}: {}", text.trim_end())
        })
        .collect()
}

/// A static C string from llama.cpp, or `""` for a null pointer.
fn static_str(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: the callers pass pointers to NUL-terminated strings with static storage.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// The versions built in: llama.cpp's, ggml's, and ggml's commit (`unknown` for the vendored
/// tree, which has no git history), plus llama.cpp's system information line (CPU features).
pub fn versions() -> [(&'static str, String); 4] {
    // SAFETY: these functions return pointers to static strings and have no preconditions.
    let (llama, ggml, commit, system) = unsafe {
        (
            sys::llama_version(),
            sys::ggml_version(),
            sys::ggml_commit(),
            sys::llama_print_system_info(),
        )
    };
    [
        ("llama_cpp", static_str(llama)),
        ("ggml", static_str(ggml)),
        ("ggml_commit", static_str(commit)),
        ("system_info", static_str(system).trim().to_owned()),
    ]
}

/// A loaded model; freed on drop.
#[derive(Debug)]
pub struct Model(NonNull<sys::llama_model>);

impl Model {
    /// Loads `path` on the CPU with llama.cpp's defaults, validating the tensor data
    /// (`check_tensors`). On failure, the error is what llama.cpp logged.
    pub fn load(path: &Path) -> Result<Model, String> {
        let c_path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("{}: the path has a NUL byte", path.display()))?;
        // SAFETY: plain constructor of a parameter struct.
        let mut params = unsafe { sys::llama_model_default_params() };
        params.n_gpu_layers = 0;
        params.check_tensors = true;
        // SAFETY: `c_path` is a NUL-terminated string that outlives the call; `params` is a
        // valid parameter struct (its pointers are llama.cpp's defaults, null).
        let model = unsafe { sys::llama_model_load_from_file(c_path.as_ptr(), params) };
        NonNull::new(model).map(Model).ok_or_else(|| {
            let log = take_log();
            if log.is_empty() {
                "llama_model_load_from_file failed and logged nothing".to_owned()
            } else {
                log.join("; ")
            }
        })
    }

    fn vocab(&self) -> *const sys::llama_vocab {
        // SAFETY: `self.0` is a live model; the vocab lives as long as the model.
        unsafe { sys::llama_model_get_vocab(self.0.as_ptr()) }
    }

    /// The number of tokens in the vocabulary.
    pub fn n_vocab(&self) -> usize {
        // SAFETY: a live model's vocab.
        let n = unsafe { sys::llama_vocab_n_tokens(self.vocab()) };
        usize::try_from(n).unwrap_or(0)
    }

    /// The number of parameters.
    pub fn n_params(&self) -> u64 {
        // SAFETY: `self.0` is a live model.
        unsafe { sys::llama_model_n_params(self.0.as_ptr()) }
    }

    /// llama.cpp's one-line description: architecture, size class and file type.
    pub fn desc(&self) -> String {
        let mut buf = [0u8; 256];
        // SAFETY: `buf` has room for `buf.len()` bytes; llama_model_desc writes at most that
        // many, NUL included (snprintf semantics).
        let n =
            unsafe { sys::llama_model_desc(self.0.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        let n = usize::try_from(n).unwrap_or(0).min(buf.len() - 1);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Tokenizes `text` with the model's tokenizer, adding the special tokens it asks for (BOS).
    pub fn tokenize(&self, text: &str) -> Result<Vec<i32>, String> {
        let len = i32::try_from(text.len()).map_err(|_| "the text is too long".to_owned())?;
        let mut tokens = vec![0i32; text.len() + 8];
        for _ in 0..2 {
            let max = i32::try_from(tokens.len()).unwrap_or(i32::MAX);
            // SAFETY: `text` points to `len` bytes (no NUL needed); `tokens` has room for
            // `max` tokens, the most llama_tokenize writes.
            let n = unsafe {
                sys::llama_tokenize(
                    self.vocab(),
                    text.as_ptr().cast(),
                    len,
                    tokens.as_mut_ptr(),
                    max,
                    true,
                    false,
                )
            };
            match usize::try_from(n) {
                Ok(n) => {
                    tokens.truncate(n);
                    return Ok(tokens);
                }
                // A negative count is the room it needs.
                Err(_) => tokens.resize(n.unsigned_abs() as usize, 0),
            }
        }
        Err("llama_tokenize kept asking for more room".to_owned())
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from llama_model_load_from_file and is freed once, here; every
        // context of it has been dropped before (a Context borrows its Model).
        unsafe { sys::llama_model_free(self.0.as_ptr()) }
    }
}

/// An inference context of a model; freed on drop.
#[derive(Debug)]
pub struct Context<'m> {
    ctx: NonNull<sys::llama_context>,
    model: &'m Model,
}

impl<'m> Context<'m> {
    /// A context for one sequence of up to `n_tokens` tokens, every position giving logits,
    /// computed with `threads` threads, without flash attention (one fixed graph).
    pub fn new(model: &'m Model, n_tokens: u32, threads: i32) -> Result<Context<'m>, String> {
        // SAFETY: plain constructor of a parameter struct.
        let mut params = unsafe { sys::llama_context_default_params() };
        params.n_ctx = n_tokens.max(16);
        params.n_batch = n_tokens;
        params.n_ubatch = n_tokens;
        params.n_seq_max = 1;
        // Logits at every position of the sequence (the default gives one per sequence).
        params.n_outputs_max = 0;
        params.n_outputs_max_per_seq = 0;
        params.n_threads = threads;
        params.n_threads_batch = threads;
        params.flash_attn_type = sys::LLAMA_FLASH_ATTN_TYPE_DISABLED;
        params.no_perf = true;
        // SAFETY: `model` is live and outlives the context (the borrow in `Context`).
        let ctx = unsafe { sys::llama_init_from_model(model.0.as_ptr(), params) };
        let ctx = NonNull::new(ctx).ok_or_else(|| {
            let log = take_log();
            format!("llama_init_from_model failed: {}", log.join("; "))
        })?;
        Ok(Context { ctx, model })
    }

    /// Evaluates `tokens` as one batch at positions 0, 1, … and returns the logits of every
    /// position, `n_vocab` values each.
    pub fn logits(&mut self, tokens: &[i32]) -> Result<Vec<Vec<f32>>, String> {
        let n_vocab = self.model.n_vocab();
        if let Some(bad) = tokens
            .iter()
            .find(|&&t| usize::try_from(t).is_err() || t as usize >= n_vocab)
        {
            return Err(format!(
                "token {bad} is not in the vocabulary of {n_vocab} tokens"
            ));
        }
        let n = i32::try_from(tokens.len()).map_err(|_| "too many tokens".to_owned())?;
        let batch = Batch::new(tokens)?;
        // SAFETY: `self.ctx` is live; `batch.0` holds `n` valid entries (Batch::new).
        let status = unsafe { sys::llama_decode(self.ctx.as_ptr(), batch.0) };
        if status != 0 {
            let log = take_log();
            return Err(format!(
                "llama_decode returned {status}: {}",
                log.join("; ")
            ));
        }
        (0..n)
            .map(|i| {
                // SAFETY: `self.ctx` is live and position `i` was marked for logits.
                let ptr = unsafe { sys::llama_get_logits_ith(self.ctx.as_ptr(), i) };
                if ptr.is_null() {
                    return Err(format!(
                        "no logits for position {i}: {}",
                        take_log().join("; ")
                    ));
                }
                // SAFETY: llama_get_logits_ith returns `n_vocab` floats, valid until the next
                // decode on this context; they are copied out at once.
                Ok(unsafe { std::slice::from_raw_parts(ptr, n_vocab) }.to_vec())
            })
            .collect()
    }
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        // SAFETY: `self.ctx` came from llama_init_from_model and is freed once, here.
        unsafe { sys::llama_free(self.ctx.as_ptr()) }
    }
}

/// A batch of one sequence; freed on drop.
struct Batch(sys::llama_batch);

impl Batch {
    fn new(tokens: &[i32]) -> Result<Batch, String> {
        let n = i32::try_from(tokens.len()).map_err(|_| "too many tokens".to_owned())?;
        // SAFETY: allocates room for `n` tokens of one sequence each (embd = 0: token ids).
        let mut batch = Batch(unsafe { sys::llama_batch_init(n, 0, 1) });
        let b = &mut batch.0;
        if [
            b.token.is_null(),
            b.pos.is_null(),
            b.n_seq_id.is_null(),
            b.seq_id.is_null(),
            b.logits.is_null(),
        ]
        .contains(&true)
        {
            return Err("llama_batch_init returned a null array".to_owned());
        }
        for (i, &token) in tokens.iter().enumerate() {
            // SAFETY: llama_batch_init(n, 0, 1) allocated `n` entries in each array and room
            // for one sequence id behind each `seq_id` entry; `i < n`.
            unsafe {
                *b.token.add(i) = token;
                *b.pos.add(i) = i as i32;
                *b.n_seq_id.add(i) = 1;
                **b.seq_id.add(i) = 0;
                *b.logits.add(i) = 1;
            }
        }
        b.n_tokens = n;
        Ok(batch)
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from llama_batch_init and is freed once, here.
        unsafe { sys::llama_batch_free(self.0) }
    }
}

/// Frees llama.cpp's backends at the end of the process.
pub fn shutdown() {
    // SAFETY: called once, after every model and context has been dropped.
    unsafe { sys::llama_backend_free() }
}
