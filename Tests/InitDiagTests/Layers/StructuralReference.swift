import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// The committed float64 reference of the structural/normalisation layers
/// (Fixtures/reference/structural/expected.h5, made by scripts/reference/make_structural_reference.py;
/// its README lists the cases). `check` runs a layer on one case — bottoms, parameters and top
/// diffs from the file — and compares every top, bottom 0's diff and every parameter diff with
/// the expected values by the fixture rule max|actual − expected| / max|expected|.
enum StructuralReference {
    static var path: String { ConformanceSupport.reference("structural/expected.h5") }

    struct Errors: CustomStringConvertible {
        var forward = 0.0, backward = 0.0
        var description: String { "forward \(forward), backward \(backward)" }
    }

    @discardableResult
    static func check(_ name: String, tolerance: Double = 1e-5, propagate: [Bool]? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation,
                      _ make: () throws -> Layer) throws -> Errors {
        let file = try HDF5File.open(path: path)
        let group = try file.openGroup(name)
        let names = Set(try group.childNames())
        func floats(_ key: String) throws -> (shape: [Int], values: [Float]) { try ConformanceSupport.floats(file, "\(name)/\(key)") }
        func doubles(_ key: String) throws -> [Double] { try ConformanceSupport.doubles(file, "\(name)/\(key)").values }
        var bottoms: [Blob] = []
        while names.contains("bottom\(bottoms.count)") {
            let (shape, values) = try floats("bottom\(bottoms.count)")
            let b = Blob(name: "bottom\(bottoms.count)", shape: shape)
            b.setData(values)
            bottoms.append(b)
        }
        var tops: [Blob] = []
        while names.contains("top\(tops.count)") { tops.append(Blob(name: "top\(tops.count)")) }
        let layer = try make()
        try layer.setUp(bottom: bottoms, top: tops)
        for (i, blob) in layer.blobs.enumerated() {
            let (shape, values) = try floats("param\(i)")
            #expect(blob.shape == shape, "\(name): param \(i) shape \(blob.shape) vs \(shape)", sourceLocation: sourceLocation)
            blob.setData(values)
        }
        layer.forward(bottom: bottoms, top: tops)
        var errors = Errors()
        for (i, t) in tops.enumerated() {
            let expected = try ConformanceSupport.doubles(file, "\(name)/top\(i)")
            #expect(t.shape.reduce(1, *) == expected.values.count, "\(name): top \(i) shape \(t.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
            errors.forward = max(errors.forward, ConformanceSupport.relativeError(t.dataArray, expected.values))
        }
        if names.contains("top_diff0") {
            for (i, t) in tops.enumerated() { t.setDiff(try floats("top_diff\(i)").values) }
            for b in layer.blobs { b.zeroDiff() }
            let down = propagate ?? bottoms.indices.map { $0 == 0 }
            layer.backward(top: tops, propagateDown: down, bottom: bottoms)
            if names.contains("bottom_diff0") {
                errors.backward = max(errors.backward, ConformanceSupport.relativeError(bottoms[0].diffArray, try doubles("bottom_diff0")))
            }
            for (i, blob) in layer.blobs.enumerated() {
                errors.backward = max(errors.backward, ConformanceSupport.relativeError(blob.diffArray, try doubles("param_diff\(i)")))
            }
        }
        #expect(errors.forward <= tolerance && errors.backward <= tolerance, "\(name): \(errors)", sourceLocation: sourceLocation)
        print("structural reference \(name): max relative error \(errors)")
        return errors
    }

    /// Builds, sets up and fills a layer for a gradient check: bottoms uniform in [lo, hi).
    static func gradientCheck(_ make: () throws -> Layer, shapes: [[Int]], lo: Float = -1, hi: Float = 1,
                              checkBottoms: [Int]? = nil, checker: GradientChecker = GradientChecker(),
                              tops: Int = 1, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let layer = try make()
        let bottoms = shapes.enumerated().map { CaffeLayerTestKit.blob($1, seed: UInt32(3 + $0), lo, hi, name: "b\($0)") }
        let topBlobs = (0..<tops).map { Blob(name: "t\($0)") }
        try layer.setUp(bottom: bottoms, top: topBlobs)
        for (i, blob) in layer.blobs.enumerated() { fillUniform(blob, seed: UInt32(20 + i)) }
        let checked = checker.check(layer, bottom: bottoms, top: topBlobs, checkBottoms: checkBottoms,
                                    sourceLocation: sourceLocation)
        #expect(checked > 0, sourceLocation: sourceLocation)
    }

    static func expectError(_ fragment: String, sourceLocation: SourceLocation = #_sourceLocation,
                            _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected an InputError containing '\(fragment)'", sourceLocation: sourceLocation)
        } catch let e as InputError {
            #expect(e.message.contains(fragment), "\(e.message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }
}
