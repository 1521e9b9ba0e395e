#ifndef MNISTD_QUANTIZED_KERNELS_H
#define MNISTD_QUANTIZED_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// The rows of a product's left operand: 8-bit unsigned activations, read in place. Row m
/// (an output pixel, or an image for a dense layer) starts at
///     base + (m / rows_per_line) * line_stride + (m % rows_per_line) * row_stride
/// and is `segment_count` runs of `4 * segment_quads` bytes, `segment_stride` bytes apart (a
/// convolution's kernel rows; a dense layer has one run). Bytes read past a run's real length
/// meet zero weights, but must be readable.
typedef struct {
    const uint8_t *base;
    ptrdiff_t rows_per_line;
    ptrdiff_t line_stride;
    ptrdiff_t row_stride;
    ptrdiff_t segment_count;
    ptrdiff_t segment_stride;
    ptrdiff_t segment_quads;
} qk_rows;

/// Which code computes a product. Integer sums are exact and the rescaling rounds the same
/// way everywhere, so every path gives the same bits.
typedef enum {
    QK_AUTOMATIC = 0,
    QK_PORTABLE = 1,
    QK_VNNI = 2,
    QK_AVX2 = 3,
    QK_AVX_VNNI = 4,
} qk_path;

/// Signed 8-bit weights W (K × columns), packed as [column block of 16][K / 4][16 columns][4 bytes]
/// (K = segment_count · 4 · segment_quads, zero beyond the real weights), and per column the
/// scale and offset of the result (a multiple of 16 values each).
///
/// The AVX2 path multiplies with vpmaddubsw, which sums two byte products into a saturating
/// 16-bit lane, and adds the 16-bit sums of up to `chunk_quads` consecutive quads of a kernel row
/// before widening them to 32 bits. The caller guarantees that no 16-bit sum can leave
/// −32768…32767 for any input bytes the rows may hold (`qk_chunk_quads` finds the longest such
/// chunk), so that the path stays exact; `chunk_quads` ≥ 1.
typedef struct {
    const int8_t *packed;
    ptrdiff_t columns;
    ptrdiff_t chunk_quads;
    const float *scale;
    const float *offset;
    /// The largest byte `qk_product_u8` writes: results are clamped to 0…ceiling.
    float ceiling;
} qk_weights;

/// Whether this CPU has AVX-512 VNNI (the 8-bit dot-product instructions), AVX-VNNI (the same
/// on 256-bit registers, VEX-encoded), AVX2.
int qk_vnni_available(void);
int qk_avx_vnni_available(void);
int qk_avx2_available(void);

/// The path QK_AUTOMATIC takes on this CPU: AVX-512 VNNI, else AVX-VNNI, else AVX2, else
/// portable (MNISTD_QUANTIZED_KERNEL=avx_vnni, =avx2 or =portable in the environment picks a
/// slower one).
qk_path qk_automatic_path(void);

/// The longest run of quads (at most `segment_quads`, the chunks starting at each segment's
/// first quad) over which the AVX2 path's 16-bit sums stay exact for the packed weights, when
/// every input byte is at most `input_ceiling`: for every column, chunk and 16-bit lane (bytes
/// 0–1 or 2–3 of each quad), input_ceiling × (sum of the lane's positive weights) and
/// input_ceiling × (sum of its negative weights' magnitudes) are at most 32767. 0 when even a
/// single quad can saturate.
ptrdiff_t qk_chunk_quads(const int8_t *packed, ptrdiff_t columns, ptrdiff_t segment_count, ptrdiff_t segment_quads,
                         int input_ceiling);

/// Rows row_begin..<row_end of A·W. Each sum s (exact, 32-bit) of column n becomes
///     clamp(round_to_nearest_even(s · scale[n] + offset[n]), 0, ceiling)
/// (a ReLU and requantisation in one), stored at out + m · out_stride + n.
void qk_product_u8(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end, const qk_weights *weights,
                   uint8_t *out, ptrdiff_t out_stride, qk_path path);

/// The same product stored as floats s · scale[n] + offset[n] (the last layer's logits).
void qk_product_f32(const qk_rows *rows, ptrdiff_t row_begin, ptrdiff_t row_end, const qk_weights *weights,
                    float *out, ptrdiff_t out_stride, qk_path path);

/// The most multiply-adds `path` can do: `iterations` rounds of its product instructions on
/// registers only (no loads, no stores), twelve independent accumulators deep; for AVX2, four
/// 16-bit products summed before each widening, as the kernels do on a chunk of four quads. Returns the
/// multiply-adds done, 0 for a path this CPU lacks or the portable one (it has no such limit
/// of its own). For benchmarks: the kernels' share of it is how close they come to the CPU.
int64_t qk_peak_multiply_adds(qk_path path, int64_t iterations);

#endif
