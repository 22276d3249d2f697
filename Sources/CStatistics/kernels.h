// The statistics kernels, included twice by statistics.cpp: once per instruction set, inside the
// namespace IDG_NS. Vector types and constants come from statistics.cpp.
//
// Accuracy (the same scheme as documented on BlobStatistics): every Float accumulator adds at
// most TERMS values before it is promoted to Double, and adds values shifted close to their own
// mean (a block's mean in the flat pass, the column's first sample in the batch pass), so
// nothing cancels; the Double stages move the sums to the blob's shift K exactly in algebra.

namespace IDG_NS {

static inline __attribute__((always_inline)) v8f load(const float *p) { return *(const v8fu *)p; }
static inline __attribute__((always_inline)) void store(float *p, v8f v) { *(v8fu *)p = v; }
static inline __attribute__((always_inline)) v8f splat(float x) { return v8f{} + x; }
static inline __attribute__((always_inline)) v8f vabs(v8f x) { return (v8f)((v8i)x & 0x7fffffff); }
// Compare-and-select (minps/maxps); NaN never reaches the fast paths.
static inline __attribute__((always_inline)) v8f vmin(v8f a, v8f b) { return a < b ? a : b; }
static inline __attribute__((always_inline)) v8f vmax(v8f a, v8f b) { return a > b ? a : b; }
// Caffe's ReLU with slope 0 for finite x: x < 0 → +0, otherwise x (−0 stays −0).
static inline __attribute__((always_inline)) v8f vrelu(v8f x) { return x < 0.0f ? v8f{} : x; }
// Below this magnitude a Float square loses precision (x² < 2^-120 is near FLT_MIN and then
// denormal or 0): a range whose values are all this small goes to the exact Double path.
constexpr float tiny = 0x1p-60f;

// max(x, 0) for the statistics only: one maxps; −0 becomes +0, which no statistic tells apart.
static inline __attribute__((always_inline)) v8f vpos(v8f x) { return x > 0.0f ? x : v8f{}; }
static inline __attribute__((always_inline)) double hsum(v8f v) {
    double s = 0;
    for (int l = 0; l < W; l++) s += (double)v[l];
    return s;
}
static inline __attribute__((always_inline)) int64_t isum(v8i v) {
    int64_t s = 0;
    for (int l = 0; l < W; l++) s += v[l];
    return s;
}
static inline __attribute__((always_inline)) float relu1(float x) { return x < 0.0f ? 0.0f : x; }

/// Histogram of one kernel call (idg_bins): W lane-private Int32 count arrays, so the lanes of a
/// vector never increment the same counter; added into the caller's Int64 slots at the end of a
/// successful call only (a call that returns 0 leaves them untouched). With `Regions` = 2 each
/// lane has two arrays and the caller picks one per value (`addIn`): the ReLU backward counts dy
/// where y > 0 and where y ≤ 0 apart, one increment per value for both histograms.
template <int Regions>
struct LaneHistogramT {
    static constexpr int region = 72;  // IDG_HISTOGRAM_SLOTS rounded up to whole cache lines' worth of lanes
    static constexpr int stride = region * Regions;
    int32_t c[W * stride];
    v8f scale, lowClamp, highClamp, top;
    v8i first;
    float sScale, sLowClamp, sHighClamp, sTop;
    int32_t sFirst;
    inline __attribute__((always_inline)) void start(const idg_bins *b) {
        for (int i = 0; i < W * stride; i++) c[i] = 0;
        // t = x·scale is exact (scale a power of two); bin k of t + offset is [k, k + 1); t is
        // clamped to [−offset − 0.5, 64.5 − offset] first so that every float converts.
        sScale = b->scale;
        sLowClamp = -b->offset - 0.5f;
        sHighClamp = (float)IDG_HISTOGRAM_BINS + 0.5f - b->offset;
        sTop = (float)IDG_HISTOGRAM_BINS - b->offset;
        sFirst = (int32_t)b->offset + 1;
        scale = splat(sScale); lowClamp = splat(sLowClamp); highClamp = splat(sHighClamp); top = splat(sTop);
        first = v8i{} + sFirst;
    }
    /// The slot of each lane's value (0 underflow, 1…64 the bins, 65 overflow), finite x only.
    inline __attribute__((always_inline)) v8i slots(v8f x) const {
        // (Written so that a NaN, which the callers never pass, would still land in slot 0.)
        v8f t = x * scale;
        t = t >= lowClamp ? t : lowClamp;
        t = t <= highClamp ? t : highClamp;
        v8i i = __builtin_convertvector(t, v8i);  // toward zero
        const v8f fi = __builtin_convertvector(i, v8f);
        i += (v8i)(t < fi);                         // floor for negative t
        i += (v8i)(x < 0.0f) & (v8i)(t == 0.0f);    // a negative x whose product underflowed to −0
        i += (v8i)(t == top);                       // the last bin is closed: x = hi is in it
        return i + first;
    }
    inline __attribute__((always_inline)) void add(v8f x) {
        const v8i s = slots(x);
        for (int l = 0; l < W; l++) c[l * stride + s[l]]++;
    }
    /// x into region 0 or 1 per lane: `offset` holds 0 or `region` in each lane.
    inline __attribute__((always_inline)) void addIn(v8f x, v8i offset) {
        const v8i s = slots(x) + offset;
        for (int l = 0; l < W; l++) c[l * stride + s[l]]++;
    }
    inline __attribute__((always_inline)) int slot(float x) const {
        float t = x * sScale;
        t = t >= sLowClamp ? t : sLowClamp;
        t = t <= sHighClamp ? t : sHighClamp;
        int32_t i = (int32_t)t;
        if (t < (float)i) i--;
        if (x < 0.0f && t == 0.0f) i--;
        if (t == sTop) i--;
        return i + sFirst;
    }
    inline __attribute__((always_inline)) void add1(float x) { c[slot(x)]++; }
    inline __attribute__((always_inline)) void add1In(float x, int offset) { c[slot(x) + offset]++; }
    /// Adds region r's counts into out[0 ..< IDG_HISTOGRAM_SLOTS].
    inline __attribute__((always_inline)) void finish(int64_t *out, int r = 0) const {
        for (int k = 0; k < IDG_HISTOGRAM_SLOTS; k++) {
            int64_t n = 0;
            for (int l = 0; l < W; l++) n += c[l * stride + r * region + k];
            out[k] += n;
        }
    }
};
typedef LaneHistogramT<1> LaneHistogram;

/// Adds one block's sums (Σd, Σd², Σ|x| with d = x − m, its zero count) to *p, moved to the blob's
/// shift K exactly in algebra: Σ(x − K) = Σd + n·e, Σ(x − K)² = Σd² + 2e·Σd + n·e², Σx² =
/// Σd² + 2m·Σd + n·m², e = m − K.
static inline __attribute__((always_inline)) void addBlock(idg_partial *p, double d1, double d2, double a,
                                                           int64_t zeros, int64_t n, double m, double shift) {
    const double count = (double)n, e = m - shift;
    p->shifted_sum += d1 + count * e;
    p->shifted_squares += d2 + 2 * e * d1 + count * e * e;
    p->squares += d2 + 2 * m * d1 + count * m * m;
    p->abs_sum += a;
    p->finite += n;
    p->zeros += zeros;
}

/// Folds vector and scalar extremes into *p.
static inline __attribute__((always_inline)) void addExtremes(idg_partial *p, v8f mn, v8f mx, float mnTail, float mxTail) {
    for (int l = 0; l < W; l++) {
        if ((double)mn[l] < p->minimum) p->minimum = mn[l];
        if ((double)mx[l] > p->maximum) p->maximum = mx[l];
    }
    if ((double)mnTail < p->minimum) p->minimum = mnTail;
    if ((double)mxTail > p->maximum) p->maximum = mxTail;
}

/// Flat statistics of x[lo..<hi] (see idg_flat); with `Hist`, its histogram in the same pass.
template <bool Hist = false>
static int flat(const float *x, int64_t lo, int64_t hi, double shift, idg_partial *p,
                const idg_bins *bins = nullptr, int64_t *hist = nullptr) {
    const int64_t block = W * TERMS;
    LaneHistogram h;
    if (Hist) h.start(bins);
    v8f mn = splat(INFINITY), mx = splat(-INFINITY);
    float mnTail = INFINITY, mxTail = -INFINITY;
    for (int64_t i = lo; i < hi;) {
        const int64_t end = i + block < hi ? i + block : hi;
        const int64_t vend = i + (end - i) / W * W;
        // The block's shift: its first value plus the Float mean of the differences from it
        // (a constant block gets exactly its value, and a spread of exactly 0).
        const float first = x[i];
        const v8f vf = splat(first);
        v8f tot{};
        int64_t k = i;
        for (; k < vend; k += W) tot += load(x + k) - vf;
        double blockSum = hsum(tot);
        for (; k < end; k++) blockSum += (double)x[k] - (double)first;
        const double count = (double)(end - i);
        const float m = first + (float)(blockSum / count);
        if (!std::isfinite(m) || !std::isfinite(blockSum)) return 0;
        const v8f vm = splat(m);
        v8f s1{}, s2{}, ab{};
        v8i z{};
        for (k = i; k < vend; k += W) {
            const v8f v = load(x + k), d = v - vm;
            s1 += d;
            s2 += d * d;
            ab += vabs(v);
            mn = vmin(v, mn);
            mx = vmax(v, mx);
            z -= (v8i)(v == 0.0f);
            if (Hist) h.add(v);
        }
        double d1 = hsum(s1), d2 = hsum(s2), a = hsum(ab);
        int64_t zeros = isum(z);
        const double md = m;
        for (; k < end; k++) {
            const float v = x[k];
            const double d = (double)v - md;
            d1 += d; d2 += d * d; a += std::fabs((double)v);
            if (v < mnTail) mnTail = v;
            if (v > mxTail) mxTail = v;
            if (v == 0.0f) zeros++;
            if (Hist) h.add1(v);
        }
        if (!std::isfinite(d2) || !std::isfinite(a)) return 0;
        addBlock(p, d1, d2, a, zeros, end - i, md, shift);
        i = end;
    }
    addExtremes(p, mn, mx, mnTail, mxTail);
    const double largest = p->maximum > -p->minimum ? p->maximum : -p->minimum;
    if (largest > 0 && largest < tiny) return 0;  // squares would underflow (see `tiny`)
    if (Hist) h.finish(hist);
    return 1;
}

/// One row's columns past the last full vector, scalar, into the same accumulators.
template <bool Relu, bool Band = false, bool Hist = false, bool HistY = Hist>
static inline __attribute__((always_inline)) void columnTail(const float *row, const float *base, int64_t from, int64_t to,
                              const idg_column_scratch *s, double &absTotal, float &mnTail,
                              int64_t &zeros, int64_t &nonPositive, bool &bad,
                              int64_t *saturated = nullptr, float bandCenter = 0, float bandHalf = 0,
                              LaneHistogram *hx = nullptr, LaneHistogram *hy = nullptr) {
    for (int64_t j = from; j < to; j++) {
        const float x = row[j];
        if (!std::isfinite(x)) bad = true;
        const float d = x - base[j];
        s->sum[j] += d;
        s->squares[j] += d * d;
        if (x > s->maximum[j]) s->maximum[j] = x;
        if (!Relu) absTotal += std::fabs((double)x);
        if (x < mnTail) mnTail = x;
        if (x == 0.0f) zeros++;
        if (Band && std::fabs(x - bandCenter) > bandHalf) (*saturated)++;
        if (Hist) {
            hx->add1(x);
            if (Relu && HistY) hy->add1(relu1(x));
        }
        if (Relu) {
            const float dy = relu1(x) - relu1(base[j]);
            s->relu_sum[j] += dy;
            s->relu_squares[j] += dy * dy;
            if (x <= 0.0f) nonPositive++;
        }
    }
}

/// Batch-pass statistics of columns lo..<hi (see idg_columns). Rows are streamed in order, four at
/// a time; the per-column Float sums of d = x − K_j (K_j = x[0, j]) and d² and the column maxima
/// live in cache-resident scratch and are promoted to Double every TERMS rows. With `Band`, the
/// values with |x − bandCenter| > bandHalf are counted into p->saturated in the same pass
/// (idg_columns_band: the saturated units of a sigmoid or tanh top). With `Hist`, the histogram
/// of x (and with `Relu` and `HistY` of max(x, 0); without `HistY` the caller derives y's from
/// x's, docs/trace-format.md "Histograms") in the same pass.
template <bool Relu, bool Band = false, bool Hist = false, bool HistY = Hist>
static int columns(const float *base, int64_t samples, int64_t per, int64_t lo, int64_t hi, double shift,
                   const idg_column_scratch *s, idg_partial *p, idg_partial *rp, double rshift, float *rout,
                   float bandCenter = 0, float bandHalf = 0, const idg_bins *bins = nullptr, int64_t *hist = nullptr,
                   const idg_bins *rbins = nullptr, int64_t *rhist = nullptr) {
    const int64_t vhi = lo + (hi - lo) / W * W;
    LaneHistogram hx, hy;
    if (Hist) {
        hx.start(bins);
        if (Relu && HistY) hy.start(rbins);
    }
    for (int64_t j = lo; j < hi; j++) {
        s->column_sum[j] = 0; s->column_squares[j] = 0; s->maximum[j] = -INFINITY;
        if (Relu) { s->relu_column_sum[j] = 0; s->relu_column_squares[j] = 0; }
    }
    v8f mn = splat(INFINITY);
    float mnTail = INFINITY;
    double absTotal = 0;
    int64_t zeroTotal = 0, nonPositiveTotal = 0, saturatedTotal = 0;
    const v8f vbc = splat(bandCenter), vbh = splat(bandHalf);
    bool bad = false;
    // Each Float lane of Σ|x| and of the counters gets at most 16 additions of 4-value sums.
    const int64_t quadBlock = W * TERMS / 4;
    for (int64_t r0 = 0; r0 < samples;) {
        const int64_t r1 = r0 + TERMS < samples ? r0 + TERMS : samples;
        for (int64_t j = lo; j < hi; j++) {
            s->sum[j] = 0; s->squares[j] = 0;
            if (Relu) { s->relu_sum[j] = 0; s->relu_squares[j] = 0; }
        }
        int64_t n = r0;
        for (; n + 4 <= r1; n += 4) {
            const float *row0 = base + n * per, *row1 = row0 + per, *row2 = row1 + per, *row3 = row2 + per;
            for (int64_t jb = lo; jb < vhi;) {
                const int64_t je = jb + quadBlock < vhi ? jb + quadBlock : vhi;
                v8f ab{};
                v8i z{}, le{}, sat{};
                for (int64_t j = jb; j < je; j += W) {
                    const v8f x0 = load(row0 + j), x1 = load(row1 + j), x2 = load(row2 + j), x3 = load(row3 + j);
                    if (Band)
                        sat -= ((v8i)(vabs(x0 - vbc) > vbh) + (v8i)(vabs(x1 - vbc) > vbh)) +
                               ((v8i)(vabs(x2 - vbc) > vbh) + (v8i)(vabs(x3 - vbc) > vbh));
                    const v8f k = load(base + j);
                    const v8f d0 = x0 - k, d1 = x1 - k, d2 = x2 - k, d3 = x3 - k;
                    store(s->sum + j, load(s->sum + j) + ((d0 + d1) + (d2 + d3)));
                    store(s->squares + j, load(s->squares + j) + ((d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)));
                    const v8f hi4 = vmax(vmax(x1, x0), vmax(x3, x2));
                    store(s->maximum + j, vmax(hi4, load(s->maximum + j)));
                    // (With the ReLU, Σ|x| = 2·Σmax(x, 0) − Σx comes from the sums instead.)
                    if (!Relu) ab += (vabs(x0) + vabs(x1)) + (vabs(x2) + vabs(x3));
                    mn = vmin(vmin(vmin(x1, x0), vmin(x3, x2)), mn);
                    z -= ((v8i)(x0 == 0.0f) + (v8i)(x1 == 0.0f)) + ((v8i)(x2 == 0.0f) + (v8i)(x3 == 0.0f));
                    if (Hist) {
                        hx.add(x0); hx.add(x1); hx.add(x2); hx.add(x3);
                        if (Relu && HistY) { hy.add(vpos(x0)); hy.add(vpos(x1)); hy.add(vpos(x2)); hy.add(vpos(x3)); }
                    }
                    if (Relu) {
                        const v8f ky = vpos(k);
                        const v8f e0 = vpos(x0) - ky, e1 = vpos(x1) - ky, e2 = vpos(x2) - ky, e3 = vpos(x3) - ky;
                        store(s->relu_sum + j, load(s->relu_sum + j) + ((e0 + e1) + (e2 + e3)));
                        store(s->relu_squares + j,
                              load(s->relu_squares + j) + ((e0 * e0 + e1 * e1) + (e2 * e2 + e3 * e3)));
                        le -= ((v8i)(x0 <= 0.0f) + (v8i)(x1 <= 0.0f)) + ((v8i)(x2 <= 0.0f) + (v8i)(x3 <= 0.0f));
                    }
                }
                absTotal += hsum(ab);
                zeroTotal += isum(z);
                nonPositiveTotal += isum(le);
                if (Band) saturatedTotal += isum(sat);
                jb = je;
            }
            for (int r = 0; r < 4; r++)
                columnTail<Relu, Band, Hist, HistY>(base + (n + r) * per, base, vhi, hi, s, absTotal, mnTail, zeroTotal,
                                             nonPositiveTotal, bad, &saturatedTotal, bandCenter, bandHalf, &hx, &hy);
        }
        for (; n < r1; n++) {
            const float *row = base + n * per;
            for (int64_t jb = lo; jb < vhi;) {
                const int64_t je = jb + W * TERMS < vhi ? jb + W * TERMS : vhi;
                v8f ab{};
                v8i z{}, le{}, sat{};
                for (int64_t j = jb; j < je; j += W) {
                    const v8f x = load(row + j), k = load(base + j);
                    if (Band) sat -= (v8i)(vabs(x - vbc) > vbh);
                    const v8f d = x - k;
                    store(s->sum + j, load(s->sum + j) + d);
                    store(s->squares + j, load(s->squares + j) + d * d);
                    store(s->maximum + j, vmax(x, load(s->maximum + j)));
                    if (!Relu) ab += vabs(x);
                    mn = vmin(x, mn);
                    z -= (v8i)(x == 0.0f);
                    if (Hist) {
                        hx.add(x);
                        if (Relu && HistY) hy.add(vpos(x));
                    }
                    if (Relu) {
                        const v8f e = vpos(x) - vpos(k);
                        store(s->relu_sum + j, load(s->relu_sum + j) + e);
                        store(s->relu_squares + j, load(s->relu_squares + j) + e * e);
                        le -= (v8i)(x <= 0.0f);
                    }
                }
                absTotal += hsum(ab);
                zeroTotal += isum(z);
                nonPositiveTotal += isum(le);
                if (Band) saturatedTotal += isum(sat);
                jb = je;
            }
            columnTail<Relu, Band, Hist, HistY>(row, base, vhi, hi, s, absTotal, mnTail, zeroTotal, nonPositiveTotal, bad,
                                         &saturatedTotal, bandCenter, bandHalf, &hx, &hy);
        }
        for (int64_t j = lo; j < hi; j++) {
            s->column_sum[j] += (double)s->sum[j];
            s->column_squares[j] += (double)s->squares[j];
            if (Relu) {
                s->relu_column_sum[j] += (double)s->relu_sum[j];
                s->relu_column_squares[j] += (double)s->relu_squares[j];
            }
        }
        r0 = r1;
    }
    // A value that is not finite makes its column's Σd² NaN or ∞ (checked below).
    if (bad || !std::isfinite(absTotal)) return 0;
    const double nd = (double)samples, inverseN = 1 / nd;
    double maximum = -INFINITY;
    double sumX = 0, sumY = 0;  // Σx and Σmax(x, 0), for Σ|x| with the ReLU
    for (int64_t j = lo; j < hi; j++) {
        const double c1 = s->column_sum[j], c2 = s->column_squares[j];
        if (!std::isfinite(c2)) return 0;
        const double k = base[j], e = k - shift;
        p->shifted_sum += c1 + nd * e;
        p->shifted_squares += c2 + 2 * e * c1 + nd * e * e;
        p->squares += c2 + 2 * k * c1 + nd * k * k;
        if (Relu) sumX += c1 + nd * k;
        const double v = (c2 - c1 * c1 * inverseN) * inverseN;
        p->variance_sum += v > 0 ? v : 0;
        const float columnMax = s->maximum[j];
        s->alive[j] = columnMax > 0.0f ? 1 : 0;
        if ((double)columnMax > maximum) maximum = columnMax;
        if (Relu) {
            const double y1 = s->relu_column_sum[j], y2 = s->relu_column_squares[j];
            if (!std::isfinite(y2)) return 0;
            const double ky = relu1(base[j]), ey = ky - rshift;
            rp->shifted_sum += y1 + nd * ey;
            rp->shifted_squares += y2 + 2 * ey * y1 + nd * ey * ey;
            rp->squares += y2 + 2 * ky * y1 + nd * ky * ky;
            // Σ|y| = Σy for y ≥ 0.
            rp->abs_sum += y1 + nd * ky;
            sumY += y1 + nd * ky;
            const double w = (y2 - y1 * y1 * inverseN) * inverseN;
            rp->variance_sum += w > 0 ? w : 0;
        }
    }
    double minimum = mnTail;
    for (int l = 0; l < W; l++)
        if ((double)mn[l] < minimum) minimum = mn[l];
    const double largest = maximum > -minimum ? maximum : -minimum;
    if (largest > 0 && largest < tiny) return 0;  // squares would underflow (see `tiny`)
    // The same for y = max(x, 0), whose largest value is max(maximum, 0).
    if (Relu && maximum > 0 && maximum < tiny) return 0;
    const int64_t count = samples * (hi - lo);
    if (maximum > p->maximum) p->maximum = maximum;
    if (minimum < p->minimum) p->minimum = minimum;
    // Σ|x| = Σx⁺ + Σx⁻ = 2·Σmax(x, 0) − Σx: no cancellation, the result is at least Σmax(x, 0).
    p->abs_sum += Relu ? 2 * sumY - sumX : absTotal;
    p->zeros += zeroTotal;
    p->finite += count;
    if (Band) p->saturated += saturatedTotal;
    if (Hist) {
        hx.finish(hist);
        if (Relu && HistY) hy.finish(rhist);
    }
    if (Relu) {
        // y = max(x, 0): its extremes follow from x's, its zeros are the x ≤ 0.
        const double ymax = maximum > 0 ? maximum : 0, ymin = minimum > 0 ? minimum : 0;
        if (ymax > rp->maximum) rp->maximum = ymax;
        if (ymin < rp->minimum) rp->minimum = ymin;
        rp->zeros += nonPositiveTotal;
        rp->finite += count;
        if (rout) {
            for (int64_t n = 0; n < samples; n++) {
                const float *row = base + n * per;
                float *out = rout + n * per;
                int64_t j = lo;
                for (; j < vhi; j += W) store(out + j, vrelu(load(row + j)));
                for (; j < hi; j++) out[j] = relu1(row[j]);
            }
        }
    }
    return 1;
}

/// ReLU backward with statistics of dy and dx (see idg_relu_backward). With `Split` (and `Hist`)
/// one histogram over binsA with two regions: dy where y > 0 into histA, dy where y ≤ 0 into
/// histB (the caller derives dy's and dx's histograms from them when dx shares dy's bins).
template <bool Hist = false, bool Split = false>
static int64_t reluBackward(const float *dy, const float *y, float *dx, int64_t lo, int64_t hi, double shiftA,
                            double shiftB, idg_partial *pa, idg_partial *pb, const idg_bins *binsA = nullptr,
                            int64_t *histA = nullptr, const idg_bins *binsB = nullptr, int64_t *histB = nullptr) {
    const int64_t block = W * TERMS;
    LaneHistogram ha, hb;
    LaneHistogramT<2> hs;
    if (Hist && !Split) { ha.start(binsA); hb.start(binsB); }
    if (Hist && Split) hs.start(binsA);
    const v8f one = splat(1.0f);
    v8f mnA = splat(INFINITY), mxA = splat(-INFINITY), mnB = splat(INFINITY), mxB = splat(-INFINITY);
    float mnTailA = INFINITY, mxTailA = -INFINITY, mnTailB = INFINITY, mxTailB = -INFINITY;
    int64_t i = lo;
    while (i < hi) {
        const int64_t end = i + block < hi ? i + block : hi;
        const int64_t vend = i + (end - i) / W * W;
        const float firstA = dy[i], firstB = dy[i] * (y[i] > 0.0f ? 1.0f : 0.0f);
        const v8f fa = splat(firstA), fb = splat(firstB);
        // The block is only written once it is known to be safe for Float sums: every value
        // finite and |dy| ≤ 1e18, so |d| ≤ 2e18 and 64 squares stay below FLT_MAX (2.6e38 <
        // 3.4e38), and not every |dy| below `tiny` (squares underflow). Otherwise the caller
        // takes over from this block, dy still intact.
        v8f ta{}, tb{}, big{}, bigB{};
        int64_t k = i;
        for (; k < vend; k += W) {
            const v8f a = load(dy + k), b = a * (load(y + k) > 0.0f ? one : v8f{});
            ta += a - fa;
            tb += b - fb;
            big = vmax(vabs(a), big);
            bigB = vmax(vabs(b), bigB);
        }
        double sumA = hsum(ta), sumB = hsum(tb);
        float largest = 0, largestB = 0;
        for (int l = 0; l < W; l++) {
            largest = big[l] > largest ? big[l] : largest;
            largestB = bigB[l] > largestB ? bigB[l] : largestB;
        }
        for (; k < end; k++) {
            const float a = dy[k], b = a * (y[k] > 0.0f ? 1.0f : 0.0f);
            sumA += (double)a - (double)firstA;
            sumB += (double)b - (double)firstB;
            if (!(std::fabs(a) <= largest)) largest = std::fabs(a);
            if (!(std::fabs(b) <= largestB)) largestB = std::fabs(b);
        }
        const double count = (double)(end - i);
        const float ma = firstA + (float)(sumA / count), mb = firstB + (float)(sumB / count);
        if (!std::isfinite(ma) || !std::isfinite(sumA) || !std::isfinite(mb) || !std::isfinite(sumB) ||
            !(largest <= 1e18f) || (largest > 0 && largest < tiny) || (largestB > 0 && largestB < tiny))
            break;
        const v8f vma = splat(ma), vmb = splat(mb);
        v8f a1{}, a2{}, aa{}, b1{}, b2{}, bb{};
        v8i za{}, zb{};
        for (k = i; k < vend; k += W) {
            const v8f yk = load(y + k);
            const v8f a = load(dy + k), b = a * (yk > 0.0f ? one : v8f{});
            const v8f da = a - vma, db = b - vmb;
            a1 += da; a2 += da * da; aa += vabs(a);
            b1 += db; b2 += db * db; bb += vabs(b);
            mnA = vmin(a, mnA); mxA = vmax(a, mxA);
            mnB = vmin(b, mnB); mxB = vmax(b, mxB);
            za -= (v8i)(a == 0.0f);
            zb -= (v8i)(b == 0.0f);
            if (Hist && !Split) { ha.add(a); hb.add(b); }
            if (Hist && Split) hs.addIn(a, ~(v8i)(yk > 0.0f) & LaneHistogramT<2>::region);
            store(dx + k, b);
        }
        double sa1 = hsum(a1), sa2 = hsum(a2), saa = hsum(aa), sb1 = hsum(b1), sb2 = hsum(b2), sbb = hsum(bb);
        int64_t zerosA = isum(za), zerosB = isum(zb);
        const double mda = ma, mdb = mb;
        for (; k < end; k++) {
            const float a = dy[k], b = a * (y[k] > 0.0f ? 1.0f : 0.0f);
            const double da = (double)a - mda, db = (double)b - mdb;
            sa1 += da; sa2 += da * da; saa += std::fabs((double)a);
            sb1 += db; sb2 += db * db; sbb += std::fabs((double)b);
            if (a < mnTailA) mnTailA = a;
            if (a > mxTailA) mxTailA = a;
            if (b < mnTailB) mnTailB = b;
            if (b > mxTailB) mxTailB = b;
            if (a == 0.0f) zerosA++;
            if (b == 0.0f) zerosB++;
            if (Hist && !Split) { ha.add1(a); hb.add1(b); }
            if (Hist && Split) hs.add1In(a, y[k] > 0.0f ? 0 : LaneHistogramT<2>::region);
            dx[k] = b;
        }
        addBlock(pa, sa1, sa2, saa, zerosA, end - i, mda, shiftA);
        addBlock(pb, sb1, sb2, sbb, zerosB, end - i, mdb, shiftB);
        i = end;
    }
    addExtremes(pa, mnA, mxA, mnTailA, mxTailA);
    addExtremes(pb, mnB, mxB, mnTailB, mxTailB);
    // Everything before i is counted (the caller continues from i).
    if (Hist && !Split) { ha.finish(histA); hb.finish(histB); }
    if (Hist && Split) { hs.finish(histA, 0); hs.finish(histB, 1); }
    return i;
}

/// Caffe's ReLU forward (see idg_relu_forward): (x < 0 ? 0 : x) + slope·(0 < x ? 0 : x), the
/// same operations in the same order as the scalar formula, so every value (−0, NaN, ±∞) agrees.
static void reluForward(const float *x, float *y, int64_t lo, int64_t hi, float slope) {
    // No fused multiply-add: fma(slope, −denormal, 0) keeps a −0 that Caffe's rounded product loses.
#pragma clang fp contract(off)
    const v8f s = splat(slope);
    int64_t i = lo;
    for (; i + W <= hi; i += W) {
        const v8f v = load(x + i);
        store(y + i, (v < 0.0f ? v8f{} : v) + s * (0.0f < v ? v8f{} : v));
    }
    for (; i < hi; i++) {
        const float v = x[i];
        y[i] = (v < 0.0f ? 0.0f : v) + slope * (0.0f < v ? 0.0f : v);
    }
}

/// Caffe's ReLU backward (see idg_relu_backward_plain): dy·([x > 0] + slope·[x ≤ 0]).
static void reluBackwardPlain(const float *dy, const float *x, float *dx, int64_t lo, int64_t hi, float slope) {
#pragma clang fp contract(off)
    const v8f s = splat(slope), one = splat(1.0f);
    int64_t i = lo;
    for (; i + W <= hi; i += W) {
        const v8f v = load(x + i);
        store(dx + i, load(dy + i) * ((v > 0.0f ? one : v8f{}) + s * (v <= 0.0f ? one : v8f{})));
    }
    for (; i < hi; i++) {
        const float v = x[i];
        dx[i] = dy[i] * ((v > 0.0f ? 1.0f : 0.0f) + slope * (v <= 0.0f ? 1.0f : 0.0f));
    }
}

}  // namespace IDG_NS
