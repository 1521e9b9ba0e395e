// 8-bit products for inference. Swift has no way to reach the VNNI dot-product instruction
// (vpdpbusd: 64 unsigned × signed byte products summed into 16 lanes in one step, four times
// the multiply rate of float FMAs), so these kernels are C with per-function targets: the
// binary runs anywhere, and uses VNNI where the CPU has it, AVX2 16-bit products where it
// has that, and plain C otherwise.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "QuantizedKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// The requantisation must round identically on every path: no fused multiply-adds.
#pragma clang fp contract(off)

enum { LANES = 16, TILE_ROWS = 8, WIDE_LANES = 8, WIDE_TILE_ROWS = 4 };

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

#if defined(__x86_64__)
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

#endif

// The AVX2 path multiplies 16-bit pairs (vpmaddwd), exact where vpmaddubsw would saturate:
// weights widened to [block of 8 columns][pair of K][8 columns][2 × int16].
ptrdiff_t qk_wide_count(ptrdiff_t columns, ptrdiff_t quads) {
    return (columns + LANES - 1) / LANES * LANES * quads * 4;
}

void qk_widen(const int8_t *packed, ptrdiff_t columns, ptrdiff_t quads, int16_t *wide) {
    const ptrdiff_t padded = (columns + LANES - 1) / LANES * LANES;
    for (ptrdiff_t column = 0; column < padded; column++) {
        const int8_t *source = packed + (column / LANES) * quads * LANES * 4 + (column % LANES) * 4;
        int16_t *target = wide + (column / WIDE_LANES) * quads * 2 * WIDE_LANES * 2 + (column % WIDE_LANES) * 2;
        for (ptrdiff_t k = 0; k < quads * 4; k++)
            target[(k / 2) * WIDE_LANES * 2 + k % 2] = source[(k / 4) * LANES * 4 + k % 4];
    }
}

#if defined(__x86_64__)
#define AVX2_TARGET __attribute__((target("avx2")))

// Eight sums of a row: requantised or rescaled as `requantized` and `rescaled` do, lane by lane.
static inline __attribute__((always_inline)) AVX2_TARGET
void avx2_store(__m256i sum, ptrdiff_t m, ptrdiff_t column, ptrdiff_t columns, const float *scale, const float *offset,
                uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride) {
    const ptrdiff_t left = columns - column;
    if (left <= 0) return;
    const ptrdiff_t count = left < WIDE_LANES ? left : WIDE_LANES;
    __m256 value = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(sum), _mm256_loadu_ps(scale + column)),
                                 _mm256_loadu_ps(offset + column));
    if (out_u8) {
        value = _mm256_min_ps(_mm256_max_ps(value, _mm256_setzero_ps()), _mm256_set1_ps(255.0f));
        const __m256i words = _mm256_packus_epi32(_mm256_cvtps_epi32(value), _mm256_setzero_si256());
        const __m256i bytes = _mm256_packus_epi16(words, _mm256_setzero_si256());
        // Each 128-bit lane holds four of the eight bytes at its start.
        uint8_t eight[16];
        _mm_storeu_si128((__m128i *)eight, _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))));
        memcpy(out_u8 + m * out_stride + column, eight, (size_t)count);
    } else {
        float eight[WIDE_LANES];
        _mm256_storeu_ps(eight, value);
        memcpy(out_f32 + m * out_stride + column, eight, (size_t)count * sizeof(float));
    }
}

#define AVX2_ROW(ROW, FIRST, SECOND)                                                                     \
    {                                                                                                    \
        int32_t four;                                                                                    \
        memcpy(&four, ROW + at, 4);                                                                      \
        const __m256i pairs = _mm256_cvtepu8_epi16(_mm_set1_epi32(four));                                \
        const __m256i low = _mm256_shuffle_epi32(pairs, 0x00), high = _mm256_shuffle_epi32(pairs, 0x55); \
        FIRST = _mm256_add_epi32(FIRST, _mm256_add_epi32(_mm256_madd_epi16(low, w00), _mm256_madd_epi16(high, w01))); \
        SECOND = _mm256_add_epi32(SECOND, _mm256_add_epi32(_mm256_madd_epi16(low, w10), _mm256_madd_epi16(high, w11))); \
    }

