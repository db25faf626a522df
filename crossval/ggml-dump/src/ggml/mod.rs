//! The FFI boundary to ggml's GGUF reader and type traits, and a small safe API over it.
//!
//! Owns every `unsafe` of the crate: the `extern "C"` declarations, the `#[repr(C)]` mirrors
//! (`ggml_type_traits` here and `block_q8_K` in `gemv.rs`, each checked against the C compiler's
//! layout before first use), and the log capture. It does not format output; `main.rs` and
//! `../gemv.rs` do.
//!
//! `ggml_tensor` is deliberately not mirrored: its layout changes between ggml versions, and the
//! accessors `gguf_get_tensor_ne`, `ggml_n_dims`, `ggml_nelements` and `ggml_get_data` give all we
//! need.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::mem::{offset_of, size_of};
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::{Mutex, Once};

pub mod gemv;
mod value;

use value::scalar_size;
pub use value::{gguf_type_name, Value};

/// `enum ggml_type` value of F32, the one type whose decoded values are its bytes.
pub const GGML_TYPE_F32: i32 = 0;

/// `enum gguf_type` (gguf.h).
mod gguf_type {
    pub const UINT8: i32 = 0;
    pub const INT8: i32 = 1;
    pub const UINT16: i32 = 2;
    pub const INT16: i32 = 3;
    pub const UINT32: i32 = 4;
    pub const INT32: i32 = 5;
    pub const FLOAT32: i32 = 6;
    pub const BOOL: i32 = 7;
    pub const STRING: i32 = 8;
    pub const ARRAY: i32 = 9;
    pub const UINT64: i32 = 10;
    pub const INT64: i32 = 11;
    pub const FLOAT64: i32 = 12;
}

/// Opaque `struct gguf_context`.
#[repr(C)]
struct GgufContext {
    _opaque: [u8; 0],
}

/// Opaque `struct ggml_context`.
#[repr(C)]
struct GgmlContext {
    _opaque: [u8; 0],
}

/// Opaque `struct ggml_tensor`.
#[repr(C)]
struct GgmlTensor {
    _opaque: [u8; 0],
}

/// `struct gguf_init_params` (gguf.h).
#[repr(C)]
struct GgufInitParams {
    no_alloc: bool,
    ctx: *mut *mut GgmlContext,
}

/// `ggml_to_float_t` (ggml.h): decodes `k` values (a multiple of the block size) into `y`.
type ToFloat = unsafe extern "C" fn(x: *const c_void, y: *mut f32, k: i64);
/// `ggml_from_float_t` (ggml.h); only mirrored for the layout.
type FromFloat = unsafe extern "C" fn(x: *const f32, y: *mut c_void, k: i64);
/// `ggml_log_callback` (ggml.h); `level` is an `enum ggml_log_level`.
type LogCallback = unsafe extern "C" fn(level: c_int, text: *const c_char, user_data: *mut c_void);

/// `struct ggml_type_traits` (ggml.h), field for field. [`check_layout`] compares it with the C
/// compiler's view (src/shim.c) before anything reads one.
#[repr(C)]
struct TypeTraits {
    type_name: *const c_char,
    blck_size: i64,
    blck_size_interleave: i64,
    type_size: usize,
    is_quantized: bool,
    to_float: Option<ToFloat>,
    from_float_ref: Option<FromFloat>,
}

