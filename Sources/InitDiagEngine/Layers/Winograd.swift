import InitDiagCore
import InitDiagTrace
/// Winograd minimal filtering F(2×2, 3×3) for 3×3 stride-1 undilated convolutions (Lavin & Gray,
/// "Fast Algorithms for Convolutional Neural Networks", 2015): each 2×2 output tile is
/// Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A over a 4×4 input tile d, with
///   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
///   Aᵀ = [1 1 1 0; 0 1 −1 −1].
/// Summed over input channels, the element-wise products become 16 independent GEMMs
/// M_ξ (O × tiles) = U_ξ (O × C) · V_ξ (C × tiles), ξ = the 16 positions of the 4×4 tile: 16
/// multiplies per tile and channel pair instead of 36 — 2.25× fewer FLOPs than im2col + GEMM.
/// The result equals the direct convolution up to float rounding (the transforms add a few
/// roundings; checked against a direct reference in the tests).
///
/// The gradient with respect to the input of such a convolution is itself a 3×3 stride-1
/// convolution of the top diff with the kernel flipped and its channel axes swapped, with pad
/// 2 − pad, so the same routine serves both directions.
public struct WinogradF23: Sendable {
    public var inChannels: Int, outChannels: Int, group: Int
    public var height: Int, width: Int
    public var padH: Int, padW: Int

    public init(inChannels: Int, outChannels: Int, group: Int, height: Int, width: Int, padH: Int, padW: Int) {
        self.inChannels = inChannels; self.outChannels = outChannels; self.group = group
        self.height = height; self.width = width; self.padH = padH; self.padW = padW
    }

    public var outH: Int { height + 2 * padH - 2 }
    public var outW: Int { width + 2 * padW - 2 }
    public var tilesH: Int { (outH + 1) / 2 }
    public var tilesW: Int { (outW + 1) / 2 }
    public var tilesPerImage: Int { tilesH * tilesW }

    /// The 16 matrices of U, V and M lie `stride` floats apart: their size plus 16 floats (64 B).
    /// Without the skew the 16 store streams of a transform are a power of two apart for typical
    /// shapes (e.g. 256·1024 floats) and fall into the same cache sets; measured with
    /// BenchWinogradParts, the input transform of conv3_x took 60% of the GEMM time.
    static let skew = 16
    public var uStride: Int { outChannels * (inChannels / group) + WinogradF23.skew }
    public func vStride(images: Int) -> Int { inChannels * images * tilesPerImage + WinogradF23.skew }
    public func mStride(images: Int) -> Int { outChannels * images * tilesPerImage + WinogradF23.skew }

    /// Floats of scratch for `images` images: U, V and M, 16 matrices each.
    public func scratchFloats(images: Int) -> Int {
        16 * (uStride + vStride(images: images) + mStride(images: images))
    }