// One tile: four rows × 16 columns (two blocks of 8), the sums in named registers.
static AVX2_TARGET void avx2_tile(const qk_rows *rows, ptrdiff_t m0, ptrdiff_t row_end, const int16_t *wide,
                                  ptrdiff_t block, ptrdiff_t columns, const float *scale, const float *offset,
                                  uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride) {
    const ptrdiff_t pairs_total = total_quads(rows) * 2, next_block = pairs_total * WIDE_LANES * 2;
    const uint8_t *r0 = row_start(rows, m0);
    const uint8_t *r1 = row_start(rows, m0 + 1 < row_end ? m0 + 1 : row_end - 1);
    const uint8_t *r2 = row_start(rows, m0 + 2 < row_end ? m0 + 2 : row_end - 1);
    const uint8_t *r3 = row_start(rows, m0 + 3 < row_end ? m0 + 3 : row_end - 1);
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    const int16_t *weights = wide + 2 * block * next_block;
    for (ptrdiff_t segment = 0; segment < rows->segment_count; segment++) {
        const ptrdiff_t skip = segment * rows->segment_stride;
        for (ptrdiff_t q = 0; q < rows->segment_quads; q++, weights += 2 * WIDE_LANES * 2) {
            const ptrdiff_t at = skip + q * 4;
            const __m256i w00 = _mm256_loadu_si256((const __m256i *)weights);
            const __m256i w01 = _mm256_loadu_si256((const __m256i *)(weights + WIDE_LANES * 2));
            const __m256i w10 = _mm256_loadu_si256((const __m256i *)(weights + next_block));
            const __m256i w11 = _mm256_loadu_si256((const __m256i *)(weights + next_block + WIDE_LANES * 2));
            AVX2_ROW(r0, a0, b0) AVX2_ROW(r1, a1, b1) AVX2_ROW(r2, a2, b2) AVX2_ROW(r3, a3, b3)
        }
    }
    const __m256i first[WIDE_TILE_ROWS] = {a0, a1, a2, a3}, second[WIDE_TILE_ROWS] = {b0, b1, b2, b3};
    for (int r = 0; r < WIDE_TILE_ROWS && m0 + r < row_end; r++) {
        avx2_store(first[r], m0 + r, block * LANES, columns, scale, offset, out_u8, out_f32, out_stride);
        avx2_store(second[r], m0 + r, block * LANES + WIDE_LANES, columns, scale, offset, out_u8, out_f32, out_stride);
    }
}

static AVX2_TARGET void avx2_product(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end,
                                     const int16_t *wide, ptrdiff_t columns, const float *scale, const float *offset,
                                     uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride) {
    const ptrdiff_t blocks = (columns + LANES - 1) / LANES;
    for (ptrdiff_t block = 0; block < blocks; block++)
        for (ptrdiff_t m0 = row_begin; m0 < row_end; m0 += WIDE_TILE_ROWS)
            avx2_tile(rows, m0, row_end, wide, block, columns, scale, offset, out_u8, out_f32, out_stride);
}

#endif

#if defined(__x86_64__)
int qk_vnni_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

int qk_avx2_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}
#else
int qk_vnni_available(void) { return 0; }
int qk_avx2_available(void) { return 0; }
#endif

qk_path qk_automatic_path(void) {
    static int chosen = 0;
    int path = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (path == 0) {
        // MNISTD_QUANTIZED_KERNEL=avx2 or portable measures or checks a slower path on this CPU.
        const char *forced = getenv("MNISTD_QUANTIZED_KERNEL");
        const int avx2_only = forced && strcmp(forced, "avx2") == 0;
        const int portable = forced && strcmp(forced, "portable") == 0;
        path = portable ? QK_PORTABLE
             : qk_vnni_available() && !avx2_only ? QK_VNNI
             : qk_avx2_available() ? QK_AVX2 : QK_PORTABLE;
        __atomic_store_n(&chosen, path, __ATOMIC_RELAXED);
    }
    return (qk_path)path;
}

