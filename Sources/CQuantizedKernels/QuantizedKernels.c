// 8-bit products for inference. Swift has no way to reach the VNNI dot-product instruction
// (vpdpbusd: 64 unsigned × signed byte products summed into 16 lanes in one step, four times
// the multiply rate of float FMAs) nor AVX2's vpmaddubsw, so these kernels are C with
// per-function targets: the binary runs anywhere, and uses AVX-512 VNNI where the CPU has it,
// AVX-VNNI (the same on 256 bits) where it has that, AVX2 byte-pair products where it has
// that, and plain C otherwise.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "QuantizedKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// The requantisation must round identically on every path: no fused multiply-adds.
#pragma clang fp contract(off)

enum { LANES = 16, TILE_ROWS = 8, WIDE_LANES = 8, WIDE_TILE_ROWS = 3, QUAD_TILE_ROWS = 4 };

static inline const uint8_t *row_start(const qk_rows *rows, ptrdiff_t m) {
    return rows->base + (m / rows->rows_per_line) * rows->line_stride + (m % rows->rows_per_line) * rows->row_stride;
}

static inline ptrdiff_t total_quads(const qk_rows *rows) { return rows->segment_count * rows->segment_quads; }

static inline float requantized(int32_t sum, float scale, float offset, float ceiling) {
    float value = (float)sum * scale;
    value = value + offset;
    value = fminf(fmaxf(value, 0.0f), ceiling);
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

static void portable_product(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end, const qk_weights *weights,
                             uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride) {
    for (ptrdiff_t m = row_begin; m < row_end; m++) {
        const uint8_t *row = row_start(rows, m);
        for (ptrdiff_t n = 0; n < weights->columns; n++) {
            int32_t sum = portable_sum(rows, row, weights->packed, n);
            if (out_u8) out_u8[m * out_stride + n] = (uint8_t)requantized(sum, weights->scale[n], weights->offset[n], weights->ceiling);
            else out_f32[m * out_stride + n] = rescaled(sum, weights->scale[n], weights->offset[n]);
        }
    }
}

#if defined(__x86_64__)
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

// Stores one tile's sums: requantised bytes or rescaled floats, columns past `columns` masked.
static inline __attribute__((always_inline)) VNNI_TARGET
void vnni_store(__m512i sum, ptrdiff_t m, ptrdiff_t column, const qk_weights *weights,
                uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride) {
    const ptrdiff_t left = weights->columns - column;
    const __mmask16 mask = left >= LANES ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
    __m512 value = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), _mm512_loadu_ps(weights->scale + column)),
                                 _mm512_loadu_ps(weights->offset + column));
    if (out_u8) {
        value = _mm512_min_ps(_mm512_max_ps(value, _mm512_setzero_ps()), _mm512_set1_ps(weights->ceiling));
        _mm512_mask_cvtusepi32_storeu_epi8(out_u8 + m * out_stride + column, mask, _mm512_cvtps_epi32(value));
    } else {
        _mm512_mask_storeu_ps(out_f32 + m * out_stride + column, mask, value);
    }
}

