import InitDiagCore
import InitDiagTrace
import CBLAS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// What Caffe's LossLayer base gives its subclasses (BVLC/caffe src/caffe/layers/loss_layer.cpp,
// include/caffe/layers/loss_layer.hpp), shared by the loss layers that are not SoftmaxWithLoss:
// the first-dimension check, the scalar top, the normaliser, and Blob::num() as the loss layers
// use it. The loss weight itself needs nothing here: the net writes it into top[0].diff[0] and
// every backward multiplies by that value, as Caffe's do.

/// Caffe's `kLOG_THRESHOLD` (include/caffe/layers/loss_layer.hpp): the floor of a probability
/// before its logarithm in MultinomialLogisticLoss and InfogainLoss.
let caffeLogThreshold: Float = 1e-20

enum CaffeLoss {
    /// LossLayer::Reshape: CHECK_EQ(bottom[0]->shape(0), bottom[1]->shape(0)) ("The data and
    /// label should have the same first dimension"), then top[0] becomes a scalar.
    static func reshapeBase(_ param: LayerParameter, bottom: [Blob], top: [Blob]) throws {
        let a = bottom[0], b = bottom[1]
        guard a.numAxes >= 1, b.numAxes >= 1, a.shape[0] == b.shape[0] else {
            throw shapeError(param, "the data \(a.shapeString) and the label \(b.shapeString) must have the same first dimension")
        }
        top[0].reshape([])
    }

    /// Blob::num() = LegacyShape(0), which CHECKs at most 4 axes (Caffe aborts beyond).
    static func legacyNum(_ blob: Blob, _ param: LayerParameter) throws -> Int {
        guard blob.numAxes <= 4 else {
            throw shapeError(param, "bottom \(blob.shapeString) has \(blob.numAxes) axes; this layer reads its legacy num/channels/height/width (at most 4 axes)")
        }
        return blob.numAxes == 0 ? 1 : blob.shape[0]
    }

    /// Blob::LegacyShape(i): dimension i, 1 past the last axis (the caller checked ≤ 4 axes).
    static func legacyShape(_ blob: Blob, _ index: Int) -> Int { index < blob.numAxes ? blob.shape[index] : 1 }

    /// The layer's mode as LossLayer-derived layers read it: `normalization` if given, else the
    /// legacy `normalize` (true → VALID, false → BATCH_SIZE), else `fallback` (VALID for
    /// SoftmaxWithLoss; BATCH_SIZE for SigmoidCrossEntropyLoss, which kept its old divide-by-num).
    static func normalizationMode(_ loss: LossParameter, fallback: LossParameter.NormalizationMode) -> LossParameter.NormalizationMode {
        if let n = loss.normalization { return n }
        if let n = loss.normalize { return n ? .VALID : .BATCH_SIZE }
        return fallback
    }

    /// get_normalizer (Dtype arithmetic): FULL = outer·inner, VALID = the counted positions
    /// (outer·inner when `validCount` is nil, Caffe's −1), BATCH_SIZE = outer, NONE = 1; then
    /// max(1, ·).
    static func normalizer(_ mode: LossParameter.NormalizationMode, outer: Int, inner: Int, validCount: Int?) -> Float {
        let n: Float
        switch mode {
        case .FULL: n = Float(outer * inner)
        case .VALID: n = Float(validCount ?? outer * inner)
        case .BATCH_SIZE: n = Float(outer)
        case .NONE: n = 1
        }
        return max(1, n)
    }

    /// static_cast<int>(value) where Caffe compares a target with ignore_label; nil where the
    /// conversion is undefined in C++ (not finite or out of int's range): never equal.
    @inline(__always) static func truncatedInt(_ value: Float) -> Int? {
        guard value.isFinite, value >= -2_147_483_648, value < 2_147_483_648 else { return nil }
        return Int(value.rounded(.towardZero))
    }

    /// caffe_cpu_dot (cblas_sdot).
    @inline(__always) static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        n == 0 ? 0 : cblas_sdot(blasint(n), x, 1, y, 1)
    }

    /// caffe_cpu_asum (cblas_sasum).
    @inline(__always) static func asum(_ n: Int, _ x: UnsafePointer<Float>) -> Float {
        n == 0 ? 0 : cblas_sasum(blasint(n), x, 1)
    }

    /// y = alpha·x (caffe_cpu_axpby with beta 0, caffe_cpu_scale).
    static func scale(_ n: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        parallelChunks(n) { r in for i in r { y[i] = alpha * x[i] } }
    }

    /// Layer::SetLossWeights: with a second top, loss_weight must be given once per top.
    static func checkLossWeights(_ param: LayerParameter, top: [Blob]) throws {
        if top.count == 2, param.lossWeight.count != 2 {
            throw InputError("layer '\(param.name)' (\(param.type)): with two tops, loss_weight must be given once per top (got \(param.lossWeight.count))")
        }
    }
}

// Caffe's sigmoid, `caffeSigmoid`, is shared with the Sigmoid layer (NeuronSupport.swift).