static void product(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end, const qk_weights *weights,
                    uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride, qk_path path) {
    if (row_begin >= row_end || weights->columns <= 0) return;
    if (path == QK_AUTOMATIC) path = qk_automatic_path();
#if defined(__x86_64__)
    if (path == QK_VNNI && qk_vnni_available())
        vnni_product(rows, row_begin, row_end, weights->packed, weights->columns, weights->scale, weights->offset,
                     out_u8, out_f32, out_stride);
    else if (path == QK_AVX2 && qk_avx2_available())
        avx2_product(rows, row_begin, row_end, weights->wide, weights->columns, weights->scale, weights->offset,
                     out_u8, out_f32, out_stride);
    else
#endif
        portable_product(rows, row_begin, row_end, weights->packed, weights->columns, weights->scale, weights->offset,
                         out_u8, out_f32, out_stride);
}

void qk_product_u8(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end, const qk_weights *weights,
                   uint8_t *out, ptrdiff_t out_stride, qk_path path) {
    product(rows, row_begin, row_end, weights, out, NULL, out_stride, path);
}

void qk_product_f32(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end, const qk_weights *weights,
                    float *out, ptrdiff_t out_stride, qk_path path) {
    product(rows, row_begin, row_end, weights, NULL, out, out_stride, path);
}

#if defined(__x86_64__)
// The accumulators go through an empty asm statement each round, so the compiler can neither
// hoist the products out of the loop nor fold them.
#define PEAK_ROUND(ACCUMULATE) ACCUMULATE(a0) ACCUMULATE(a1) ACCUMULATE(a2) ACCUMULATE(a3) ACCUMULATE(a4) ACCUMULATE(a5) \
                               ACCUMULATE(a6) ACCUMULATE(a7) ACCUMULATE(a8) ACCUMULATE(a9) ACCUMULATE(a10) ACCUMULATE(a11)

static VNNI_TARGET int64_t vnni_peak(int64_t iterations) {
    __m512i a0 = _mm512_set1_epi32(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m512i a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    __m512i x = _mm512_set1_epi8(3), w = _mm512_set1_epi8(-2);
    for (int64_t i = 0; i < iterations; i++) {
        __asm__ volatile("" : "+v"(x), "+v"(w));
#define VNNI_PEAK_STEP(A) A = _mm512_dpbusd_epi32(A, x, w);
        PEAK_ROUND(VNNI_PEAK_STEP)
    }
    __m512i sum = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
                                   _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
    sum = _mm512_add_epi32(sum, _mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11)));
    __asm__ volatile("" : : "v"(sum));
    return iterations * 12 * 64;
}

// The AVX2 path's instructions: vpmaddwd (8 lanes × a pair of 16-bit products) and vpaddd.
static AVX2_TARGET int64_t avx2_peak(int64_t iterations) {
    __m256i a0 = _mm256_set1_epi32(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m256i a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    __m256i w = _mm256_set1_epi16(-2);
    for (int64_t i = 0; i < iterations; i++) {
        __asm__ volatile("" : "+x"(w));
// Each product reads its own accumulator: twelve products, not one added twelve times.
#define AVX2_PEAK_STEP(A) A = _mm256_add_epi32(A, _mm256_madd_epi16(A, w));
        PEAK_ROUND(AVX2_PEAK_STEP)
    }
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)),
                                   _mm256_add_epi32(_mm256_add_epi32(a4, a5), _mm256_add_epi32(a6, a7)));
    sum = _mm256_add_epi32(sum, _mm256_add_epi32(_mm256_add_epi32(a8, a9), _mm256_add_epi32(a10, a11)));
    __asm__ volatile("" : : "x"(sum));
    return iterations * 12 * 16;
}
#endif

int64_t qk_peak_multiply_adds(qk_path path, int64_t iterations) {
    if (path == QK_AUTOMATIC) path = qk_automatic_path();
#if defined(__x86_64__)
    if (path == QK_VNNI && qk_vnni_available()) return vnni_peak(iterations);
    if (path == QK_AVX2 && qk_avx2_available()) return avx2_peak(iterations);
#endif
    return 0;
}
