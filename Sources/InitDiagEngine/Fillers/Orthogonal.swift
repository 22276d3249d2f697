import InitDiagCore
import InitDiagTrace

/// Orthogonal initialisation (Saxe, McClelland & Ganguli 2014; PyTorch's `torch.nn.init.orthogonal_`,
/// torch/nn/init.py): the weight, viewed as the (out, in) matrix of its fans (out = fanShape[0],
/// in = the product of the rest), gets orthonormal rows when out ≤ in and orthonormal columns when
/// out > in, from the QR decomposition of a matrix of N(0, 1) draws with the signs of R's diagonal
/// folded into Q (so Q is Haar-distributed). The scheme `w=orthogonal` and the pre-init of `w=lsuv`.
///
/// The QR is a Householder QR written here, in Double (OpenBLAS's LAPACK `sgeqrf`/`sorgqr` are not
/// declared by the CBLAS module map, which exposes cblas.h only): for the tall m × n matrix A (m ≥ n;
/// A = Gᵀ when out ≤ in), reflectors H_k = I − 2·v_k·v_kᵀ zero A's column k below the diagonal;
/// Q = H_0·…·H_{n−1} applied to the first n columns of I. Cost O(m·n²): 64 × 576 (a 3×3 conv on 64
/// channels) ~5 M flops; 1000 × 3072 ~6 GFlop (seconds in a release build).
///
/// Draws: out·in Gaussians from the run's generator, Caffe's gaussian (`caffeGaussian`, as
/// GaussianFiller draws them), in row-major order of the (out, in) matrix. Per entry E[w²] = 1/in
/// (out ≤ in, unit rows) or 1/out (unit columns): σ_w² = E[w²]·fan_in = 1 for out ≤ in.
public enum OrthogonalInit {
    /// The (out, in) fan view of `fanShape`.
    public static func fans(_ fanShape: [Int]) -> (rows: Int, cols: Int) {
        let rows = fanShape.first ?? 1
        return (rows, fanShape.dropFirst().reduce(1, *))
    }

    /// The per-entry second moment of an orthogonal (rows, cols) matrix: 1/max(rows, cols).
    public static func secondMoment(_ fanShape: [Int]) -> Double {
        let (r, c) = fans(fanShape)
        return 1 / Double(max(1, max(r, c)))
    }

    /// Fills `blob` (the weight whose fans are `fanShape`; a transposed InnerProduct stores
    /// (in, out)) with an orthogonal matrix from `rng`.
    public static func fill(_ blob: Blob, fanShape: [Int], rng: RandomSource, layer: String) throws {
        let (rows, cols) = fans(fanShape)
        guard rows > 0, cols > 0, rows * cols == blob.count else {
            throw InputError("layer '\(layer)': orthogonal init needs a weight of \(rows)×\(cols) values, the blob has shape \(blob.shape)")
        }
        let g = UnsafeMutablePointer<Float>.allocate(capacity: blob.count)
        defer { g.deallocate() }
        rng.caffeGaussian(count: blob.count, mean: 0, std: 1, into: g)
        let q = orthonormal(rows: rows, cols: cols, gaussian: UnsafeBufferPointer(start: g, count: blob.count))
        let transposed = blob.shape.count == 2 && blob.shape[0] == cols && blob.shape[1] == rows && rows != cols
            && !(fanShape.count == 2 && blob.shape == fanShape)
        let out = blob.data
        for i in 0..<rows {
            for j in 0..<cols {
                out[transposed ? j * rows + i : i * cols + j] = Float(q[i * cols + j])
            }
        }
    }

    /// The (rows, cols) row-major orthogonal matrix of the QR of `gaussian` (row-major rows × cols).
    public static func orthonormal(rows: Int, cols: Int, gaussian: UnsafeBufferPointer<Float>) -> [Double] {
        // The tall matrix A (m × n, m ≥ n), column-major in `a`: A = G (rows > cols) or Gᵀ.
        let tall = rows > cols
        let m = max(rows, cols), n = min(rows, cols)
        var a = [Double](repeating: 0, count: m * n)
        for i in 0..<rows {
            for j in 0..<cols {
                let v = Double(gaussian[i * cols + j])
                if tall { a[j * m + i] = v } else { a[i * m + j] = v }   // column j of G / column i of Gᵀ
            }
        }
        var vs = [[Double]](), diag = [Double](repeating: 0, count: n)
        for k in 0..<n {
            var norm = 0.0
            for i in k..<m { norm += a[k * m + i] * a[k * m + i] }
            norm = norm.squareRoot()
            let x0 = a[k * m + k]
            let alpha = x0 >= 0 ? -norm : norm
            var v = [Double](repeating: 0, count: m - k)
            for i in k..<m { v[i - k] = a[k * m + i] }
            v[0] -= alpha
            var vn = 0.0
            for e in v { vn += e * e }
            vn = vn.squareRoot()
            if vn > 0 { for i in v.indices { v[i] /= vn } }
            // A[k..., k...] -= 2 v (vᵀ A[k..., k...])
            for j in k..<n {
                var dot = 0.0
                for i in k..<m { dot += v[i - k] * a[j * m + i] }
                for i in k..<m { a[j * m + i] -= 2 * v[i - k] * dot }
            }
            diag[k] = a[k * m + k]
            vs.append(v)
        }
        // Q (m × n, column-major) = H_0 … H_{n−1} · [I_n; 0].
        var q = [Double](repeating: 0, count: m * n)
        for j in 0..<n { q[j * m + j] = 1 }
        for k in stride(from: n - 1, through: 0, by: -1) {
            let v = vs[k]
            for j in 0..<n {
                var dot = 0.0
                for i in k..<m { dot += v[i - k] * q[j * m + i] }
                if dot != 0 { for i in k..<m { q[j * m + i] -= 2 * v[i - k] * dot } }
            }
        }
        // Signs of R's diagonal into Q's columns (Q·D, R ← D·R): the Haar measure.
        for j in 0..<n where diag[j] < 0 { for i in 0..<m { q[j * m + i] = -q[j * m + i] } }
        // Back to the (rows, cols) row-major weight: Q itself (rows > cols) or Qᵀ.
        var w = [Double](repeating: 0, count: rows * cols)
        for i in 0..<rows {
            for j in 0..<cols { w[i * cols + j] = tall ? q[j * m + i] : q[i * m + j] }
        }
        return w
    }
}