// One tile: TILE_ROWS rows × BLOCKS column blocks of 16 (BLOCKS 1 or 2), every sum in a named
// register over the whole K loop (an array of sums is kept in memory by the compiler). Rows
// past row_end repeat the last row and are not stored.
#define VNNI_TILE(NAME, BLOCKS)                                                                          \
static VNNI_TARGET void NAME(const qk_rows *rows, ptrdiff_t m0, ptrdiff_t row_end, const qk_weights *packing, \
                             ptrdiff_t block0, uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride) {    \
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
    const int8_t *weights = packing->packed + block0 * next_block;                                         \
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
        vnni_store(first[r], m0 + r, block0 * LANES, packing, out_u8, out_f32, out_stride);                \
        if (blocks == 2)                                                                                   \
            vnni_store(second[r], m0 + r, (block0 + 1) * LANES, packing, out_u8, out_f32, out_stride);     \
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

static VNNI_TARGET void vnni_product(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end, const qk_weights *weights,
                                     uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride) {
    const ptrdiff_t blocks = (weights->columns + LANES - 1) / LANES;
    for (ptrdiff_t block = 0; block < blocks; block += 2) {
        for (ptrdiff_t m0 = row_begin; m0 < row_end; m0 += TILE_ROWS) {
            if (blocks - block >= 2)
                vnni_tile_two_blocks(rows, m0, row_end, weights, block, out_u8, out_f32, out_stride);
            else
                vnni_tile_one_block(rows, m0, row_end, weights, block, out_u8, out_f32, out_stride);
        }
    }
}

#endif

// The longest chunk for which every 16-bit lane's sum is bounded, for `qk_chunk_quads`.
enum { LONGEST_CHUNK = 16, INT16_LIMIT = 32767 };

static int chunk_is_exact(const int8_t *packed, ptrdiff_t columns, ptrdiff_t segment_count, ptrdiff_t segment_quads,
                          ptrdiff_t chunk, int input_ceiling) {
    const ptrdiff_t quads = segment_count * segment_quads;
    for (ptrdiff_t column = 0; column < columns; column++) {
        const int8_t *weights = packed + (column / LANES) * quads * LANES * 4 + (column % LANES) * 4;
        // Chunks restart at each segment's first quad, as the kernels walk them.
        for (ptrdiff_t segment = 0; segment < segment_count; segment++) {
            for (ptrdiff_t q0 = 0; q0 < segment_quads; q0 += chunk) {
                const ptrdiff_t q1 = q0 + chunk < segment_quads ? q0 + chunk : segment_quads;
                for (int half = 0; half < 2; half++) {
                    int32_t positive = 0, negative = 0;
                    for (ptrdiff_t q = q0; q < q1; q++) {
                        for (int t = 0; t < 2; t++) {
                            const int32_t w = weights[(segment * segment_quads + q) * LANES * 4 + half * 2 + t];
                            if (w > 0) positive += w; else negative -= w;
                        }
                    }
                    const int32_t largest = positive > negative ? positive : negative;
                    if ((int64_t)largest * input_ceiling > INT16_LIMIT) return 0;
                }
            }
        }
    }
    return 1;
}

ptrdiff_t qk_chunk_quads(const int8_t *packed, ptrdiff_t columns, ptrdiff_t segment_count, ptrdiff_t segment_quads,
                         int input_ceiling) {
    for (ptrdiff_t chunk = segment_quads < LONGEST_CHUNK ? segment_quads : LONGEST_CHUNK; chunk >= 1; chunk--)
        if (chunk_is_exact(packed, columns, segment_count, segment_quads, chunk, input_ceiling)) return chunk;
    return 0;
}

#if defined(__x86_64__)
// The AVX2 and AVX-VNNI paths work on 256-bit registers: the first and the second eight columns
// of a packed block of 16 (32 bytes each per quad).
#define AVX2_TARGET __attribute__((target("avx2")))
#define AVX_VNNI_TARGET __attribute__((target("avx2,avxvnni")))

// Eight sums rescaled as `rescaled` does, lane by lane.
static inline __attribute__((always_inline)) AVX2_TARGET __m256 avx2_rescaled(__m256i sum, __m256 scale, __m256 offset) {
    return _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(sum), scale), offset);
}

// Eight sums requantised as `requantized` does, as 32-bit integers (rounded to nearest even).
static inline __attribute__((always_inline)) AVX2_TARGET
__m256i avx2_requantized(__m256i sum, __m256 scale, __m256 offset, __m256 ceiling) {
    const __m256 value = avx2_rescaled(sum, scale, offset);
    return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(value, _mm256_setzero_ps()), ceiling));
}

// A row's eight sums, requantised (`out_u8`) or rescaled, stored at `at` (the first `count` of them).
static inline __attribute__((always_inline)) AVX2_TARGET
void avx2_store(__m256i sum, __m256 scale, __m256 offset, __m256 ceiling, uint8_t *out_u8, float *out_f32,
                ptrdiff_t at, ptrdiff_t count) {
    if (out_u8) {
        const __m256i words = _mm256_packus_epi32(avx2_requantized(sum, scale, offset, ceiling), _mm256_setzero_si256());
        const __m256i bytes = _mm256_packus_epi16(words, _mm256_setzero_si256());
        // Each 128-bit lane holds four of the eight bytes at its start.
        const __m128i eight = _mm_unpacklo_epi32(_mm256_castsi256_si128(bytes), _mm256_extracti128_si256(bytes, 1));
        if (count == WIDE_LANES) {
            _mm_storel_epi64((__m128i *)(out_u8 + at), eight);
        } else {
            uint8_t some[16];
            _mm_storeu_si128((__m128i *)some, eight);
            memcpy(out_u8 + at, some, (size_t)count);
        }
    } else if (count == WIDE_LANES) {
        _mm256_storeu_ps(out_f32 + at, avx2_rescaled(sum, scale, offset));
    } else {
        float some[WIDE_LANES];
        _mm256_storeu_ps(some, avx2_rescaled(sum, scale, offset));
        memcpy(out_f32 + at, some, (size_t)count * sizeof(float));
    }
}