extern "C" {
    fn gguf_init_from_file(fname: *const c_char, params: GgufInitParams) -> *mut GgufContext;
    fn gguf_free(ctx: *mut GgufContext);
    fn gguf_get_version(ctx: *const GgufContext) -> u32;
    fn gguf_get_alignment(ctx: *const GgufContext) -> usize;
    fn gguf_get_data_offset(ctx: *const GgufContext) -> usize;

    fn gguf_get_n_kv(ctx: *const GgufContext) -> i64;
    fn gguf_get_key(ctx: *const GgufContext, key_id: i64) -> *const c_char;
    fn gguf_get_kv_type(ctx: *const GgufContext, key_id: i64) -> c_int;
    fn gguf_get_arr_type(ctx: *const GgufContext, key_id: i64) -> c_int;
    fn gguf_get_val_data(ctx: *const GgufContext, key_id: i64) -> *const c_void;
    fn gguf_get_val_str(ctx: *const GgufContext, key_id: i64) -> *const c_char;
    fn gguf_get_arr_n(ctx: *const GgufContext, key_id: i64) -> usize;
    fn gguf_get_arr_data(ctx: *const GgufContext, key_id: i64) -> *const c_void;
    fn gguf_get_arr_str(ctx: *const GgufContext, key_id: i64, i: usize) -> *const c_char;

    fn gguf_get_n_tensors(ctx: *const GgufContext) -> i64;
    fn gguf_get_tensor_name(ctx: *const GgufContext, tensor_id: i64) -> *const c_char;
    fn gguf_get_tensor_type(ctx: *const GgufContext, tensor_id: i64) -> c_int;
    fn gguf_get_tensor_offset(ctx: *const GgufContext, tensor_id: i64) -> usize;
    fn gguf_get_tensor_size(ctx: *const GgufContext, tensor_id: i64) -> usize;
    /// Always `GGML_MAX_DIMS` (4) dimensions, 1 past the tensor's last (gguf.h).
    fn gguf_get_tensor_ne(ctx: *const GgufContext, tensor_id: i64) -> *const i64;

    fn ggml_free(ctx: *mut GgmlContext);
    fn ggml_get_tensor(ctx: *mut GgmlContext, name: *const c_char) -> *mut GgmlTensor;
    fn ggml_get_data(tensor: *const GgmlTensor) -> *mut c_void;
    fn ggml_nelements(tensor: *const GgmlTensor) -> i64;
    fn ggml_n_dims(tensor: *const GgmlTensor) -> c_int;
    fn ggml_get_type_traits(ty: c_int) -> *const TypeTraits;
    fn ggml_row_size(ty: c_int, ne: i64) -> usize;
    fn ggml_log_set(log_callback: Option<LogCallback>, user_data: *mut c_void);
    fn ggml_version() -> *const c_char;

    // src/shim.c
    fn ggml_dump_type_count() -> c_int;
    static ggml_dump_type_traits_layout: [usize; 8];
}

/// Panics unless [`TypeTraits`] has exactly the C compiler's layout of `struct ggml_type_traits`.
pub fn check_layout() {
    let ours = [
        size_of::<TypeTraits>(),
        offset_of!(TypeTraits, type_name),
        offset_of!(TypeTraits, blck_size),
        offset_of!(TypeTraits, blck_size_interleave),
        offset_of!(TypeTraits, type_size),
        offset_of!(TypeTraits, is_quantized),
        offset_of!(TypeTraits, to_float),
        offset_of!(TypeTraits, from_float_ref),
    ];
    // SAFETY: a fully initialised, immutable array defined in src/shim.c.
    let theirs = unsafe { ggml_dump_type_traits_layout };
    assert_eq!(
        ours, theirs,
        "struct ggml_type_traits changed in this ggml: update TypeTraits in src/ggml.rs \
         (size, then field offsets)"
    );
}

/// The compiled ggml's version (`GGML_VERSION`, from its CMakeLists.txt: see build.rs).
pub fn version() -> String {
    // SAFETY: returns a static NUL-terminated string.
    unsafe { string(ggml_version()) }
}

/// `GGML_TYPE_COUNT` of the compiled ggml: every type id is below it.
pub fn type_count() -> i32 {
    // SAFETY: returns a compile-time constant.
    unsafe { ggml_dump_type_count() }
}

/// What ggml says about one type id (`ggml_get_type_traits`).
#[derive(Debug, Clone)]
pub struct Traits {
    pub name: String,
    pub blck_size: i64,
    pub type_size: usize,
    pub is_quantized: bool,
    to_float: Option<ToFloat>,
}

