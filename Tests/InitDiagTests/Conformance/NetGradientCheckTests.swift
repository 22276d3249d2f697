import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Whole-net finite-difference checks: the net's loss L as the objective (what the solver
/// follows), every parameter element and every input element perturbed by ±h, the central
/// difference (L(x+h) − L(x−h))/2h (losses summed in double) compared with the analytic diff of
/// one backward pass. Tolerances in the spirit of Caffe's GradientChecker (stepsize 1e-2,
/// threshold 1e-3 relative to max(|analytic|, |numeric|, 1)), here 2e-3 for a whole float net.
///
/// Kinks: an element is skipped when perturbing it changes a decision of the net — the sign
/// pattern of a ReLU's output or the argmax of a max-pooling window (Caffe's rule: first strict
/// maximum in row-major order) — between the base, the +h and the −h pass; the loss is not
/// differentiable across such a change. The fraction skipped is bounded in each test.
@Suite struct NetGradientCheckTests {
    static let step: Float = 1e-2
    static let tolerance = 2e-3

    /// Records the decisions the loss is piecewise smooth in.
    final class DecisionRecorder: NetObserver {
        var signature: [Int32] = []
        func netDidForward(layer index: Int, net: Net) {
            let lp = net.layerParams[index]
            if lp.type == "ReLU" {
                let top = net.topVecs[index][0]
                for i in 0..<top.count { signature.append(top.data[i] > 0 ? 1 : 0) }
            } else if let pool = net.layers[index] as? PoolingLayer, pool.method == .MAX {
                appendArgmax(pool, bottom: net.bottomVecs[index][0])
            }
        }
        func netDidBackward(layer index: Int, net: Net) {}

        /// Caffe pooling_layer.cpp MAX: window [h·stride − pad, +kernel) clipped to the input;
        /// the first element with a strictly larger value wins.
        private func appendArgmax(_ pool: PoolingLayer, bottom: Blob) {
            let planeSize = pool.height * pool.width
            for plane in 0..<pool.planes {
                let x = bottom.data + plane * planeSize
                for ph in 0..<pool.pooledH {
                    for pw in 0..<pool.pooledW {
                        let h0 = max(ph * pool.strideH - pool.padH, 0), w0 = max(pw * pool.strideW - pool.padW, 0)
                        let h1 = min(ph * pool.strideH - pool.padH + pool.kernelH, pool.height)
                        let w1 = min(pw * pool.strideW - pool.padW + pool.kernelW, pool.width)
                        var best = -Float.greatestFiniteMagnitude, arg: Int32 = -1
                        for h in h0..<h1 { for w in w0..<w1 where x[h * pool.width + w] > best {
                            best = x[h * pool.width + w]; arg = Int32(h * pool.width + w)
                        } }
                        signature.append(arg)
                    }
                }
            }
        }
    }

    struct Outcome { var checked = 0; var skipped = 0; var worst = 0.0; var worstWhere = "" }

    /// Builds the net from text, fills the input and labels, checks every element.
    private func check(_ text: String, phase: Phase, labels: [Float], seed: UInt32, maxSkippedFraction: Double = 0.1,
                       prepare: (Net) throws -> Void = { _ in },
                       sourceLocation: SourceLocation = #_sourceLocation) throws -> Outcome {
        let param = try Prototxt.parseNet(text, path: "gradient-check.prototxt")
        let net = try ConformanceSupport.buildNet(param, phase: phase, seed: seed)
        try prepare(net)
        let data = try #require(net.blob(named: "data")), label = try #require(net.blob(named: "label"))
        var rng = MT19937(seed: seed &+ 1)
        for i in 0..<data.count { data.data[i] = Float(rng.next()) / 4_294_967_296.0 * 2 - 1 }
        label.setData(labels)
        let recorder = DecisionRecorder()
        net.observer = recorder

        func loss() throws -> (Double, [Int32]) {
            recorder.signature.removeAll(keepingCapacity: true)
            let l = try net.forward()
            return (Double(l), recorder.signature)
        }
        net.clearParamDiffs()
        let (_, baseSignature) = try loss()
        net.backward()
        var targets: [(name: String, blob: Blob, analytic: [Float])] =
            net.params.map { ($0.displayName, $0.blob, $0.blob.diffArray) }
        targets.append(("data", data, data.diffArray))
        #expect(targets.allSatisfy { $0.analytic.contains { $0 != 0 } }, "a blob got no gradient at all",
                sourceLocation: sourceLocation)