// A row's sixteen sums (its first and second eight columns), requantised as `requantized` does,
// as 16-bit lanes: the first four of each half, then the second four (packus works per 128 bits).
static inline __attribute__((always_inline)) AVX2_TARGET
__m256i avx2_requantized_words(__m256i low, __m256i high, __m256 scale, __m256 offset, __m256 scale_high,
                               __m256 offset_high, __m256 ceiling) {
    return _mm256_packus_epi32(avx2_requantized(low, scale, offset, ceiling), avx2_requantized(high, scale_high, offset_high, ceiling));
}

// Two rows' requantised words packed to bytes once and put back in column order (each row's
// four-byte groups are spread over both 128-bit halves): the first row's sixteen bytes in the
// low half, the second's in the high half. One pack and one permute for 32 bytes, where storing
// eight bytes at a time took two packs, an extract and an unpack each.
static inline __attribute__((always_inline)) AVX2_TARGET __m256i avx2_two_rows_of_bytes(__m256i first, __m256i second) {
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    return _mm256_permutevar8x32_epi32(_mm256_packus_epi16(first, second), order);
}

// One tile: three rows × sixteen columns (a packed block: its first and second eight columns
// in two registers), the sums in named registers (an array of sums is kept in memory by the
// compiler). Each segment is walked in chunks of `chunk` quads: STEP adds a row's products for
// one quad to its chunk sums, WIDEN adds a chunk sum to the row's 32-bit sums. `starts` holds
// the rows' first bytes; rows past row_end repeat the last row and are not stored.
#define TILE256(NAME, TARGET, STEP, WIDEN)                                                                 \
static inline __attribute__((always_inline)) TARGET void NAME(const qk_rows *rows, const uint8_t *const *starts, \
                        ptrdiff_t m0, ptrdiff_t row_end, const qk_weights *weights, ptrdiff_t block,         \
                        ptrdiff_t chunk, uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride) {            \
    const uint8_t *r0 = starts[0], *r1 = starts[1], *r2 = starts[2];                                       \
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, h0 = s0, h1 = s0, h2 = s0;                      \
    const __m256i ones = _mm256_set1_epi16(1);                                                             \
    (void)ones;                                                                                            \
    const ptrdiff_t segment_quads = rows->segment_quads;                                                   \
    const int8_t *block_weights = weights->packed + block * total_quads(rows) * LANES * 4;                 \
    for (ptrdiff_t segment = 0; segment < rows->segment_count; segment++) {                                \
        const ptrdiff_t skip = segment * rows->segment_stride;                                             \
        const int8_t *segment_weights = block_weights + segment * segment_quads * LANES * 4;               \
        /* Whole chunks (a constant count when `chunk` is one), then what is left of the segment. */        \
        ptrdiff_t q0 = 0;                                                                                  \
        for (; q0 + chunk <= segment_quads; q0 += chunk) CHUNK256(STEP, WIDEN, q0, chunk)                  \
        if (q0 < segment_quads) CHUNK256(STEP, WIDEN, q0, segment_quads - q0)                              \
    }                                                                                                      \
    BLOCK_SCALES                                                                                           \
    if (out_u8 && left >= LANES) {                                                                         \
        STORE_BYTE_ROWS(ROW_WORDS(s0, h0), ROW_WORDS(s1, h1), 0, WIDE_TILE_ROWS)                           \
        const __m256i last = ROW_WORDS(s2, h2);                                                            \
        STORE_BYTE_ROWS(last, last, 2, WIDE_TILE_ROWS)                                                     \
    } else {                                                                                               \
        STORE_ROW(s0, h0, 0) STORE_ROW(s1, h1, 1) STORE_ROW(s2, h2, 2)                                     \
    }                                                                                                      \
}