impl Traits {
    /// The traits of type id `ty`, or `None` outside `0..type_count()`.
    pub fn of(ty: i32) -> Option<Self> {
        if !(0..type_count()).contains(&ty) {
            return None;
        }
        check_layout_once();
        // SAFETY: `ty` is in range, so this is an entry of ggml's static `type_traits` table, whose
        // layout matches `TypeTraits` (checked above). Every entry, removed ids too, names its type
        // with a static C string.
        let (traits, name) = unsafe {
            let traits = &*ggml_get_type_traits(ty);
            (traits, string(traits.type_name))
        };
        Some(Self {
            name,
            blck_size: traits.blck_size,
            type_size: traits.type_size,
            is_quantized: traits.is_quantized,
            to_float: traits.to_float,
        })
    }

    pub fn has_to_float(&self) -> bool {
        self.to_float.is_some()
    }
}

/// Decodes `count` values of type `ty` from `data` with ggml's `to_float`, or `None` when ggml has
/// none for the type. F32, which ggml computes in and so gives no `to_float`, decodes to its bytes.
pub fn decode(ty: i32, data: &[u8], count: usize) -> Result<Option<Vec<f32>>, String> {
    let traits = Traits::of(ty).ok_or_else(|| format!("type {ty} is not a ggml type"))?;
    let k = i64::try_from(count).map_err(|_| "too many values".to_owned())?;
    if traits.blck_size <= 0 || k % traits.blck_size != 0 {
        return Err(format!(
            "{count} values are not whole blocks of {}",
            traits.name
        ));
    }
    // SAFETY: pure arithmetic on the type's traits; `ty` is a valid type with a block size.
    let expected = unsafe { ggml_row_size(ty, k) };
    if data.len() != expected {
        return Err(format!(
            "{count} {} values take {expected} bytes, not {}",
            traits.name,
            data.len()
        ));
    }
    if ty == GGML_TYPE_F32 {
        let values = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        return Ok(Some(values.collect()));
    }
    let Some(to_float) = traits.to_float else {
        return Ok(None);
    };
    let mut out = vec![0.0_f32; count];
    // SAFETY: `data` holds exactly the `k / blck_size` blocks of `type_size` bytes that `to_float`
    // reads (checked against ggml_row_size above), `out` has room for the `k` values it writes,
    // and `k` is a multiple of the block size, as every `to_float` asserts.
    unsafe { to_float(data.as_ptr().cast(), out.as_mut_ptr(), k) };
    Ok(Some(out))
}

/// One tensor as ggml loaded it.
#[derive(Debug)]
pub struct Tensor<'a> {
    pub name: String,
    pub ty: i32,
    /// `ne[..ggml_n_dims]`: ggml keeps four dimensions and no declared count, so trailing 1s of
    /// the file's shape are gone (a file's `[64, 1]` reads back as `[64]`).
    pub ne: Vec<i64>,
    /// Relative to the data section.
    pub offset: usize,
    pub nbytes: usize,
    pub nelements: usize,
    /// The tensor's bytes, as `gguf_init_from_file` read them into its ggml context.
    pub data: &'a [u8],
}

/// A GGUF file opened by `gguf_init_from_file` with its tensor data loaded (`no_alloc = false`).
#[derive(Debug)]
pub struct GgufFile {
    ctx: NonNull<GgufContext>,
    data: NonNull<GgmlContext>,
}

