// 8-bit products for inference. Swift has no way to reach the VNNI dot-product instruction
// (vpdpbusd: 64 unsigned × signed byte products summed into 16 lanes in one step, four times
// the multiply rate of float FMAs), so these kernels are C with per-function targets: the
// binary runs anywhere, and uses VNNI only where the CPU has it.
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "QuantizedKernels.h"

// The requantisation must round identically on every path: no fused multiply-adds.
#pragma clang fp contract(off)

enum { LANES = 16, TILE_ROWS = 8 };

static inline const uint8_t *row_start(const qk_rows *rows, ptrdiff_t m) {
    return rows->base + (m / rows->rows_per_line) * rows->line_stride + (m % rows->rows_per_line) * rows->row_stride;
}

static inline ptrdiff_t total_quads(const qk_rows *rows) { return rows->segment_count * rows->segment_quads; }

static inline float requantized(int32_t sum, float scale, float offset) {
    float value = (float)sum * scale;
    value = value + offset;
    value = fminf(fmaxf(value, 0.0f), 255.0f);
    return nearbyintf(value);
}

static inline float rescaled(int32_t sum, float scale, float offset) {
    float value = (float)sum * scale;
    return value + offset;
}

static int32_t portable_sum(const qk_rows *rows, const uint8_t *row, const int8_t *packed, ptrdiff_t column) {
    const int8_t *block = packed + (column / LANES) * total_quads(rows) * LANES * 4 + (column % LANES) * 4;
    int32_t sum = 0;
    ptrdiff_t quad = 0;
    for (ptrdiff_t segment = 0; segment < rows->segment_count; segment++) {
        const uint8_t *run = row + segment * rows->segment_stride;
        for (ptrdiff_t q = 0; q < rows->segment_quads; q++, quad++) {
            const int8_t *weights = block + quad * LANES * 4;
            for (int t = 0; t < 4; t++) sum += (int32_t)run[q * 4 + t] * (int32_t)weights[t];
        }
    }
    return sum;
}

static void portable_product(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end,
                             const int8_t *packed, ptrdiff_t columns, const float *scale, const float *offset,
                             uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride) {
    for (ptrdiff_t m = row_begin; m < row_end; m++) {
        const uint8_t *row = row_start(rows, m);
        for (ptrdiff_t n = 0; n < columns; n++) {
            int32_t sum = portable_sum(rows, row, packed, n);
            if (out_u8) out_u8[m * out_stride + n] = (uint8_t)requantized(sum, scale[n], offset[n]);
            else out_f32[m * out_stride + n] = rescaled(sum, scale[n], offset[n]);
        }
    }
}

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

// Stores one tile's sums: requantised bytes or rescaled floats, columns past `columns` masked.
static inline __attribute__((always_inline)) VNNI_TARGET
void vnni_store(__m512i sum, ptrdiff_t m, ptrdiff_t column, ptrdiff_t columns, const float *scale, const float *offset,
                uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride) {
    const ptrdiff_t left = columns - column;
    const __mmask16 mask = left >= LANES ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
    __m512 value = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), _mm512_loadu_ps(scale + column)),
                                 _mm512_loadu_ps(offset + column));
    if (out_u8) {
        value = _mm512_min_ps(_mm512_max_ps(value, _mm512_setzero_ps()), _mm512_set1_ps(255.0f));
        _mm512_mask_cvtusepi32_storeu_epi8(out_u8 + m * out_stride + column, mask, _mm512_cvtps_epi32(value));
    } else {
        _mm512_mask_storeu_ps(out_f32 + m * out_stride + column, mask, value);
    }
}