    /// U_ξ[o][c] = (G g Gᵀ)_ξ for every (o, c) of a weight (O, C/g, 3, 3). With `flipTranspose`, the
    /// kernel used is g'[o'][c'](i, j) = w[c'][o'](2 − i, 2 − j) per group (the input-gradient
    /// convolution): `weight` is then the forward layer's weight, of shape
    /// (inChannels, outChannels/g, 3, 3) in this routine's terms.
    public func transformWeights(_ weight: UnsafePointer<Float>, flipTranspose: Bool,
                                 into u: UnsafeMutablePointer<Float>) {
        let o = outChannels, cg = inChannels / group, og = outChannels / group
        let pairs = o * cg, plane = uStride
        parallelChunks(pairs, minChunk: 2048) { range in
            for pair in range {
                let oc = pair / cg, ci = pair % cg
                var k = (Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0))
                if flipTranspose {
                    // Original weight row r = group·cg + ci (an original output channel), column oc % og.
                    let grp = oc / og
                    let src = weight + ((grp * cg + ci) * og + oc % og) * 9
                    k = (src[8], src[7], src[6], src[5], src[4], src[3], src[2], src[1], src[0])
                } else {
                    let src = weight + (oc * cg + ci) * 9
                    k = (src[0], src[1], src[2], src[3], src[4], src[5], src[6], src[7], src[8])
                }
                // Gg: rows g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2 (per kernel column).
                let r0 = (k.0, k.1, k.2)
                let r1 = (0.5 * (k.0 + k.3 + k.6), 0.5 * (k.1 + k.4 + k.7), 0.5 * (k.2 + k.5 + k.8))
                let r2 = (0.5 * (k.0 - k.3 + k.6), 0.5 * (k.1 - k.4 + k.7), 0.5 * (k.2 - k.5 + k.8))
                let r3 = (k.6, k.7, k.8)
                let dst = u + oc * cg + ci
                @inline(__always) func row(_ r: (Float, Float, Float), _ i: Int) {
                    dst[(i * 4 + 0) * plane] = r.0
                    dst[(i * 4 + 1) * plane] = 0.5 * (r.0 + r.1 + r.2)
                    dst[(i * 4 + 2) * plane] = 0.5 * (r.0 - r.1 + r.2)
                    dst[(i * 4 + 3) * plane] = r.2
                }
                row(r0, 0); row(r1, 1); row(r2, 2); row(r3, 3)
            }
        }
    }

    /// V_ξ[c][t] = (Bᵀ d B)_ξ for the 4×4 input tile of every channel and tile of `images` images.
    public func transformInput(_ input: UnsafePointer<Float>, images: Int, into v: UnsafeMutablePointer<Float>) {
        let c = inChannels, h = height, w = width, th = tilesH, tw = tilesW
        let tpi = tilesPerImage, t = images * tpi, plane = vStride(images: images)
        let ph = padH, pw = padW
        parallelChunks(c * images, minChunk: max(1, 8192 / max(1, 16 * tpi))) { range in
            for pair in range {
                let ch = pair / images, img = pair % images
                let src = input + (img * c + ch) * h * w
                let dst = v + ch * t + img * tpi
                for ty in 0..<th {
                    let y0 = 2 * ty - ph
                    for tx in 0..<tw {
                        let x0 = 2 * tx - pw
                        var d = (Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0),
                                 Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0))
                        if y0 >= 0 && x0 >= 0 && y0 + 4 <= h && x0 + 4 <= w {
                            let p = src + y0 * w + x0
                            d = (p[0], p[1], p[2], p[3], p[w], p[w + 1], p[w + 2], p[w + 3],
                                 p[2 * w], p[2 * w + 1], p[2 * w + 2], p[2 * w + 3],
                                 p[3 * w], p[3 * w + 1], p[3 * w + 2], p[3 * w + 3])
                        } else {
                            withUnsafeMutableBytes(of: &d) { raw in
                                let e = raw.baseAddress!.assumingMemoryBound(to: Float.self)
                                for i in 0..<4 {
                                    let y = y0 + i
                                    if y < 0 || y >= h { continue }
                                    for j in 0..<4 {
                                        let x = x0 + j
                                        if x >= 0 && x < w { e[i * 4 + j] = src[y * w + x] }
                                    }
                                }
                            }
                        }
                        // Bᵀ d: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3.
                        let a0 = d.0 - d.8, a1 = d.1 - d.9, a2 = d.2 - d.10, a3 = d.3 - d.11
                        let b0 = d.4 + d.8, b1 = d.5 + d.9, b2 = d.6 + d.10, b3 = d.7 + d.11
                        let c0 = d.8 - d.4, c1 = d.9 - d.5, c2 = d.10 - d.6, c3 = d.11 - d.7
                        let e0 = d.4 - d.12, e1 = d.5 - d.13, e2 = d.6 - d.14, e3 = d.7 - d.15
                        let o = dst + ty * tw + tx
                        // (·) B: columns x0 − x2, x1 + x2, x2 − x1, x1 − x3.
                        o[0 * plane] = a0 - a2; o[1 * plane] = a1 + a2; o[2 * plane] = a2 - a1; o[3 * plane] = a1 - a3
                        o[4 * plane] = b0 - b2; o[5 * plane] = b1 + b2; o[6 * plane] = b2 - b1; o[7 * plane] = b1 - b3
                        o[8 * plane] = c0 - c2; o[9 * plane] = c1 + c2; o[10 * plane] = c2 - c1; o[11 * plane] = c1 - c3
                        o[12 * plane] = e0 - e2; o[13 * plane] = e1 + e2; o[14 * plane] = e2 - e1; o[15 * plane] = e1 - e3
                    }
                }
            }
        }
    }

    /// The position of the flipped kernel's transform: (i, j) ↦ (p(i), p(j)), p = (3, 1, 2, 0).
    @inline(__always)
    static func flipped(_ xi: Int) -> Int {
        @inline(__always) func p(_ i: Int) -> Int { i == 0 ? 3 : i == 3 ? 0 : i }
        return p(xi / 4) * 4 + p(xi % 4)
    }

    /// M_ξ = U_ξ · V_ξ per group: 16·g GEMMs.
    ///
    /// `forwardTransposed`: `u` holds the transformed weights of the *forward* problem (this
    /// problem's channel counts swapped, `transformWeights(flipTranspose: false)` of the original
    /// weight) and this problem is its input gradient. The flipped kernel's transform needs no
    /// transform of its own: G·(g₂, g₁, g₀) = P·G·(g₀, g₁, g₂) with P swapping entries 0 and 3
    /// (p = 3, 1, 2, 0), so (G g' Gᵀ)(i, j) = (G g Gᵀ)(p(i), p(j)) and U'_ξ = (U_{p(ξ)})ᵀ per group —
    /// the GEMM reads U transposed. Exact up to the order of the three-term sums inside G·g.
    public func multiply(u: UnsafePointer<Float>, v: UnsafePointer<Float>, images: Int,
                         into m: UnsafeMutablePointer<Float>, forwardTransposed: Bool = false) {
        let t = images * tilesPerImage
        let cg = inChannels / group, og = outChannels / group
        // 16·g independent products, one per engine thread at a time (single-threaded BLAS).
        parallelFor(16 * group) { job in
            let xi = job / group, grp = job % group
            do {
                sgemmSerial(transA: forwardTransposed, transB: false, m: og, n: t, k: cg, alpha: 1,
                      a: u + (forwardTransposed ? WinogradF23.flipped(xi) : xi) * uStride + grp * og * cg,
                      lda: forwardTransposed ? og : cg,
                      b: v + xi * vStride(images: images) + grp * cg * t, ldb: t,
                      beta: 0, c: m + xi * mStride(images: images) + grp * og * t, ldc: t)
            }
        }
    }

    /// The adjoint of `transformOutput`: dM_ξ[o][t] = (A dY Aᵀ)_ξ for the 2×2 top-diff tile (zero
    /// where the tile sticks out of the output plane: those outputs do not exist).
    public func transformOutputGradient(_ dy: UnsafePointer<Float>, images: Int, into dm: UnsafeMutablePointer<Float>) {
        let o = outChannels, oh = outH, ow = outW, th = tilesH, tw = tilesW
        let tpi = tilesPerImage, t = images * tpi, plane = mStride(images: images)
        parallelChunks(o * images, minChunk: max(1, 8192 / max(1, 16 * tpi))) { range in
            for pair in range {
                let oc = pair / images, img = pair % images
                let src = dy + (img * o + oc) * oh * ow
                let dst = dm + oc * t + img * tpi
                for ty in 0..<th {
                    for tx in 0..<tw {
                        let y = 2 * ty, x = 2 * tx
                        let row = src + y * ow + x
                        let right = x + 1 < ow, below = y + 1 < oh
                        let g00 = row[0], g01 = right ? row[1] : 0
                        let g10 = below ? row[ow] : 0, g11 = right && below ? row[ow + 1] : 0
                        // A dY: rows y0, y0 + y1, y0 − y1, −y1; then (·) Aᵀ on the columns likewise.
                        let r0 = (g00, g01), r1 = (g00 + g10, g01 + g11), r2 = (g00 - g10, g01 - g11), r3 = (-g10, -g11)
                        let d = dst + ty * tw + tx
                        @inline(__always) func put(_ r: (Float, Float), _ i: Int) {
                            d[(i * 4 + 0) * plane] = r.0
                            d[(i * 4 + 1) * plane] = r.0 + r.1
                            d[(i * 4 + 2) * plane] = r.0 - r.1
                            d[(i * 4 + 3) * plane] = -r.1
                        }
                        put(r0, 0); put(r1, 1); put(r2, 2); put(r3, 3)
                    }
                }
            }
        }
    }

    /// dU_ξ += dM_ξ · V_ξᵀ per group (the weight gradient in the transformed domain).
    public func multiplyWeightGradient(dm: UnsafePointer<Float>, v: UnsafePointer<Float>, images: Int,
                                       into du: UnsafeMutablePointer<Float>) {
        let t = images * tilesPerImage
        let cg = inChannels / group, og = outChannels / group
        parallelFor(16 * group) { job in
            let xi = job / group, grp = job % group
            do {
                sgemmSerial(transA: false, transB: true, m: og, n: cg, k: t, alpha: 1,
                      a: dm + xi * mStride(images: images) + grp * og * t, lda: t,
                      b: v + xi * vStride(images: images) + grp * cg * t, ldb: t,
                      beta: 1, c: du + xi * uStride + grp * og * cg, ldc: cg)
            }
        }
    }

    /// dW[o][c] += Gᵀ dU G (the adjoint of `transformWeights` without flipping), weight (O, C/g, 3, 3).
    public func addWeightGradient(_ du: UnsafePointer<Float>, into weightDiff: UnsafeMutablePointer<Float>) {
        let cg = inChannels / group
        let plane = uStride
        parallelChunks(outChannels * cg, minChunk: 2048) { range in
            for pair in range {
                let s = du + pair
                @inline(__always) func at(_ i: Int, _ j: Int) -> Float { s[(i * 4 + j) * plane] }
                // Gᵀ X: rows X0 + ½X1 + ½X2, ½X1 − ½X2, ½X1 + ½X2 + X3 (per column j).
                func gtRow(_ k: Int, _ j: Int) -> Float {
                    switch k {
                    case 0: return at(0, j) + 0.5 * at(1, j) + 0.5 * at(2, j)
                    case 1: return 0.5 * at(1, j) - 0.5 * at(2, j)
                    default: return 0.5 * at(1, j) + 0.5 * at(2, j) + at(3, j)
                    }
                }
                let d = weightDiff + pair * 9
                for k in 0..<3 {
                    let x0 = gtRow(k, 0), x1 = gtRow(k, 1), x2 = gtRow(k, 2), x3 = gtRow(k, 3)
                    d[k * 3 + 0] += x0 + 0.5 * x1 + 0.5 * x2
                    d[k * 3 + 1] += 0.5 * x1 - 0.5 * x2
                    d[k * 3 + 2] += 0.5 * x1 + 0.5 * x2 + x3
                }
            }
        }
    }

    /// Y = Aᵀ M A per tile, clipped to the output plane, written (not added) into NCHW `output`,
    /// plus `bias[o]` when given (one float add after the sum, as Caffe's bias GEMM).
    public func transformOutput(_ m: UnsafePointer<Float>, images: Int, bias: UnsafePointer<Float>?,
                                into output: UnsafeMutablePointer<Float>) {
        let o = outChannels, oh = outH, ow = outW, th = tilesH, tw = tilesW
        let tpi = tilesPerImage, t = images * tpi, plane = mStride(images: images)
        parallelChunks(o * images, minChunk: max(1, 8192 / max(1, 16 * tpi))) { range in
            for pair in range {
                let oc = pair / images, img = pair % images
                let src = m + oc * t + img * tpi
                let dst = output + (img * o + oc) * oh * ow
                let b = bias?[oc]
                for ty in 0..<th {
                    for tx in 0..<tw {
                        let s = src + ty * tw + tx
                        @inline(__always) func at(_ i: Int) -> Float { s[i * plane] }
                        // Aᵀ M: rows m0 + m1 + m2, m1 − m2 − m3.
                        let p0 = at(0) + at(4) + at(8), p1 = at(1) + at(5) + at(9)
                        let p2 = at(2) + at(6) + at(10), p3 = at(3) + at(7) + at(11)
                        let q0 = at(4) - at(8) - at(12), q1 = at(5) - at(9) - at(13)
                        let q2 = at(6) - at(10) - at(14), q3 = at(7) - at(11) - at(15)
                        var y00 = p0 + p1 + p2, y01 = p1 - p2 - p3
                        var y10 = q0 + q1 + q2, y11 = q1 - q2 - q3
                        if let b { y00 += b; y01 += b; y10 += b; y11 += b }
                        let y = 2 * ty, x = 2 * tx
                        let row = dst + y * ow + x
                        row[0] = y00
                        if x + 1 < ow { row[1] = y01 }
                        if y + 1 < oh {
                            row[ow] = y10
                            if x + 1 < ow { row[ow + 1] = y11 }
                        }
                    }
                }
            }
        }
    }
}
