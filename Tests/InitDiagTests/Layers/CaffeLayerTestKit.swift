import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Small builders shared by the tests of the elementwise/normalisation/loss layers.
enum CaffeLayerTestKit {
    static func context(_ phase: Phase = .TRAIN, seed: UInt32 = 1) -> LayerContext {
        LayerContext(phase: phase, rng: RandomSource(seed: seed))
    }

    static func param(_ type: String, name: String = "layer", _ configure: (inout LayerParameter) -> Void = { _ in }) -> LayerParameter {
        var p = LayerParameter(name: name, type: type)
        configure(&p)
        return p
    }

    static func blob(_ shape: [Int], seed: UInt32 = 7, _ lo: Float = -1, _ hi: Float = 1, name: String = "") -> Blob {
        let b = Blob(name: name, shape: shape)
        fillUniform(b, lo, hi, seed: seed)
        return b
    }

    static func blob(_ shape: [Int], values: [Float], name: String = "") -> Blob {
        let b = Blob(name: name, shape: shape)
        b.setData(values)
        return b
    }

    /// Runs the same layer configuration out of place and in place (top === bottom) on the same
    /// input and top diff, and requires bit-identical top data, bottom diff and parameter diffs.
    /// `make` must build a fresh layer each call (with a fresh, equally seeded context).
    static func expectInPlaceMatches(_ make: () throws -> Layer, shape: [Int], seed: UInt32 = 11,
                                     prepare: (Layer) -> Void = { _ in },
                                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let outOfPlace = try make(), inPlace = try make()
        let x = blob(shape, seed: seed), y = Blob()
        let shared = blob(shape, seed: seed)
        try outOfPlace.setUp(bottom: [x], top: [y])
        try inPlace.setUp(bottom: [shared], top: [shared])
        prepare(outOfPlace)
        prepare(inPlace)
        outOfPlace.forward(bottom: [x], top: [y])
        inPlace.forward(bottom: [shared], top: [shared])
        #expect(y.dataArray == shared.dataArray, "in-place forward differs", sourceLocation: sourceLocation)
        var g = MT19937(seed: seed + 1)
        let dy = (0..<y.count).map { _ in Float(g.next()) / 4_294_967_296 * 2 - 1 }
        y.setDiff(dy)
        shared.setDiff(dy)
        for b in outOfPlace.blobs + inPlace.blobs { b.zeroDiff() }
        outOfPlace.backward(top: [y], propagateDown: [true], bottom: [x])
        inPlace.backward(top: [shared], propagateDown: [true], bottom: [shared])
        #expect(x.diffArray == shared.diffArray, "in-place backward differs", sourceLocation: sourceLocation)
        for (a, b) in zip(outOfPlace.blobs, inPlace.blobs) {
            #expect(a.diffArray == b.diffArray, "in-place parameter diff differs", sourceLocation: sourceLocation)
            #expect(a.dataArray == b.dataArray, "in-place state differs", sourceLocation: sourceLocation)
        }
    }
}

/// Wraps a layer so that its run RNG is re-seeded before every forward: the gradient checker
/// runs forward many times, and Dropout must see the same mask each time for finite differences
/// to measure the gradient of one fixed function.
final class ReseedingLayer: Layer {
    let inner: Layer
    let rng: RandomSource
    let seed: UInt32
    var param: LayerParameter { inner.param }
    var blobs: [Blob] {
        get { inner.blobs }
        set { inner.blobs = newValue }
    }
    init(param: LayerParameter, context: LayerContext) throws { throw InputError("ReseedingLayer wraps a layer: use init(wrapping:)") }
    init(wrapping inner: Layer, rng: RandomSource, seed: UInt32) {
        self.inner = inner; self.rng = rng; self.seed = seed
    }
    func setUp(bottom: [Blob], top: [Blob]) throws { try inner.setUp(bottom: bottom, top: top) }
    func reshape(bottom: [Blob], top: [Blob]) throws { try inner.reshape(bottom: bottom, top: top) }
    func forward(bottom: [Blob], top: [Blob]) {
        rng.engine = MT19937(seed: seed)
        inner.forward(bottom: bottom, top: top)
    }
    func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        inner.backward(top: top, propagateDown: propagateDown, bottom: bottom)
    }
}
