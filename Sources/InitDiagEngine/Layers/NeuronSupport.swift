import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Shared by the elementwise layers of Caffe's neuron family (Sigmoid, TanH, ELU, AbsVal, Power,
// Exp, Log, BNLL, Threshold, Swish, Clip, PReLU).

/// The input of an in-place forward, kept for a backward that reads x (PReLU's bottom_memory_ in
/// BVLC/caffe src/caffe/layers/prelu_layer.cpp). Out of place it holds nothing and the bottom is
/// read directly. Sized at reshape; the copy is taken at the start of forward.
final class SavedBottom {
    private let blob: Blob

    init(_ param: LayerParameter) { blob = Blob(name: "\(param.name)_saved_bottom") }

    /// Call from reshape: sizes the copy when the layer works in place.
    func reshape(bottom: Blob, top: Blob) {
        if top === bottom { blob.reshape(like: bottom) }
    }

    /// Call at the start of forward, before the top is written.
    func save(bottom: Blob, top: Blob) {
        if top === bottom { blob.data.update(from: bottom.data, count: bottom.count) }
    }

    /// The forward's input as backward must read it.
    func input(bottom: Blob, top: Blob) -> UnsafeMutablePointer<Float> {
        top === bottom ? blob.data : bottom.data
    }
}

/// Caffe's in-layer sigmoid (sigmoid_layer.cpp, swish_layer.cpp): `0.5 * tanh(0.5 * x) + 0.5`
/// with double literals, so for float x it is evaluated in double and rounded once to float.
@inline(__always)
func caffeSigmoid(_ x: Float) -> Float {
    Float(0.5 * tanh(0.5 * Double(x)) + 0.5)
}

/// std::min(a, b) as libstdc++ writes it: (b < a) ? b : a (a NaN a is returned).
@inline(__always) func stdMin(_ a: Float, _ b: Float) -> Float { b < a ? b : a }
/// std::max(a, b) as libstdc++ writes it: (a < b) ? b : a (a NaN a is returned).
@inline(__always) func stdMax(_ a: Float, _ b: Float) -> Float { a < b ? b : a }

/// A float parameter that must be finite, or the layer's one-line error.
func requireFinite(_ value: Float, _ field: String, _ param: LayerParameter) throws {
    guard value.isFinite else {
        throw InputError("layer '\(param.name)' (\(param.type)): \(field) must be finite, got \(value)")
    }
}