// The scales and offsets of the sixteen columns of `block`, and how many of its columns are real.
#define BLOCK_SCALES                                                                                       \
    const ptrdiff_t column = block * LANES, left = weights->columns - column;                              \
    const __m256 ceiling = _mm256_set1_ps(weights->ceiling);                                               \
    const __m256 scale = _mm256_loadu_ps(weights->scale + column), offset = _mm256_loadu_ps(weights->offset + column); \
    const __m256 scale_high = _mm256_loadu_ps(weights->scale + column + WIDE_LANES);                       \
    const __m256 offset_high = _mm256_loadu_ps(weights->offset + column + WIDE_LANES);

// One chunk of `count` quads from q0: every row's products summed by STEP, then widened by WIDEN.
#define CHUNK256(STEP, WIDEN, Q0, COUNT)                                                                   \
    {                                                                                                      \
        __m256i t0 = _mm256_setzero_si256(), t1 = t0, t2 = t0, u0 = t0, u1 = t0, u2 = t0;                  \
        for (ptrdiff_t q = Q0; q < Q0 + COUNT; q++) {                                                      \
            const int8_t *quad = segment_weights + q * LANES * 4;                                          \
            const __m256i w = _mm256_loadu_si256((const __m256i *)quad);                                   \
            const __m256i w_high = _mm256_loadu_si256((const __m256i *)(quad + WIDE_LANES * 4));           \
            const ptrdiff_t at = skip + q * 4;                                                             \
            STEP(r0, t0, u0) STEP(r1, t1, u1) STEP(r2, t2, u2)                                             \
        }                                                                                                  \
        WIDEN(t0, s0) WIDEN(t1, s1) WIDEN(t2, s2) WIDEN(u0, h0) WIDEN(u1, h1) WIDEN(u2, h2)                \
    }

#define STORE_ROW(LOW, HIGH, R)                                                                            \
    if (m0 + R < row_end) {                                                                                \
        const ptrdiff_t at = (m0 + R) * out_stride + column;                                               \
        avx2_store(LOW, scale, offset, ceiling, out_u8, out_f32, at, left < WIDE_LANES ? left : WIDE_LANES); \
        if (left > WIDE_LANES)                                                                             \
            avx2_store(HIGH, scale_high, offset_high, ceiling, out_u8, out_f32, at + WIDE_LANES,           \
                       left < LANES ? left - WIDE_LANES : WIDE_LANES);                                     \
    }

#define ROW_WORDS(LOW, HIGH) avx2_requantized_words(LOW, HIGH, scale, offset, scale_high, offset_high, ceiling)

// Rows R and R + 1 of a whole block, from their requantised words, as bytes (R + 1 only when it
// is a row of its own: one of the tile's ROWS, before row_end).
#define STORE_BYTE_ROWS(WORDS, NEXT_WORDS, R, ROWS)                                                        \
    if (m0 + R < row_end) {                                                                                \
        const __m256i bytes = avx2_two_rows_of_bytes(WORDS, NEXT_WORDS);                                   \
        uint8_t *at = out_u8 + (m0 + R) * out_stride + column;                                             \
        _mm_storeu_si128((__m128i *)at, _mm256_castsi256_si128(bytes));                                    \
        if (R + 1 < ROWS && m0 + R + 1 < row_end)                                                          \
            _mm_storeu_si128((__m128i *)(at + out_stride), _mm256_extracti128_si256(bytes, 1));            \
    }

#define BROADCAST_FOUR(ROW)                                                                                \
    ({                                                                                                     \
        int32_t four;                                                                                      \
        memcpy(&four, ROW + at, 4);                                                                        \
        _mm256_set1_epi32(four);                                                                           \
    })

// AVX2: vpmaddubsw sums byte pairs into 16-bit lanes, which add up over the chunk (exact: see
// qk_weights); vpmaddwd with ones then widens them to 32 bits, once a chunk.
#define AVX2_STEP(ROW, LOW, HIGH)                                                                          \
    {                                                                                                      \
        const __m256i a = BROADCAST_FOUR(ROW);                                                             \
        LOW = _mm256_add_epi16(LOW, _mm256_maddubs_epi16(a, w));                                           \
        HIGH = _mm256_add_epi16(HIGH, _mm256_maddubs_epi16(a, w_high));                                   \
    }
