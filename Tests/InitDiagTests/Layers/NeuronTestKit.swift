import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Shared by the neuron-layer tests (Sigmoid, TanH, ELU, AbsVal, Power, Exp, Log, BNLL, Threshold,
/// Swish, Clip, PReLU): layers built from prototxt text (so the parameter reader is exercised
/// too), finite-difference checks out of place and in place, and the PyTorch float64 fixture
/// Fixtures/reference/neuron/expected.h5 (README there).
enum NeuronTestKit {
    /// The LayerParameter of `layer { name: "l" type: "<type>" bottom: "x" top: "y" <fields> }`.
    static func param(_ type: String, _ fields: String = "", top: String = "y") throws -> LayerParameter {
        let text = "layer { name: \"l\" type: \"\(type)\" bottom: \"x\" top: \"\(top)\" \(fields) }"
        return try #require(try Prototxt.parseNet(text, path: "neuron-test.prototxt").layer.first)
    }

    static func make(_ p: LayerParameter) throws -> Layer {
        let type = try LayerFactory.type(named: p.type, layer: p, location: "")
        return try type.init(param: p, context: CaffeLayerTestKit.context())
    }

    static func make(_ type: String, _ fields: String = "") throws -> Layer { try make(try param(type, fields)) }

    /// The error message thrown while building the layer from text (parse or init), or nil.
    static func buildError(_ type: String, _ fields: String) -> String? {
        do { _ = try make(type, fields); return nil } catch let e as InputError { return e.message } catch {
            return "\(error)"
        }
    }

    /// Finite-difference check of `make()` on `shape` with inputs uniform in [lo, hi), out of place
    /// or in place; `isKink(x)` skips inputs too close to a non-differentiable point. `prepare` runs
    /// after set-up (e.g. to give PReLU its slopes). Returns the number of elements checked.
    @discardableResult
    static func gradient(_ make: () throws -> Layer, shape: [Int], inPlace: Bool, lo: Float = -2, hi: Float = 2,
                         seed: UInt32 = 5, step: Float = 1e-2, relativeTolerance: Double = 1e-2,
                         isKink: ((Float) -> Bool)? = nil, prepare: (Layer) -> Void = { _ in },
                         sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        let layer = try make()
        let x = CaffeLayerTestKit.blob(shape, seed: seed, lo, hi, name: "x")
        let y = inPlace ? x : Blob(name: "y")
        try layer.setUp(bottom: [x], top: [y])
        prepare(layer)
        var checker = GradientChecker()
        checker.step = step
        checker.relativeTolerance = relativeTolerance
        let kink: ((Blob, Int) -> Bool)? = isKink.map { k in { b, i in b === x ? k(b.data[i]) : false } }
        let n = checker.check(layer, bottom: [x], top: [y], isKink: kink, sourceLocation: sourceLocation)
        #expect(n >= x.count / 2, "only \(n) of \(x.count) elements checked", sourceLocation: sourceLocation)
        return n
    }

    // MARK: The PyTorch fixture

    struct Config {
        var name: String
        var layer: LayerParameter
        var shape: [Int]
        var x: [Float], dy: [Float], y: [Double], dx: [Double]?
        var slope: [Float], dslope: [Double]
    }

    static let fixturePath = ConformanceSupport.reference("neuron/expected.h5")

    /// Every configuration of the fixture whose name starts with `prefix`.
    static func configs(_ prefix: String) throws -> [Config] {
        let file = try HDF5File.open(path: fixturePath)
        let names = try file.openDataset("configs").readString().split(separator: "\n").map(String.init)
        let layers = try file.openDataset("layers").readString().split(separator: "\n").map(String.init)
        let shapes = try file.openDataset("shape").readInt64s().values
        let offset = try file.openDataset("offset").readInt64s().values.map(Int.init)
        let slopeOffset = try file.openDataset("slope_offset").readInt64s().values.map(Int.init)
        let hasBackward = try file.openDataset("has_backward").readInt64s().values
        let x = try ConformanceSupport.floats(file, "x").values, dy = try ConformanceSupport.floats(file, "dy").values
        let y = try ConformanceSupport.doubles(file, "y").values, dx = try ConformanceSupport.doubles(file, "dx").values
        let slope = try ConformanceSupport.floats(file, "slope").values
        let dslope = try ConformanceSupport.doubles(file, "dslope").values
        #expect(names.count == layers.count && offset.count == names.count + 1)
        var out: [Config] = []
        for (k, name) in names.enumerated() where name.hasPrefix(prefix) {
            let lp = try #require(try Prototxt.parseNet(layers[k], path: "expected.h5:layers").layer.first)
            let shape = shapes[(4 * k)..<(4 * k + 4)].map(Int.init).filter { $0 > 0 }
            let r = offset[k]..<offset[k + 1], s = slopeOffset[k]..<slopeOffset[k + 1]
            out.append(Config(name: name, layer: lp, shape: shape, x: Array(x[r]), dy: Array(dy[r]), y: Array(y[r]),
                              dx: hasBackward[k] != 0 ? Array(dx[r]) : nil, slope: Array(slope[s]), dslope: Array(dslope[s])))
        }
        return out
    }

    /// Runs every fixture configuration named `prefix…` out of place and (if `inPlace`) in place,
    /// and requires forward and backward within `tolerance` of the float64 reference by the
    /// fixture README's rule (max |actual − expected| / max |expected| per dataset). Prints the
    /// errors; returns the worst (forward, backward) over the configurations.
    @discardableResult
    static func checkFixture(_ prefix: String, inPlace: Bool, forwardTolerance: Double = 1e-6,
                             backwardTolerance: Double = 1e-6,
                             sourceLocation: SourceLocation = #_sourceLocation) throws -> (Double, Double) {
        let all = try configs(prefix)
        #expect(!all.isEmpty, "no fixture configuration named \(prefix)…", sourceLocation: sourceLocation)
        var worst = (0.0, 0.0)
        for c in all {
            for place in inPlace ? [false, true] : [false] {
                let layer = try make(c.layer)
                let x = Blob(name: "x", shape: c.shape)
                x.setData(c.x)
                let y = place ? x : Blob(name: "y")
                try layer.setUp(bottom: [x], top: [y])
                if !c.slope.isEmpty { layer.blobs[0].setData(c.slope) }
                layer.forward(bottom: [x], top: [y])
                let fe = ConformanceSupport.relativeError(y.dataArray, c.y)
                #expect(fe <= forwardTolerance, "\(c.name)\(place ? " in place" : ""): forward error \(fe)",
                        sourceLocation: sourceLocation)
                var be = 0.0, se = 0.0
                if let dx = c.dx {
                    for b in layer.blobs { b.zeroDiff() }
                    y.setDiff(c.dy)
                    layer.backward(top: [y], propagateDown: [true], bottom: [x])
                    be = ConformanceSupport.relativeError(x.diffArray, dx)
                    #expect(be <= backwardTolerance, "\(c.name)\(place ? " in place" : ""): backward error \(be)",
                            sourceLocation: sourceLocation)
                    if !c.dslope.isEmpty {
                        se = ConformanceSupport.relativeError(layer.blobs[0].diffArray, c.dslope)
                        #expect(se <= backwardTolerance, "\(c.name)\(place ? " in place" : ""): slope diff error \(se)",
                                sourceLocation: sourceLocation)
                    }
                }
                worst = (max(worst.0, fe), max(worst.1, be, se))
                print("neuron fixture \(c.name)\(place ? " (in place)" : ""): forward \(fe), backward \(be)\(c.dslope.isEmpty ? "" : ", slope diff \(se)")")
            }
        }
        return worst
    }
}
