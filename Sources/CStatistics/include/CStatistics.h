// One-pass blob statistics kernels of the probes (Sources/InitDiag/Probes/BlobStatistics.swift
// drives them: chunking, threads, scalar fallbacks for non-finite values, the final statistics).
//
// Written with clang's vector extensions and compiled twice, once for the x86-64 baseline and
// once for AVX2+FMA; the AVX2 copy is chosen at run time when the CPU has it (`idg_isa`). Results
// of the two copies agree to rounding (the tests compare them), and one machine always uses one.
#ifndef INITDIAG_CSTATISTICS_H
#define INITDIAG_CSTATISTICS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Partial sums of one chunk; combined by the caller in chunk order. `shifted_*` are sums of
/// (x − K) for the blob's shift K, `squares` = Σx², `variance_sum` = Σ_j Var_n(x[·, j]).
typedef struct {
    ptrdiff_t finite;
    ptrdiff_t zeros;
    ptrdiff_t nonfinite;
    double shifted_sum;
    double shifted_squares;
    double abs_sum;
    double squares;
    double minimum;
    double maximum;
    double variance_sum;
    /// Values with |x − center| > half_width (idg_columns_band only; 0 otherwise).
    ptrdiff_t saturated;
} idg_partial;

/// Per-column scratch of `idg_columns`, indexed by the column j of the samples × per_sample
/// matrix (chunks own disjoint column ranges). The `relu_*` arrays are only touched when the
/// kernel also takes the statistics of max(x, 0).
typedef struct {
    float *sum;
    float *squares;
    float *maximum;
    double *column_sum;
    double *column_squares;
    uint8_t *alive;
    float *relu_sum;
    float *relu_squares;
    double *relu_column_sum;
    double *relu_column_squares;
} idg_column_scratch;

/// Bins of a histogram (docs/trace-format.md `histogram`): IDG_HISTOGRAM_BINS equal bins over
/// [lo, hi] with `scale` = IDG_HISTOGRAM_BINS / (hi − lo) a power of two and `offset` = −lo·scale
/// a whole number, so that t = x·scale is exact in Float and x lies in bin k when
/// k ≤ t + offset < k + 1 (the last bin also holds x = hi). Counts go to IDG_HISTOGRAM_SLOTS
/// Int64 slots: 0 = x < lo, 1 … 64 = the bins, 65 = x > hi; non-finite values are not counted.
#define IDG_HISTOGRAM_BINS 64
#define IDG_HISTOGRAM_SLOTS 66
typedef struct {
    float scale;
    float offset;
} idg_bins;

/// An empty partial (min +inf, max −inf).
idg_partial idg_partial_empty(void);

/// Statistics of x[lo..<hi] added to *p. Returns 0 (and leaves *p unusable) when a value is not
/// finite or a Float partial overflowed: the caller redoes the range exactly in Double.
/// With `bins` non-null, the histogram of the range is added to hist[0 ..< IDG_HISTOGRAM_SLOTS]
/// in the same pass (only when the call returns 1).
int idg_flat(const float *x, ptrdiff_t lo, ptrdiff_t hi, double shift, idg_partial *p, const idg_bins *bins,
             int64_t *hist);

/// Statistics of the columns lo..<hi of the samples × per_sample matrix at `base`, with the
/// per-column batch variance (into p->variance_sum) and alive flags (column max > 0). With
/// `relu` non-null, the same for y = max(x, 0) into *relu (its shift `relu_shift`; its min, max,
/// zero count derived from x's; its alive flags equal x's). With `relu_out` non-null (and only
/// after the statistics succeeded) y is written there, rows × columns lo..<hi, as Caffe's ReLU
/// with slope 0 gives it (relu_out may equal base). Returns 0 when a value is not finite; then
/// nothing has been written. With `bins` non-null the histogram of x is added to `hist` (and with
/// `relu` and `relu_bins` non-null, that of max(x, 0) over `relu_bins` to `relu_hist`; with
/// `relu_bins` null the caller derives it from x's), only on success.
int idg_columns(const float *base, ptrdiff_t samples, ptrdiff_t per_sample, ptrdiff_t lo, ptrdiff_t hi, double shift,
                const idg_column_scratch *scratch, idg_partial *p, idg_partial *relu, double relu_shift,
                float *relu_out, const idg_bins *bins, int64_t *hist, const idg_bins *relu_bins, int64_t *relu_hist);

/// idg_columns without the ReLU, that also counts into p->saturated the finite values with
/// |x − center| > half_width (Float arithmetic) in the same pass: the saturated units of a sigmoid
/// or tanh top (BlobStatistics.computeForward(_:shape:band:)). Returns 0 when a value is not finite.
int idg_columns_band(const float *base, ptrdiff_t samples, ptrdiff_t per_sample, ptrdiff_t lo, ptrdiff_t hi,
                     double shift, const idg_column_scratch *scratch, idg_partial *p, float center,
                     float half_width, const idg_bins *bins, int64_t *hist);

/// Caffe's ReLU backward with slope 0, dx = dy·[y > 0], over lo..<hi, taking the statistics of
/// dy into *pdy and of dx into *pdx in the same pass (dx may equal dy). Works in blocks; returns
/// the index where it stopped: hi, or the start of the first block holding a value that is not
/// finite — everything before it is written and counted, the rest is the caller's. With `bins_dy`
/// non-null and `bins_dx` non-null, the histograms of dy and dx up to the returned index are added
/// to `hist_dy` and `hist_dx`. With `bins_dx` null (dx sharing dy's bins), one increment per value
/// instead of two: `hist_dy` gets the histogram of dy where y > 0 and `hist_dx` that of dy where
/// y ≤ 0, both over `bins_dy` (BlobStatistics derives dy's and dx's from the two).
ptrdiff_t idg_relu_backward(const float *dy, const float *y, float *dx, ptrdiff_t lo, ptrdiff_t hi,
                          double shift_dy, double shift_dx, idg_partial *pdy, idg_partial *pdx,
                          const idg_bins *bins_dy, int64_t *hist_dy, const idg_bins *bins_dx, int64_t *hist_dx);

/// Caffe's ReLU forward, y = max(x, 0) + slope·min(x, 0) over lo..<hi, exactly as the scalar
/// formula gives it (NaN propagates; −∞ with slope 0 gives NaN; y may equal x). The plain pass of
/// ReLULayer, vectorised like the statistics.
void idg_relu_forward(const float *x, float *y, ptrdiff_t lo, ptrdiff_t hi, float slope);

/// Caffe's ReLU backward, dx = dy·([x > 0] + slope·[x ≤ 0]) over lo..<hi (dx may equal dy).
void idg_relu_backward_plain(const float *dy, const float *x, float *dx, ptrdiff_t lo, ptrdiff_t hi, float slope);

/// The kernel copy in use: 2 = AVX2+FMA, 0 = baseline.
int idg_isa(void);
/// Forces the baseline copy (isa 0) or the best the CPU has (any other value); for tests and
/// benchmarks. Returns the copy now in use.
int idg_set_isa(int isa);

#ifdef __cplusplus
}
#endif

#endif