#define AVX2_WIDEN(T, S) S = _mm256_add_epi32(S, _mm256_madd_epi16(T, ones));
#define AVX2_WIDENED_STEP(ROW, LOW, HIGH)                                                                  \
    {                                                                                                      \
        const __m256i a = BROADCAST_FOUR(ROW);                                                             \
        LOW = _mm256_add_epi32(LOW, _mm256_madd_epi16(_mm256_maddubs_epi16(a, w), ones));                  \
        HIGH = _mm256_add_epi32(HIGH, _mm256_madd_epi16(_mm256_maddubs_epi16(a, w_high), ones));           \
    }
TILE256(avx2_tile, AVX2_TARGET, AVX2_STEP, AVX2_WIDEN)

// AVX2 for weights whose chunk is a single quad (a first layer's 8-bit pixels): a tile of four
// rows × sixteen columns, each quad's 16-bit sums widened at once. With no chunk sums to hold,
// the eight sums, the quad's two weight registers, the broadcast input and the ones fit the
// sixteen registers; the three-row tile spills there, and a row more spreads each weight load
// and the stores over more work (conv1's product 7.0–7.2 → 6.2 µs an image in a harness).
static inline __attribute__((always_inline)) AVX2_TARGET
void avx2_quad_tile(const qk_rows *rows, const uint8_t *const *starts, ptrdiff_t m0, ptrdiff_t row_end,
                    const qk_weights *weights, ptrdiff_t block, ptrdiff_t chunk, uint8_t *out_u8, float *out_f32,
                    ptrdiff_t out_stride) {
    (void)chunk;
    const uint8_t *r0 = starts[0], *r1 = starts[1], *r2 = starts[2], *r3 = starts[3];
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0, h0 = s0, h1 = s0, h2 = s0, h3 = s0;
    const __m256i ones = _mm256_set1_epi16(1);
    const int8_t *quad = weights->packed + block * total_quads(rows) * LANES * 4;
    for (ptrdiff_t segment = 0; segment < rows->segment_count; segment++) {
        const ptrdiff_t skip = segment * rows->segment_stride;
        for (ptrdiff_t q = 0; q < rows->segment_quads; q++, quad += LANES * 4) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)quad);
            const __m256i w_high = _mm256_loadu_si256((const __m256i *)(quad + WIDE_LANES * 4));
            const ptrdiff_t at = skip + q * 4;
            AVX2_WIDENED_STEP(r0, s0, h0) AVX2_WIDENED_STEP(r1, s1, h1)
            AVX2_WIDENED_STEP(r2, s2, h2) AVX2_WIDENED_STEP(r3, s3, h3)
        }
    }
    BLOCK_SCALES
    if (out_u8 && left >= LANES) {
        STORE_BYTE_ROWS(ROW_WORDS(s0, h0), ROW_WORDS(s1, h1), 0, QUAD_TILE_ROWS)
        STORE_BYTE_ROWS(ROW_WORDS(s2, h2), ROW_WORDS(s3, h3), 2, QUAD_TILE_ROWS)
    } else {
        STORE_ROW(s0, h0, 0) STORE_ROW(s1, h1, 1) STORE_ROW(s2, h2, 2) STORE_ROW(s3, h3, 3)
    }
}

// AVX-VNNI: vpdpbusd sums four byte products straight into 32-bit lanes; a chunk is a segment.
#define AVX_VNNI_STEP(ROW, LOW, HIGH)                                                                      \
    {                                                                                                      \
        const __m256i a = BROADCAST_FOUR(ROW);                                                             \
        LOW = _mm256_dpbusd_avx_epi32(LOW, a, w);                                                          \
        HIGH = _mm256_dpbusd_avx_epi32(HIGH, a, w_high);                                                   \
    }
#define AVX_VNNI_WIDEN(T, S) S = _mm256_add_epi32(S, T);
TILE256(avx_vnni_tile, AVX_VNNI_TARGET, AVX_VNNI_STEP, AVX_VNNI_WIDEN)

