// Dispatch of the statistics kernels (kernels.h) between a baseline x86-64 copy and an AVX2+FMA
// copy, chosen once at run time. On other architectures only the baseline copy is built.
#include "CStatistics.h"

// The baseline copy passes 32-byte vectors between its own inlined helpers only.
#pragma clang diagnostic ignored "-Wpsabi"

#include <atomic>
#include <cmath>
#include <cstdlib>

namespace {
constexpr int W = 8;       // Float lanes per vector (one AVX register, two SSE registers)
constexpr int TERMS = 64;  // values per Float accumulator lane before promotion to Double
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v8fu __attribute__((vector_size(32), aligned(4)));
}  // namespace

#define IDG_NS idg_base
#include "kernels.h"
#undef IDG_NS

#if defined(__x86_64__)
#define IDG_HAVE_AVX2 1
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define IDG_NS idg_avx2
#include "kernels.h"
#undef IDG_NS
#pragma clang attribute pop
#endif

namespace {
int detectISA() {
#if IDG_HAVE_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
#endif
    return 0;
}
const int bestISA = detectISA();
std::atomic<int> currentISA{bestISA};
}  // namespace

extern "C" {

idg_partial idg_partial_empty(void) {
    idg_partial p{};
    p.minimum = INFINITY;
    p.maximum = -INFINITY;
    return p;
}

int idg_isa(void) { return currentISA.load(std::memory_order_relaxed); }

int idg_set_isa(int isa) {
    currentISA.store(isa == 0 ? 0 : bestISA, std::memory_order_relaxed);
    return idg_isa();
}

int idg_flat(const float *x, ptrdiff_t lo, ptrdiff_t hi, double shift, idg_partial *p, const idg_bins *bins,
             int64_t *hist) {
#if IDG_HAVE_AVX2
    if (idg_isa() == 2)
        return bins ? idg_avx2::flat<true>(x, lo, hi, shift, p, bins, hist) : idg_avx2::flat<false>(x, lo, hi, shift, p);
#endif
    return bins ? idg_base::flat<true>(x, lo, hi, shift, p, bins, hist) : idg_base::flat<false>(x, lo, hi, shift, p);
}

// The variants of the batch kernel (ReLU or not; histogram of x or none; with the ReLU, y's
// histogram counted or left to the caller, relu_bins null) in one kernel copy.
#define IDG_COLUMNS(NS)                                                                                              \
    (relu ? (bins ? (relu_bins ? NS::columns<true, false, true>(base, samples, per_sample, lo, hi, shift, scratch, p, \
                                                                relu, relu_shift, relu_out, 0, 0, bins, hist,        \
                                                                relu_bins, relu_hist)                                \
                               : NS::columns<true, false, true, false>(base, samples, per_sample, lo, hi, shift,     \
                                                                       scratch, p, relu, relu_shift, relu_out, 0, 0, \
                                                                       bins, hist))                                  \
                  : NS::columns<true>(base, samples, per_sample, lo, hi, shift, scratch, p, relu, relu_shift,        \
                                      relu_out))                                                                     \
          : (bins ? NS::columns<false, false, true>(base, samples, per_sample, lo, hi, shift, scratch, p, relu,      \
                                                    relu_shift, relu_out, 0, 0, bins, hist)                          \
                  : NS::columns<false>(base, samples, per_sample, lo, hi, shift, scratch, p, relu, relu_shift,       \
                                       relu_out)))
int idg_columns(const float *base, ptrdiff_t samples, ptrdiff_t per_sample, ptrdiff_t lo, ptrdiff_t hi, double shift,
                const idg_column_scratch *scratch, idg_partial *p, idg_partial *relu, double relu_shift,
                float *relu_out, const idg_bins *bins, int64_t *hist, const idg_bins *relu_bins, int64_t *relu_hist) {
#if IDG_HAVE_AVX2
    if (idg_isa() == 2) return IDG_COLUMNS(idg_avx2);
#endif
    return IDG_COLUMNS(idg_base);
}

int idg_columns_band(const float *base, ptrdiff_t samples, ptrdiff_t per_sample, ptrdiff_t lo, ptrdiff_t hi,
                     double shift, const idg_column_scratch *scratch, idg_partial *p, float center,
                     float half_width, const idg_bins *bins, int64_t *hist) {
#if IDG_HAVE_AVX2
    if (idg_isa() == 2)
        return bins ? idg_avx2::columns<false, true, true>(base, samples, per_sample, lo, hi, shift, scratch, p,
                                                           nullptr, 0, nullptr, center, half_width, bins, hist)
                    : idg_avx2::columns<false, true>(base, samples, per_sample, lo, hi, shift, scratch, p, nullptr, 0,
                                                     nullptr, center, half_width);
#endif
    return bins ? idg_base::columns<false, true, true>(base, samples, per_sample, lo, hi, shift, scratch, p, nullptr, 0,
                                                       nullptr, center, half_width, bins, hist)
                : idg_base::columns<false, true>(base, samples, per_sample, lo, hi, shift, scratch, p, nullptr, 0,
                                                 nullptr, center, half_width);
}

ptrdiff_t idg_relu_backward(const float *dy, const float *y, float *dx, ptrdiff_t lo, ptrdiff_t hi, double shift_dy,
                          double shift_dx, idg_partial *pdy, idg_partial *pdx, const idg_bins *bins_dy,
                          int64_t *hist_dy, const idg_bins *bins_dx, int64_t *hist_dx) {
#define IDG_RELU_BACKWARD(NS)                                                                                        \
    (!bins_dy ? NS::reluBackward<false>(dy, y, dx, lo, hi, shift_dy, shift_dx, pdy, pdx)                             \
     : bins_dx ? NS::reluBackward<true>(dy, y, dx, lo, hi, shift_dy, shift_dx, pdy, pdx, bins_dy, hist_dy, bins_dx,  \
                                        hist_dx)                                                                     \
               : NS::reluBackward<true, true>(dy, y, dx, lo, hi, shift_dy, shift_dx, pdy, pdx, bins_dy, hist_dy,     \
                                              nullptr, hist_dx))
#if IDG_HAVE_AVX2
    if (idg_isa() == 2) return IDG_RELU_BACKWARD(idg_avx2);
#endif
    return IDG_RELU_BACKWARD(idg_base);
#undef IDG_RELU_BACKWARD
}
void idg_relu_forward(const float *x, float *y, ptrdiff_t lo, ptrdiff_t hi, float slope) {
#if IDG_HAVE_AVX2
    if (idg_isa() == 2) return idg_avx2::reluForward(x, y, lo, hi, slope);
#endif
    idg_base::reluForward(x, y, lo, hi, slope);
}

void idg_relu_backward_plain(const float *dy, const float *x, float *dx, ptrdiff_t lo, ptrdiff_t hi, float slope) {
#if IDG_HAVE_AVX2
    if (idg_isa() == 2) return idg_avx2::reluBackwardPlain(dy, x, dx, lo, hi, slope);
#endif
    idg_base::reluBackwardPlain(dy, x, dx, lo, hi, slope);
}

}  // extern "C"
