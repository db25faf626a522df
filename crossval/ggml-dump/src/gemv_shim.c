// What `ggml-dump --gemv` needs from ggml's CPU backend without building it: the one global that
// ggml-cpu/quants.c reads and ggml-cpu.c would define, and fixed names for the two generic TQ dot
// products. Compiled with ggml-cpu/quants.c (in place, from the registry) and nothing else of
// the CPU backend.
#include <stddef.h>
#include <stdint.h>

#define GGML_COMMON_DECL_C
#include "ggml-common.h"

#include "ggml-cpu-impl.h"
#include "simd-mappings.h"
#include "quants.h"

// On targets where ggml has a SIMD `ggml_vec_dot_tq*_0_q8_K`, quants.c compiles the generic C
// under the `_generic` name; elsewhere arch-fallback.h renames it to the plain name. Including
// it here makes the calls below name whichever symbol quants.c defined.
#include "arch-fallback.h"

// The f16 -> f32 table that GGML_CPU_FP16_TO_FP32 reads on targets without a native conversion
// (x86 without F16C among them). ggml-cpu.c defines it and fills it in ggml_cpu_init(), with
// GGML_COMPUTE_FP16_TO_FP32 of every bit pattern; ggml_dump_init_fp16_table does the same.
float ggml_table_f32_f16[1 << 16];

void ggml_dump_init_fp16_table(void) {
    for (int i = 0; i < (1 << 16); ++i) {
        union {
            uint16_t u16;
            ggml_fp16_t fp16;
        } u = {(uint16_t)i};
        ggml_table_f32_f16[i] = GGML_COMPUTE_FP16_TO_FP32(u.fp16);
    }
}

// `n` values (whole QK_K blocks) of one TQ1_0 / TQ2_0 row `vx` against the q8_K blocks `vy`:
// ggml's generic C, called as ggml_compute_forward_mul_mat calls a vec_dot for one row (nrc 1;
// the strides are unused when nrc is 1).
void ggml_dump_vec_dot_tq1_0_q8_K(int n, float * s, const void * vx, const void * vy) {
    ggml_vec_dot_tq1_0_q8_K_generic(n, s, 0, vx, 0, vy, 0, 1);
}

void ggml_dump_vec_dot_tq2_0_q8_K(int n, float * s, const void * vx, const void * vy) {
    ggml_vec_dot_tq2_0_q8_K_generic(n, s, 0, vx, 0, vy, 0, 1);
}

// size, then the offsets of d, qs and bsums: for the #[repr(C)] mirror in src/ggml/gemv.rs.
const size_t ggml_dump_block_q8_K_layout[4] = {
    sizeof(block_q8_K),
    offsetof(block_q8_K, d),
    offsetof(block_q8_K, qs),
    offsetof(block_q8_K, bsums),
};

// QK_K, and the block sizes of TQ1_0 and TQ2_0 in bytes.
const size_t ggml_dump_qk_k = QK_K;
const size_t ggml_dump_tq_block_bytes[2] = {sizeof(block_tq1_0), sizeof(block_tq2_0)};