// Tiles of ROWS rows, each over every block of sixteen columns; the rows' starts found once a tile.
#define PRODUCT256(NAME, TARGET, TILE, ROWS, CHUNK)                                                        \
static TARGET void NAME(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end, const qk_weights *weights, \
                        uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride) {                             \
    const ptrdiff_t blocks = (weights->columns + LANES - 1) / LANES;                                       \
    /* The rows' starts walk the lines without a division per row. */                                      \
    ptrdiff_t line = row_begin / rows->rows_per_line, in_line = row_begin % rows->rows_per_line;           \
    const uint8_t *next = row_start(rows, row_begin);                                                      \
    for (ptrdiff_t m0 = row_begin; m0 < row_end; m0 += ROWS) {                                             \
        const uint8_t *starts[ROWS];                                                                       \
        for (int r = 0; r < ROWS; r++) {                                                                   \
            if (m0 + r >= row_end) { starts[r] = starts[r - 1]; continue; }                                \
            starts[r] = next;                                                                              \
            if (++in_line == rows->rows_per_line) { in_line = 0; line++; }                                 \
            next = rows->base + line * rows->line_stride + in_line * rows->row_stride;                     \
        }                                                                                                  \
        /* Short chunks as constants, so that their loops unroll. */                                       \
        for (ptrdiff_t block = 0; block < blocks; block++) {                                               \
            switch (CHUNK) {                                                                               \
            case 1: TILE(rows, starts, m0, row_end, weights, block, 1, out_u8, out_f32, out_stride); break; \
            case 2: TILE(rows, starts, m0, row_end, weights, block, 2, out_u8, out_f32, out_stride); break; \
            case 3: TILE(rows, starts, m0, row_end, weights, block, 3, out_u8, out_f32, out_stride); break; \
            case 4: TILE(rows, starts, m0, row_end, weights, block, 4, out_u8, out_f32, out_stride); break; \
            default: TILE(rows, starts, m0, row_end, weights, block, CHUNK, out_u8, out_f32, out_stride); break; \
            }                                                                                              \
        }                                                                                                  \
    }                                                                                                      \
}

PRODUCT256(avx2_product_in_chunks, AVX2_TARGET, avx2_tile, WIDE_TILE_ROWS, weights->chunk_quads)
PRODUCT256(avx2_product_by_quads, AVX2_TARGET, avx2_quad_tile, QUAD_TILE_ROWS, 1)
PRODUCT256(avx_vnni_product, AVX_VNNI_TARGET, avx_vnni_tile, WIDE_TILE_ROWS, rows->segment_quads)

static AVX2_TARGET void avx2_product(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end, const qk_weights *weights,
                                     uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride) {
    if (weights->chunk_quads == 1)
        avx2_product_by_quads(rows, row_begin, row_end, weights, out_u8, out_f32, out_stride);
    else
        avx2_product_in_chunks(rows, row_begin, row_end, weights, out_u8, out_f32, out_stride);
}

#endif

#if defined(__x86_64__)
int qk_vnni_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

int qk_avx_vnni_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avxvnni") && __builtin_cpu_supports("avx2");
}

int qk_avx2_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}
#else
int qk_vnni_available(void) { return 0; }
int qk_avx_vnni_available(void) { return 0; }
int qk_avx2_available(void) { return 0; }
#endif

static int path_available(qk_path path) {
    switch (path) {
    case QK_VNNI: return qk_vnni_available();
    case QK_AVX_VNNI: return qk_avx_vnni_available();
    case QK_AVX2: return qk_avx2_available();
    default: return 1;
    }
}

qk_path qk_automatic_path(void) {
    static int chosen = 0;
    int path = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (path == 0) {
        // MNISTD_QUANTIZED_KERNEL names a slower path, to measure or check it on this CPU.
        const char *forced = getenv("MNISTD_QUANTIZED_KERNEL");
        const qk_path fastest_first[] = {QK_VNNI, QK_AVX_VNNI, QK_AVX2, QK_PORTABLE};
        const char *names[] = {"vnni", "avx_vnni", "avx2", "portable"};
        size_t first = 0;
        for (size_t i = 0; forced && i < sizeof names / sizeof names[0]; i++)
            if (strcmp(forced, names[i]) == 0) first = i;
        path = QK_PORTABLE;
        for (size_t i = first; i < sizeof fastest_first / sizeof fastest_first[0]; i++) {
            if (path_available(fastest_first[i])) { path = fastest_first[i]; break; }
        }
        __atomic_store_n(&chosen, path, __ATOMIC_RELAXED);
    }
    return (qk_path)path;
}

