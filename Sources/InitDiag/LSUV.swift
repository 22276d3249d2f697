import InitDiagDiagnosis
import InitDiagCore
import InitDiagTrace
import InitDiagEngine
import Foundation

/// Layer-sequential unit-variance initialisation (Mishkin & Matas, "All you need is a good init",
/// ICLR 2016, Algorithm 1), the data-dependent part of `w=lsuv`:
///
/// 1. pre-initialise every Convolution / InnerProduct weight with orthonormal rows
///    (`OrthogonalInit`, done by the scheme when the net is built);
/// 2. for each such layer L in net order, on one batch: while |Var(B_L) − 1| ≥ `tolerance` and
///    fewer than `maxTries` rescalings were made, W_L ← W_L / √Var(B_L), where B_L is the layer's
///    output (its first top right after its forward, before any in-place layer) and Var the
///    population variance over all its elements.
///
/// One batch: the data layers run once; every try re-runs layer L alone, and after L is done the
/// layers after it (so the next layer sees L's final output). Biases are left as the scheme set
/// them. Deterministic for a seed: the batch, the draws of Dropout layers and the orthogonal
/// matrices come from the run's generator.
public enum LSUV {
    public static let tolerance = 0.02
    public static let maxTries = 20

    public struct LayerResult: Sendable, Equatable {
        public var layer: String
        /// Rescalings applied (0: already within tolerance).
        public var rescalings: Int
        /// Var(B_L) after the last rescaling (within `tolerance` of 1 unless `maxTries` ran out).
        public var variance: Double
    }

    /// Runs step 2 on `net`, whose data layers (or fed Input blobs) give the batch on the first
    /// forward. Returns one result per weighted layer, in net order, and the net's loss on the batch
    /// with the final weights.
    public static func apply(to net: Net) throws -> (layers: [LayerResult], loss: Float) {
        let observer = net.observer
        net.observer = nil
        defer { net.observer = observer }
        _ = try net.forward()
        var results: [LayerResult] = []
        for li in net.layers.indices {
            let layer = net.layers[li]
            guard type(of: layer).role == .weighted, let t = layer.schemeTargets, t.weight < layer.blobs.count,
                  let top = net.topVecs[li].first else { continue }
            let w = layer.blobs[t.weight]
            // Re-run the layer alone: an in-place layer after it (ReLU) has changed its top.
            try net.forward(from: li, through: li)
            var variance = populationVariance(top)
            var tries = 0
            while abs(variance - 1) >= tolerance, tries < maxTries, variance.isFinite, variance > 0 {
                let scale = Float(1 / variance.squareRoot())
                let p = w.data
                for i in 0..<w.count { p[i] *= scale }
                tries += 1
                try net.forward(from: li, through: li)
                variance = populationVariance(top)
            }
            results.append(LayerResult(layer: net.layerParams[li].name, rescalings: tries, variance: variance))
            if li + 1 < net.layers.count { try net.forward(from: li + 1, through: net.layers.count - 1) }
        }
        let loss = try net.forward(from: firstNonData(net), through: net.layers.count - 1)
        return (results, loss)
    }

    /// The population variance of a blob's data over all its elements, in Double.
    public static func populationVariance(_ blob: Blob) -> Double {
        let n = blob.count
        guard n > 0 else { return 0 }
        let p = blob.data
        var sum = 0.0
        for i in 0..<n { sum += Double(p[i]) }
        let mean = sum / Double(n)
        var ss = 0.0
        for i in 0..<n { let d = Double(p[i]) - mean; ss += d * d }
        return ss / Double(n)
    }

    /// The first layer after the leading data layers (re-running from it keeps the batch).
    static func firstNonData(_ net: Net) -> Int {
        net.layers.firstIndex { type(of: $0).role != .data } ?? net.layers.count - 1
    }
}