// One tile: TILE_ROWS rows × BLOCKS column blocks of 16 (BLOCKS 1 or 2), every sum in a named
// register over the whole K loop (an array of sums is kept in memory by the compiler). Rows
// past row_end repeat the last row and are not stored.
#define VNNI_TILE(NAME, BLOCKS)                                                                          \
static VNNI_TARGET void NAME(const qk_rows *rows, ptrdiff_t m0, ptrdiff_t row_end, const int8_t *packed,  \
                             ptrdiff_t block0, ptrdiff_t columns, const float *scale, const float *offset, \
                             uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride) {                      \
    const int blocks = BLOCKS;                                                                             \
    const ptrdiff_t quads = total_quads(rows), next_block = quads * LANES * 4;                              \
    const uint8_t *r0, *r1, *r2, *r3, *r4, *r5, *r6, *r7;                                                  \
    r0 = row_start(rows, m0); r1 = row_start(rows, m0 + 1 < row_end ? m0 + 1 : row_end - 1);               \
    r2 = row_start(rows, m0 + 2 < row_end ? m0 + 2 : row_end - 1);                                         \
    r3 = row_start(rows, m0 + 3 < row_end ? m0 + 3 : row_end - 1);                                         \
    r4 = row_start(rows, m0 + 4 < row_end ? m0 + 4 : row_end - 1);                                         \
    r5 = row_start(rows, m0 + 5 < row_end ? m0 + 5 : row_end - 1);                                         \
    r6 = row_start(rows, m0 + 6 < row_end ? m0 + 6 : row_end - 1);                                         \
    r7 = row_start(rows, m0 + 7 < row_end ? m0 + 7 : row_end - 1);                                         \
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;   \
    __m512i b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0;                        \
    const int8_t *weights = packed + block0 * next_block;                                                  \
    for (ptrdiff_t segment = 0; segment < rows->segment_count; segment++) {                                \
        const ptrdiff_t skip = segment * rows->segment_stride;                                             \
        for (ptrdiff_t q = 0; q < rows->segment_quads; q++, weights += LANES * 4) {                        \
            const ptrdiff_t at = skip + q * 4;                                                             \
            const __m512i w0 = _mm512_loadu_si512(weights);                                                \
            const __m512i w1 = blocks == 2 ? _mm512_loadu_si512(weights + next_block) : w0;                \
            VNNI_ROW(r0, a0, b0) VNNI_ROW(r1, a1, b1) VNNI_ROW(r2, a2, b2) VNNI_ROW(r3, a3, b3)            \
            VNNI_ROW(r4, a4, b4) VNNI_ROW(r5, a5, b5) VNNI_ROW(r6, a6, b6) VNNI_ROW(r7, a7, b7)            \
        }                                                                                                  \
    }                                                                                                      \
    const __m512i first[TILE_ROWS] = {a0, a1, a2, a3, a4, a5, a6, a7};                                     \
    const __m512i second[TILE_ROWS] = {b0, b1, b2, b3, b4, b5, b6, b7};                                    \
    for (int r = 0; r < TILE_ROWS && m0 + r < row_end; r++) {                                              \
        vnni_store(first[r], m0 + r, block0 * LANES, columns, scale, offset, out_u8, out_f32, out_stride); \
        if (blocks == 2)                                                                                   \
            vnni_store(second[r], m0 + r, (block0 + 1) * LANES, columns, scale, offset,                    \
                       out_u8, out_f32, out_stride);                                                       \
    }                                                                                                      \
}

#define VNNI_ROW(ROW, FIRST, SECOND)                                                                     \
    {                                                                                                    \
        int32_t four;                                                                                    \
        memcpy(&four, ROW + at, 4);                                                                      \
        const __m512i a = _mm512_set1_epi32(four);                                                       \
        FIRST = _mm512_dpbusd_epi32(FIRST, a, w0);                                                       \
        if (blocks == 2) SECOND = _mm512_dpbusd_epi32(SECOND, a, w1);                                    \
    }

VNNI_TILE(vnni_tile_one_block, 1)
VNNI_TILE(vnni_tile_two_blocks, 2)

static VNNI_TARGET void vnni_product(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end,
                                     const int8_t *packed, ptrdiff_t columns, const float *scale, const float *offset,
                                     uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride) {
    const ptrdiff_t blocks = (columns + LANES - 1) / LANES;
    for (ptrdiff_t block = 0; block < blocks; block += 2) {
        for (ptrdiff_t m0 = row_begin; m0 < row_end; m0 += TILE_ROWS) {
            if (blocks - block >= 2)
                vnni_tile_two_blocks(rows, m0, row_end, packed, block, columns, scale, offset, out_u8, out_f32, out_stride);
            else
                vnni_tile_one_block(rows, m0, row_end, packed, block, columns, scale, offset, out_u8, out_f32, out_stride);
        }
    }
}

int qk_vnni_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

qk_path qk_automatic_path(void) {
    static int chosen = 0;
    int path = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (path == 0) {
        // MNISTD_QUANTIZED_KERNEL=portable measures or checks the portable path on any CPU.
        const char *forced = getenv("MNISTD_QUANTIZED_KERNEL");
        path = qk_vnni_available() && !(forced && strcmp(forced, "portable") == 0) ? QK_VNNI : QK_PORTABLE;
        __atomic_store_n(&chosen, path, __ATOMIC_RELAXED);
    }
    return (qk_path)path;
}

static void product(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end,
                    const int8_t *packed, ptrdiff_t columns, const float *scale, const float *offset,
                    uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride, qk_path path) {
    if (row_begin >= row_end || columns <= 0) return;
    if (path == QK_AUTOMATIC) path = qk_automatic_path();
    if (path == QK_VNNI && qk_vnni_available())
        vnni_product(rows, row_begin, row_end, packed, columns, scale, offset, out_u8, out_f32, out_stride);
    else
        portable_product(rows, row_begin, row_end, packed, columns, scale, offset, out_u8, out_f32, out_stride);
}

void qk_product_u8(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end,
                   const int8_t *packed, ptrdiff_t columns, const float *scale, const float *offset,
                   uint8_t *out, ptrdiff_t out_stride, qk_path path) {
    product(rows, row_begin, row_end, packed, columns, scale, offset, out, NULL, out_stride, path);
}

void qk_product_f32(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end,
                    const int8_t *packed, ptrdiff_t columns, const float *scale, const float *offset,
                    float *out, ptrdiff_t out_stride, qk_path path) {
    product(rows, row_begin, row_end, packed, columns, scale, offset, NULL, out, out_stride, path);
}