impl GgufFile {
    /// Opens `path`; on failure, returns what ggml logged (it logs every reason it rejects).
    pub fn open(path: &Path) -> Result<Self, String> {
        let fname = c_path(path)?;
        let mut data: *mut GgmlContext = ptr::null_mut();
        // Start with an empty log for this file.
        take_log();
        // SAFETY: `fname` is NUL-terminated and outlives the call; `data` is a valid out-pointer.
        let ctx = unsafe {
            gguf_init_from_file(
                fname.as_ptr(),
                GgufInitParams {
                    no_alloc: false,
                    ctx: &mut data,
                },
            )
        };
        let log = take_log();
        match (NonNull::new(ctx), NonNull::new(data)) {
            (Some(ctx), Some(data)) => {
                if !log.is_empty() {
                    eprint!("{log}"); // warnings for an accepted file: pass them on
                }
                Ok(Self { ctx, data })
            }
            (ctx, data) => {
                // Not expected (ggml creates both or neither), but never leak either.
                if let Some(ctx) = ctx {
                    // SAFETY: a context from gguf_init_from_file, freed once, here.
                    unsafe { gguf_free(ctx.as_ptr()) };
                }
                if let Some(data) = data {
                    // SAFETY: a context from gguf_init_from_file, freed once, here.
                    unsafe { ggml_free(data.as_ptr()) };
                }
                let log = log.trim_end();
                Err(if log.is_empty() {
                    "gguf_init_from_file failed".to_owned()
                } else {
                    log.to_owned()
                })
            }
        }
    }

    fn ctx(&self) -> *const GgufContext {
        self.ctx.as_ptr()
    }

    pub fn version(&self) -> u32 {
        // SAFETY: `self.ctx` is a live context (so for every method below).
        unsafe { gguf_get_version(self.ctx()) }
    }

    pub fn alignment(&self) -> usize {
        // SAFETY: live context.
        unsafe { gguf_get_alignment(self.ctx()) }
    }

    /// Absolute file offset of the data section, as ggml computes it.
    pub fn data_offset(&self) -> usize {
        // SAFETY: live context.
        unsafe { gguf_get_data_offset(self.ctx()) }
    }

    /// Every key-value pair, in file order.
    pub fn metadata(&self) -> Vec<(String, i32, Value)> {
        // SAFETY: live context.
        let n = unsafe { gguf_get_n_kv(self.ctx()) };
        (0..n).map(|id| self.kv(id)).collect()
    }

    fn kv(&self, id: i64) -> (String, i32, Value) {
        let ctx = self.ctx();
        // SAFETY: `id` is in 0..gguf_get_n_kv, and each getter below is called only for the type
        // that gguf_get_kv_type / gguf_get_arr_type reports (ggml aborts otherwise). Returned
        // strings are NUL-terminated and live as long as the context. ("As above" below.)
        let name = unsafe { string(gguf_get_key(ctx, id)) };
        // SAFETY: as above.
        let ty = unsafe { gguf_get_kv_type(ctx, id) };
        let value = match ty {
            // SAFETY: as above.
            gguf_type::STRING => Value::Str(unsafe { string(gguf_get_val_str(ctx, id)) }),
            gguf_type::ARRAY => {
                // SAFETY: as above.
                let (elem, n) = unsafe { (gguf_get_arr_type(ctx, id), gguf_get_arr_n(ctx, id)) };
                let items = if elem == gguf_type::STRING {
                    // SAFETY: as above, and `i < n`.
                    let item = |i| Value::Str(unsafe { string(gguf_get_arr_str(ctx, id, i)) });
                    (0..n).map(item).collect()
                } else {
                    // gguf.cpp rejects any other element type, nested arrays included.
                    let size = scalar_size(elem).expect("ggml loads only arrays of scalars");
                    // SAFETY: as above; gguf.cpp keeps the array in a byte vector of exactly
                    // `n * size` bytes (read byte-wise, so its alignment does not matter).
                    let data = unsafe { bytes(gguf_get_arr_data(ctx, id), n * size) };
                    let item = |b: &[u8]| Value::scalar(elem, b).expect("a scalar type");
                    data.chunks_exact(size).map(item).collect()
                };
                Value::Array(elem, items)
            }
            _ => {
                let size = scalar_size(ty).expect("ggml loads only known value types");
                // SAFETY: as above; gguf.cpp keeps the value in a byte vector of `size` bytes.
                let data = unsafe { bytes(gguf_get_val_data(ctx, id), size) };
                Value::scalar(ty, data).expect("a scalar type")
            }
        };
        (name, ty, value)
    }

