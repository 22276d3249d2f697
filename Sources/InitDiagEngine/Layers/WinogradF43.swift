import InitDiagCore
import InitDiagTrace

/// Winograd minimal filtering F(4×4, 3×3) for 3×3 stride-1 undilated convolutions (Lavin & Gray,
/// "Fast Algorithms for Convolutional Neural Networks", 2015, section 4): each 4×4 output tile is
/// Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A over a 6×6 input tile d (tiles overlap by 2), with
///   Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1],
///   G  = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1⁄24 1⁄12 ⅙; 1⁄24 −1⁄12 ⅙; 0 0 1],
///   Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1].
/// Summed over input channels the element-wise products become 36 independent GEMMs
/// M_ξ (O × tiles) = U_ξ (O × C) · V_ξ (C × tiles): 36 multiplies per 16 outputs and channel pair
/// instead of 144 (direct) or 64 (F(2×2, 3×3)), and 36/16 transformed floats per output instead of
/// 16/4 — the transforms move 44% less memory. The price is rounding: the larger coefficients
/// (up to 8 in Aᵀ, 5 in Bᵀ) give errors a few times those of F(2×2, 3×3) (still ≈ 1e-6 relative
/// on unit-scale data; the tests bound it against a direct double-precision reference).
///
/// Same layout and contract as `WinogradF23` (Winograd.swift), with 36 planes. The input gradient
/// is the 3×3 convolution of the top diff with the flipped, channel-swapped kernel (pad 2 − pad);
/// unlike F(2×2, 3×3), G has no symmetry that turns the flipped kernel's transform into a
/// permutation of the forward one, so the backward pass transforms the weights once more
/// (`transformWeights(flipTranspose: true)`, once per backward pass).
public struct WinogradF43: Sendable {
    public var inChannels: Int, outChannels: Int, group: Int
    public var height: Int, width: Int
    public var padH: Int, padW: Int

    public init(inChannels: Int, outChannels: Int, group: Int, height: Int, width: Int, padH: Int, padW: Int) {
        self.inChannels = inChannels; self.outChannels = outChannels; self.group = group
        self.height = height; self.width = width; self.padH = padH; self.padW = padW
    }

    /// Positions per tile (6×6).
    public static let positions = 36
    public var outH: Int { height + 2 * padH - 2 }
    public var outW: Int { width + 2 * padW - 2 }
    public var tilesH: Int { (outH + 3) / 4 }
    public var tilesW: Int { (outW + 3) / 4 }
    public var tilesPerImage: Int { tilesH * tilesW }

    /// Plane strides skewed by 16 floats, as in `WinogradF23.skew` (cache-set conflicts).
    public var uStride: Int { outChannels * (inChannels / group) + WinogradF23.skew }
    public func vStride(images: Int) -> Int { inChannels * images * tilesPerImage + WinogradF23.skew }
    public func mStride(images: Int) -> Int { outChannels * images * tilesPerImage + WinogradF23.skew }

    /// Floats of scratch for `images` images: V and M, 36 planes each (U is held by the layer).
    public func scratchFloats(images: Int) -> Int {
        36 * (uStride + vStride(images: images) + mStride(images: images))
    }

    // The six 1-D transforms (vectors of 6, 4 or 3 values read at stride `s`, written at stride `t`).

    /// Bᵀ x (6 → 6).
    @inline(__always)
    static func bt(_ x: UnsafePointer<Float>, _ s: Int, _ y: UnsafeMutablePointer<Float>, _ t: Int) {
        let x0 = x[0], x1 = x[s], x2 = x[2 * s], x3 = x[3 * s], x4 = x[4 * s], x5 = x[5 * s]
        y[0] = 4 * x0 - 5 * x2 + x4
        y[t] = -4 * (x1 + x2) + x3 + x4
        y[2 * t] = 4 * (x1 - x2) - x3 + x4
        y[3 * t] = -2 * (x1 - x3) - x2 + x4
        y[4 * t] = 2 * (x1 - x3) - x2 + x4
        y[5 * t] = 4 * x1 - 5 * x3 + x5
    }