        var out = Outcome()
        for (name, blob, analytic) in targets {
            for i in 0..<blob.count {
                let x = blob.data[i]
                blob.data[i] = x + Self.step
                let (plus, sigPlus) = try loss()
                blob.data[i] = x - Self.step
                let (minus, sigMinus) = try loss()
                blob.data[i] = x
                if sigPlus != baseSignature || sigMinus != baseSignature { out.skipped += 1; continue }
                let numeric = (plus - minus) / (2 * Double(Self.step))
                let a = Double(analytic[i])
                let error = abs(numeric - a) / max(abs(numeric), abs(a), 1)
                if error > out.worst { out.worst = error; out.worstWhere = "\(name)[\(i)]: analytic \(a), numeric \(numeric)" }
                out.checked += 1
            }
        }
        #expect(out.worst <= Self.tolerance, "worst: \(out.worstWhere)", sourceLocation: sourceLocation)
        // Most elements must be checked, not skipped as kinks.
        #expect(Double(out.skipped) <= maxSkippedFraction * Double(out.checked + out.skipped), "\(out.skipped) skipped, \(out.checked) checked", sourceLocation: sourceLocation)
        return out
    }

    /// conv (stride 2, pad 1) → ReLU → MAX pool (CEIL, a partial last window) → conv (group 2) →
    /// ReLU → InnerProduct → SoftmaxWithLoss.
    @Test func convPoolGroupNet() throws {
        let text = """
        name: "GradConvPool"
        force_backward: true
        layer { name: "data" type: "Input" top: "data" top: "label"
          input_param { shape { dim: 2 dim: 3 dim: 9 dim: 9 } shape { dim: 2 } } }
        layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
          convolution_param { num_output: 4 kernel_size: 3 stride: 2 pad: 1
            weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
        layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
          pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
        layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
          convolution_param { num_output: 4 kernel_size: 3 pad: 1 group: 2
            weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
        layer { name: "fc" type: "InnerProduct" bottom: "conv2" top: "fc"
          inner_product_param { num_output: 5
            weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
        """
        // 9 → conv s2 p1 → 5 → pool k2 s2 CEIL → ceil(3/2)+1 = 3 (the last window covers row 4 only).
        let param = try Prototxt.parseNet(text, path: "gradient-check.prototxt")
        let shapes = try ConformanceSupport.buildNet(param, phase: .TRAIN)
        #expect(shapes.blob(named: "conv1")?.shape == [2, 4, 5, 5])
        #expect(shapes.blob(named: "pool1")?.shape == [2, 4, 3, 3])
        #expect(shapes.layers[3].blobs.isEmpty && shapes.layers[4].blobs[0].shape == [4, 2, 3, 3])
        let out = try check(text, phase: .TRAIN, labels: [1, 3], seed: 11)
        #expect(out.checked > 800)
        print("gradient check conv/pool/group: \(out.checked) checked, \(out.skipped) skipped, worst \(out.worst) at \(out.worstWhere)")
    }

    /// BatchNorm (batch statistics, explicitly) + Scale in place, Dropout in TEST (identity).
    @Test func batchNormScaleDropoutNet() throws {
        let text = """
        name: "GradBatchNorm"
        force_backward: true
        layer { name: "data" type: "Input" top: "data" top: "label"
          input_param { shape { dim: 3 dim: 3 dim: 5 dim: 5 } shape { dim: 3 } } }
        layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
          convolution_param { num_output: 4 kernel_size: 3 pad: 1
            weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1"
          batch_norm_param { use_global_stats: false } }
        layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1"
          scale_param { bias_term: true filler { type: "uniform" min: 0.5 max: 1.5 }
                        bias_filler { type: "gaussian" std: 0.3 } } }
        layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
        layer { name: "drop1" type: "Dropout" bottom: "conv1" top: "conv1" dropout_param { dropout_ratio: 0.5 } }
        layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"
          inner_product_param { num_output: 4
            weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
        """
        // Every element moves the batch statistics, so more ReLU decisions sit near a flip.
        let out = try check(text, phase: .TEST, labels: [0, 2, 3], seed: 23, maxSkippedFraction: 0.2)
        #expect(out.checked > 500)
        print("gradient check batchnorm/scale/dropout: \(out.checked) checked, \(out.skipped) skipped, worst \(out.worst) at \(out.worstWhere)")
    }

    /// BatchNorm with its stored statistics (TEST's default, use_global_stats unset): the
    /// accumulators and factor set by hand (factor 2, so mean = A_mean/2, var = A_var/2).
    @Test func batchNormGlobalStatisticsNet() throws {
        let text = """
        name: "GradBatchNormGlobal"
        force_backward: true
        layer { name: "data" type: "Input" top: "data" top: "label"
          input_param { shape { dim: 2 dim: 3 dim: 5 dim: 5 } shape { dim: 2 } } }
        layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
          convolution_param { num_output: 4 kernel_size: 3 pad: 1
            weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }
        layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1"
          scale_param { bias_term: true filler { type: "uniform" min: 0.5 max: 1.5 }
                        bias_filler { type: "gaussian" std: 0.3 } } }
        layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
        layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"
          inner_product_param { num_output: 4
            weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
        """
        let out = try check(text, phase: .TEST, labels: [1, 3], seed: 41) { net in
            let index = try #require(net.layerIndex(named: "bn1"))
            let bn = try #require(net.layers[index] as? BatchNormLayer)
            #expect(bn.useGlobalStats)
            bn.blobs[0].setData([0.2, -0.4, 0.6, 0.0])
            bn.blobs[1].setData([1.0, 3.0, 0.5, 2.0])
            bn.blobs[2].setData([2])
        }
        #expect(out.checked > 300)
        print("gradient check batchnorm (global statistics): \(out.checked) checked, \(out.skipped) skipped, worst \(out.worst) at \(out.worstWhere)")
    }

    /// A blob feeding three consumers (an inserted Split), Eltwise SUM with coefficients, Concat.
    @Test func splitEltwiseConcatNet() throws {
        let text = """
        name: "GradSplitConcat"
        force_backward: true
        layer { name: "data" type: "Input" top: "data" top: "label"
          input_param { shape { dim: 2 dim: 2 dim: 5 dim: 5 } shape { dim: 2 } } }
        layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
          convolution_param { num_output: 3 kernel_size: 3 pad: 1
            weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
        layer { name: "a" type: "Convolution" bottom: "conv1" top: "a"
          convolution_param { num_output: 3 kernel_size: 1
            weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "b" type: "Convolution" bottom: "conv1" top: "b"
          convolution_param { num_output: 3 kernel_size: 3 pad: 1
            weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" top: "sum"
          eltwise_param { operation: SUM coeff: 1 coeff: -0.5 } }
        layer { name: "cat" type: "Concat" bottom: "conv1" bottom: "sum" top: "cat" }
        layer { name: "fc" type: "InnerProduct" bottom: "cat" top: "fc"
          inner_product_param { num_output: 4
            weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "gaussian" std: 0.2 } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
        """
        let param = try Prototxt.parseNet(text, path: "gradient-check.prototxt")
        let built = try ConformanceSupport.buildNet(param, phase: .TRAIN)
        // conv1 (after relu1, in place) feeds a, b and cat: one Split with three tops.
        let splits = built.layerParams.filter { $0.type == "Split" }
        #expect(splits.count == 1 && splits.first?.top.count == 3)
        #expect(built.blob(named: "cat")?.shape == [2, 6, 5, 5])
        let out = try check(text, phase: .TRAIN, labels: [2, 0], seed: 37)
        #expect(out.checked > 500)
        print("gradient check split/eltwise/concat: \(out.checked) checked, \(out.skipped) skipped, worst \(out.worst) at \(out.worstWhere)")
    }
}