static void product(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end, const qk_weights *weights,
                    uint8_t *out_u8, float *out_f32, ptrdiff_t out_stride, qk_path path) {
    if (row_begin >= row_end || weights->columns <= 0) return;
    if (path == QK_AUTOMATIC) path = qk_automatic_path();
    if (!path_available(path)) path = QK_PORTABLE;
    switch (path) {
#if defined(__x86_64__)
    case QK_VNNI: vnni_product(rows, row_begin, row_end, weights, out_u8, out_f32, out_stride); break;
    case QK_AVX_VNNI: avx_vnni_product(rows, row_begin, row_end, weights, out_u8, out_f32, out_stride); break;
    case QK_AVX2: avx2_product(rows, row_begin, row_end, weights, out_u8, out_f32, out_stride); break;
#endif
    default: portable_product(rows, row_begin, row_end, weights, out_u8, out_f32, out_stride); break;
    }
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

#define SUM256()                                                                                           \
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)),  \
                                   _mm256_add_epi32(_mm256_add_epi32(a4, a5), _mm256_add_epi32(a6, a7)));  \
    sum = _mm256_add_epi32(sum, _mm256_add_epi32(_mm256_add_epi32(a8, a9), _mm256_add_epi32(a10, a11)));  \
    __asm__ volatile("" : : "x"(sum));

// vpdpbusd on 256 bits: 8 lanes × 4 byte products.
static AVX_VNNI_TARGET int64_t avx_vnni_peak(int64_t iterations) {
    __m256i a0 = _mm256_set1_epi32(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m256i a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    __m256i x = _mm256_set1_epi8(3), w = _mm256_set1_epi8(-2);
    for (int64_t i = 0; i < iterations; i++) {
        __asm__ volatile("" : "+x"(x), "+x"(w));
#define AVX_VNNI_PEAK_STEP(A) A = _mm256_dpbusd_avx_epi32(A, x, w);
        PEAK_ROUND(AVX_VNNI_PEAK_STEP)
    }
    SUM256()
    return iterations * 12 * 32;
}

// The AVX2 path on a chunk of four quads: four vpmaddubsw (16 lanes × a pair of byte products)
// summed with vpaddw, widened by one vpmaddwd with ones and added with vpaddd.
static AVX2_TARGET int64_t avx2_peak(int64_t iterations) {
    __m256i a0 = _mm256_set1_epi32(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m256i a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    __m256i x = _mm256_set1_epi8(3), w = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < iterations; i++) {
        __asm__ volatile("" : "+x"(x), "+x"(w), "+x"(ones));
// Each chunk reads its own accumulator: twelve chunks, not one added twelve times.
#define AVX2_PEAK_STEP(A)                                                                                  \
        {                                                                                                  \
            __m256i chunk = _mm256_maddubs_epi16(A, w);                                                    \
            chunk = _mm256_add_epi16(chunk, _mm256_maddubs_epi16(x, A));                                   \
            chunk = _mm256_add_epi16(chunk, _mm256_maddubs_epi16(A, x));                                   \
            chunk = _mm256_add_epi16(chunk, _mm256_maddubs_epi16(x, w));                                   \
            A = _mm256_add_epi32(A, _mm256_madd_epi16(chunk, ones));                                       \
        }
        PEAK_ROUND(AVX2_PEAK_STEP)
    }
    SUM256()
    return iterations * 12 * 4 * 32;
}
#endif

int64_t qk_peak_multiply_adds(qk_path path, int64_t iterations) {
    if (path == QK_AUTOMATIC) path = qk_automatic_path();
    if (!path_available(path)) return 0;
    switch (path) {
#if defined(__x86_64__)
    case QK_VNNI: return vnni_peak(iterations);
    case QK_AVX_VNNI: return avx_vnni_peak(iterations);
    case QK_AVX2: return avx2_peak(iterations);
#endif
    default: return 0;
    }
}