    /// G x (3 → 6).
    @inline(__always)
    static func g(_ x: UnsafePointer<Float>, _ s: Int, _ y: UnsafeMutablePointer<Float>, _ t: Int) {
        let x0 = x[0], x1 = x[s], x2 = x[2 * s]
        let even = x0 + x2
        y[0] = 0.25 * x0
        y[t] = -(even + x1) / 6
        y[2 * t] = -(even - x1) / 6
        y[3 * t] = x0 / 24 + x1 / 12 + x2 / 6
        y[4 * t] = x0 / 24 - x1 / 12 + x2 / 6
        y[5 * t] = x2
    }

    /// Gᵀ x (6 → 3), the adjoint of `g`.
    @inline(__always)
    static func gt(_ x: UnsafePointer<Float>, _ s: Int, _ y: UnsafeMutablePointer<Float>, _ t: Int) {
        let x0 = x[0], x1 = x[s], x2 = x[2 * s], x3 = x[3 * s], x4 = x[4 * s], x5 = x[5 * s]
        y[0] = 0.25 * x0 - (x1 + x2) / 6 + (x3 + x4) / 24
        y[t] = (x2 - x1) / 6 + (x3 - x4) / 12
        y[2 * t] = (x3 + x4 - x1 - x2) / 6 + x5
    }

    /// Aᵀ x (6 → 4).
    @inline(__always)
    static func at(_ x: UnsafePointer<Float>, _ s: Int, _ y: UnsafeMutablePointer<Float>, _ t: Int) {
        let x0 = x[0], x1 = x[s], x2 = x[2 * s], x3 = x[3 * s], x4 = x[4 * s], x5 = x[5 * s]
        let p12 = x1 + x2, m12 = x1 - x2, p34 = x3 + x4, m34 = x3 - x4
        y[0] = x0 + p12 + p34
        y[t] = m12 + 2 * m34
        y[2 * t] = p12 + 4 * p34
        y[3 * t] = m12 + 8 * m34 + x5
    }

    /// A x (4 → 6), the adjoint of `at`.
    @inline(__always)
    static func a(_ x: UnsafePointer<Float>, _ s: Int, _ y: UnsafeMutablePointer<Float>, _ t: Int) {
        let x0 = x[0], x1 = x[s], x2 = x[2 * s], x3 = x[3 * s]
        let pe = x0 + x2, po = x1 + x3, pe4 = x0 + 4 * x2, po8 = 2 * x1 + 8 * x3
        y[0] = x0
        y[t] = pe + po
        y[2 * t] = pe - po
        y[3 * t] = pe4 + po8
        y[4 * t] = pe4 - po8
        y[5 * t] = x3
    }