    /// Every tensor, in file order, with the data ggml loaded for it.
    pub fn tensors(&self) -> Vec<Tensor<'_>> {
        // SAFETY: live context.
        let n = unsafe { gguf_get_n_tensors(self.ctx()) };
        (0..n).map(|id| self.tensor(id)).collect()
    }

    fn tensor(&self, id: i64) -> Tensor<'_> {
        let ctx = self.ctx();
        // SAFETY: `id` is in 0..gguf_get_n_tensors; names are NUL-terminated and live with the
        // context. For each tensor info, gguf_init_from_file created a ggml tensor of the same
        // name in `self.data` and read its `gguf_get_tensor_size` bytes from the file into it;
        // `gguf_get_tensor_ne` points at GGML_MAX_DIMS values and ggml_n_dims is at most that.
        // All of it lives until `self` is dropped, which the returned borrow cannot outlive.
        unsafe {
            let name_ptr = gguf_get_tensor_name(ctx, id);
            let name = string(name_ptr);
            let tensor = ggml_get_tensor(self.data.as_ptr(), name_ptr);
            assert!(!tensor.is_null(), "ggml context has no tensor {name:?}");
            let n_dims = usize::try_from(ggml_n_dims(tensor)).expect("ggml_n_dims is 1..=4");
            let ne = std::slice::from_raw_parts(gguf_get_tensor_ne(ctx, id), n_dims).to_vec();
            let nbytes = gguf_get_tensor_size(ctx, id);
            Tensor {
                name,
                ty: gguf_get_tensor_type(ctx, id),
                ne,
                offset: gguf_get_tensor_offset(ctx, id),
                nbytes,
                nelements: usize::try_from(ggml_nelements(tensor))
                    .expect("gguf.cpp rejects ne < 0"),
                data: bytes(ggml_get_data(tensor), nbytes),
            }
        }
    }
}

impl Drop for GgufFile {
    fn drop(&mut self) {
        // SAFETY: both contexts came from gguf_init_from_file and are freed exactly once, here;
        // no `Tensor` borrowing them outlives `self`.
        unsafe {
            ggml_free(self.data.as_ptr());
            gguf_free(self.ctx.as_ptr());
        }
    }
}

/// Borrows `len` bytes at `data` (which may be null or dangling when `len` is 0).
///
/// # Safety
/// Unless `len` is 0, `data` must point at `len` initialised bytes that outlive `'a`.
unsafe fn bytes<'a>(data: *const c_void, len: usize) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    // SAFETY: guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) }
}

/// Copies a C string; invalid UTF-8 shows as U+FFFD, so a difference stays visible.
///
/// # Safety
/// `s` must be a valid NUL-terminated string.
unsafe fn string(s: *const c_char) -> String {
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
}

fn c_path(path: &Path) -> Result<CString, String> {
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
    #[cfg(not(unix))]
    let bytes = path
        .to_str()
        .ok_or("path is not UTF-8")?
        .as_bytes()
        .to_vec();
    CString::new(bytes).map_err(|_| "path contains a NUL byte".to_owned())
}

/// Everything ggml logged since the last call. ggml logs through a process-wide callback, which
/// [`capture_log`] installs on first use instead of ggml's default (stderr).
fn take_log() -> String {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: `capture_log` is a valid callback for the whole program and ignores user_data.
        unsafe { ggml_log_set(Some(capture_log), ptr::null_mut()) };
    });
    LOG.lock()
        .map(|mut log| std::mem::take(&mut *log))
        .unwrap_or_default()
}

fn check_layout_once() {
    static CHECK: Once = Once::new();
    CHECK.call_once(check_layout);
}

static LOG: Mutex<String> = Mutex::new(String::new());

/// Appends one ggml log message to [`LOG`]. Must not unwind into C: it neither panics nor blocks
/// on a poisoned lock.
unsafe extern "C" fn capture_log(_level: c_int, text: *const c_char, _user_data: *mut c_void) {
    if text.is_null() {
        return;
    }
    // SAFETY: ggml passes a NUL-terminated message, valid for the duration of the call.
    let text = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    if let Ok(mut log) = LOG.lock() {
        log.push_str(&text);
    }
}
