import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Finite-difference check of a layer's backward pass, in the manner of Caffe's GradientChecker:
/// the objective is L = Σ_i r_i · top_i over all tops (r fixed random weights), so ∂L/∂top = r.
/// For every element x of every checked bottom and learnable blob, the analytic ∂L/∂x from
/// backward is compared with (L(x + h) − L(x − h)) / 2h, in double.
///
/// Elements within `kink` of a non-differentiable point (ReLU at 0, a max-pool tie) may be skipped
/// by the `isKink` closure.
struct GradientChecker {
    var step: Float = 1e-2
    var relativeTolerance: Double = 1e-2
    var absoluteTolerance: Double = 1e-3
    var seed: UInt32 = 1701

    /// Runs the check; `checkBottoms` lists which bottoms need gradients (default: all).
    /// `layer` must already be set up with `bottom`/`top`. Returns the number of elements checked.
    @discardableResult
    func check(_ layer: Layer, bottom: [Blob], top: [Blob], checkBottoms: [Int]? = nil,
               checkParams: Bool = true,
               isKink: ((_ blob: Blob, _ index: Int) -> Bool)? = nil,
               sourceLocation: SourceLocation = #_sourceLocation) -> Int {
        var rng = MT19937(seed: seed)
        let which = checkBottoms ?? Array(bottom.indices)
        let propagate = bottom.indices.map { which.contains($0) }

        // Inputs are kept aside and restored before every forward, so in-place layers (top and
        // bottom the same blob) see the unmodified input each time.
        var inputs: [[Float]] = bottom.map { $0.dataArray }
        func restoreInputs() { for (b, v) in zip(bottom, inputs) { b.setData(v) } }

        // Fixed random projection of each top.
        var weights: [[Float]] = []
        layer.forward(bottom: bottom, top: top)
        for t in top {
            weights.append((0..<t.count).map { _ in Float(rng.next()) / 4_294_967_296.0 * 2 - 1 })
        }
        func objective() -> Double {
            restoreInputs()
            layer.forward(bottom: bottom, top: top)
            var s = 0.0
            for (t, w) in zip(top, weights) {
                for i in 0..<t.count { s += Double(t.data[i]) * Double(w[i]) }
            }
            return s
        }

        // Analytic gradients.
        _ = objective()
        // Bottom diffs are zeroed before the top diffs are set: in place they are the same buffer.
        for b in layer.blobs { b.zeroDiff() }
        for i in which { bottom[i].zeroDiff() }
        for (t, w) in zip(top, weights) { t.setDiff(w) }
        // In-place layers share a blob between top and bottom: backward must see the top diff.
        layer.backward(top: top, propagateDown: propagate, bottom: bottom)
        // (blob, index of its saved input or nil for a parameter, analytic gradient)
        var blobsToCheck: [(Blob, Int?, [Float])] = which.map { (bottom[$0], $0, bottom[$0].diffArray) }
        if checkParams { blobsToCheck += layer.blobs.map { ($0, nil, $0.diffArray) } }

        var checked = 0
        for (blob, inputIndex, analytic) in blobsToCheck {
            for i in 0..<blob.count {
                if let isKink {
                    if inputIndex != nil { restoreInputs() }
                    if isKink(blob, i) { continue }
                }
                func set(_ v: Float) {
                    if let k = inputIndex { inputs[k][i] = v } else { blob.data[i] = v }
                }
                let x = inputIndex.map { inputs[$0][i] } ?? blob.data[i]
                set(x + step)
                let plus = objective()
                set(x - step)
                let minus = objective()
                set(x)
                let numeric = (plus - minus) / (2 * Double(step))
                let a = Double(analytic[i])
                let scale = max(abs(numeric), abs(a), 1)
                let ok = abs(numeric - a) <= max(absoluteTolerance, relativeTolerance * scale)
                #expect(ok, "blob \(blob.name) [\(i)] analytic \(a) numeric \(numeric)",
                        sourceLocation: sourceLocation)
                if !ok { return checked }
                checked += 1
            }
        }
        _ = objective()
        return checked
    }
}

/// Fills a blob with uniform values in [lo, hi) from a seeded generator (test inputs).
func fillUniform(_ blob: Blob, _ lo: Float = -1, _ hi: Float = 1, seed: UInt32 = 7) {
    var rng = MT19937(seed: seed)
    for i in 0..<blob.count { blob.data[i] = lo + (hi - lo) * Float(rng.next()) / 4_294_967_296.0 }
}