    /// U_ξ[o][c] = (G g Gᵀ)_ξ for every (o, c) of a weight (O, C/g, 3, 3). With `flipTranspose`, the
    /// kernel used is g'[o'][c'](i, j) = w[c'][o'](2 − i, 2 − j) per group (the input-gradient
    /// convolution; `weight` is then the forward layer's weight, of shape (inChannels,
    /// outChannels/g, 3, 3) in this routine's terms).
    public func transformWeights(_ weight: UnsafePointer<Float>, flipTranspose: Bool,
                                 into u: UnsafeMutablePointer<Float>) {
        let o = outChannels, cg = inChannels / group, og = outChannels / group
        let pairs = o * cg, plane = uStride
        parallelChunks(pairs, minChunk: 1024) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 9 + 18 + 36) { buf in
                let k = buf.baseAddress!, gk = k + 9, r = gk + 18
                for pair in range {
                    let oc = pair / cg, ci = pair % cg
                    if flipTranspose {
                        let grp = oc / og
                        let src = weight + ((grp * cg + ci) * og + oc % og) * 9
                        for i in 0..<9 { k[i] = src[8 - i] }
                    } else {
                        let src = weight + (oc * cg + ci) * 9
                        for i in 0..<9 { k[i] = src[i] }
                    }
                    // G k: 6×3 (per kernel column), then (G k) Gᵀ: 6×6 (per row).
                    for j in 0..<3 { WinogradF43.g(k + j, 3, gk + j, 3) }
                    for i in 0..<6 { WinogradF43.g(gk + 3 * i, 1, r + 6 * i, 1) }
                    let dst = u + oc * cg + ci
                    for xi in 0..<36 { dst[xi * plane] = r[xi] }
                }
            }
        }
    }

    /// V_ξ[c][t] = (Bᵀ d B)_ξ for the 6×6 input tile of every channel and tile of `images` images.
    public func transformInput(_ input: UnsafePointer<Float>, images: Int, into v: UnsafeMutablePointer<Float>) {
        let c = inChannels, h = height, w = width, th = tilesH, tw = tilesW
        let tpi = tilesPerImage, t = images * tpi, plane = vStride(images: images)
        let ph = padH, pw = padW
        parallelChunks(c * images, minChunk: max(1, 8192 / max(1, 36 * tpi))) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * 36) { buf in
                let d = buf.baseAddress!, bd = d + 36, r = bd + 36
                for pair in range {
                    let ch = pair / images, img = pair % images
                    let src = input + (img * c + ch) * h * w
                    let dst = v + ch * t + img * tpi
                    for ty in 0..<th {
                        let y0 = 4 * ty - ph
                        for tx in 0..<tw {
                            let x0 = 4 * tx - pw
                            if y0 >= 0 && x0 >= 0 && y0 + 6 <= h && x0 + 6 <= w {
                                // Interior tile: Bᵀ straight from the input rows.
                                let p = src + y0 * w + x0
                                for j in 0..<6 { WinogradF43.bt(p + j, w, bd + j, 6) }
                            } else {
                                for i in 0..<6 {
                                    let y = y0 + i
                                    for j in 0..<6 {
                                        let x = x0 + j
                                        d[i * 6 + j] = y >= 0 && y < h && x >= 0 && x < w ? src[y * w + x] : 0
                                    }
                                }
                                for j in 0..<6 { WinogradF43.bt(d + j, 6, bd + j, 6) }
                            }
                            for i in 0..<6 { WinogradF43.bt(bd + 6 * i, 1, r + 6 * i, 1) }
                            let o = dst + ty * tw + tx
                            for xi in 0..<36 { o[xi * plane] = r[xi] }
                        }
                    }
                }
            }
        }
    }

    /// M_ξ = U_ξ · V_ξ per group: 36·g single-threaded GEMMs spread over the engine's threads.
    public func multiply(u: UnsafePointer<Float>, v: UnsafePointer<Float>, images: Int,
                         into m: UnsafeMutablePointer<Float>) {
        let t = images * tilesPerImage
        let cg = inChannels / group, og = outChannels / group
        let us = uStride, vs = vStride(images: images), ms = mStride(images: images)
        parallelFor(36 * group) { job in
            let xi = job / group, grp = job % group
            sgemmSerial(transA: false, transB: false, m: og, n: t, k: cg, alpha: 1,
                        a: u + xi * us + grp * og * cg, lda: cg,
                        b: v + xi * vs + grp * cg * t, ldb: t,
                        beta: 0, c: m + xi * ms + grp * og * t, ldc: t)
        }
    }

    /// The adjoint of `transformOutput`: dM_ξ[o][t] = (A dY Aᵀ)_ξ for the 4×4 top-diff tile (zero
    /// where the tile sticks out of the output plane).
    public func transformOutputGradient(_ dy: UnsafePointer<Float>, images: Int, into dm: UnsafeMutablePointer<Float>) {
        let o = outChannels, oh = outH, ow = outW, th = tilesH, tw = tilesW
        let tpi = tilesPerImage, t = images * tpi, plane = mStride(images: images)
        parallelChunks(o * images, minChunk: max(1, 8192 / max(1, 36 * tpi))) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 + 24 + 36) { buf in
                let g = buf.baseAddress!, ag = g + 16, r = ag + 24
                for pair in range {
                    let oc = pair / images, img = pair % images
                    let src = dy + (img * o + oc) * oh * ow
                    let dst = dm + oc * t + img * tpi
                    for ty in 0..<th {
                        for tx in 0..<tw {
                            let y0 = 4 * ty, x0 = 4 * tx
                            for i in 0..<4 {
                                for j in 0..<4 {
                                    let y = y0 + i, x = x0 + j
                                    g[i * 4 + j] = y < oh && x < ow ? src[y * ow + x] : 0
                                }
                            }
                            // A g: 6×4 (per column), then (A g) Aᵀ: 6×6 (per row).
                            for j in 0..<4 { WinogradF43.a(g + j, 4, ag + j, 4) }
                            for i in 0..<6 { WinogradF43.a(ag + 4 * i, 1, r + 6 * i, 1) }
                            let d = dst + ty * tw + tx
                            for xi in 0..<36 { d[xi * plane] = r[xi] }
                        }
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
        let us = uStride, vs = vStride(images: images), ms = mStride(images: images)
        parallelFor(36 * group) { job in
            let xi = job / group, grp = job % group
            sgemmSerial(transA: false, transB: true, m: og, n: cg, k: t, alpha: 1,
                        a: dm + xi * ms + grp * og * t, lda: t,
                        b: v + xi * vs + grp * cg * t, ldb: t,
                        beta: 1, c: du + xi * us + grp * og * cg, ldc: cg)
        }
    }

    /// dW[o][c] += Gᵀ dU G (the adjoint of `transformWeights` without flipping), weight (O, C/g, 3, 3).
    public func addWeightGradient(_ du: UnsafePointer<Float>, into weightDiff: UnsafeMutablePointer<Float>) {
        let cg = inChannels / group
        let plane = uStride
        parallelChunks(outChannels * cg, minChunk: 1024) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 36 + 18 + 9) { buf in
                let x = buf.baseAddress!, gx = x + 36, r = gx + 18
                for pair in range {
                    let s = du + pair
                    for xi in 0..<36 { x[xi] = s[xi * plane] }
                    // Gᵀ X: 3×6 (per column), then (Gᵀ X) G: 3×3 (per row).
                    for j in 0..<6 { WinogradF43.gt(x + j, 6, gx + j, 6) }
                    for i in 0..<3 { WinogradF43.gt(gx + 6 * i, 1, r + 3 * i, 1) }
                    let d = weightDiff + pair * 9
                    for i in 0..<9 { d[i] += r[i] }
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
        parallelChunks(o * images, minChunk: max(1, 8192 / max(1, 36 * tpi))) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 36 + 24 + 16) { buf in
                let x = buf.baseAddress!, ax = x + 36, r = ax + 24
                for pair in range {
                    let oc = pair / images, img = pair % images
                    let src = m + oc * t + img * tpi
                    let dst = output + (img * o + oc) * oh * ow
                    let b = bias?[oc]
                    for ty in 0..<th {
                        for tx in 0..<tw {
                            let s = src + ty * tw + tx
                            for xi in 0..<36 { x[xi] = s[xi * plane] }
                            // Aᵀ X: 4×6 (per column), then (Aᵀ X) A: 4×4 (per row).
                            for j in 0..<6 { WinogradF43.at(x + j, 6, ax + j, 6) }
                            for i in 0..<4 { WinogradF43.at(ax + 6 * i, 1, r + 4 * i, 1) }
                            let y0 = 4 * ty, x0 = 4 * tx
                            let rows = min(4, oh - y0), cols = min(4, ow - x0)
                            for i in 0..<rows {
                                let row = dst + (y0 + i) * ow + x0
                                if let b {
                                    for j in 0..<cols { row[j] = r[i * 4 + j] + b }
                                } else {
                                    for j in 0..<cols { row[j] = r[i * 4 + j] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
