import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Shared by the conformance tests: fixture paths, HDF5 reads through the project's own wrapper,
/// the fixture READMEs' comparison rule, and an observer that copies every layer's output and
/// bottom gradient as the net runs.
enum ConformanceSupport {
    /// The package root, found from this file's path.
    static var packageRoot: String { InitDiagTests.packageRoot() }

    static func reference(_ relative: String) -> String { packageRoot + "/Fixtures/reference/" + relative }

    /// A fresh directory under the system temp dir; the caller removes it.
    static func makeTempDir(_ tag: String) throws -> String {
        var template = Array("\(NSTemporaryDirectory())/initdiag-\(tag)-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw InputError("mkdtemp failed") }
        return String(cString: p)
    }

    /// A dataset read as doubles (float32 datasets are widened exactly).
    static func doubles(_ file: HDF5File, _ path: String) throws -> (shape: [Int], values: [Double]) {
        try file.openDataset(path).readDoubles()
    }

    static func floats(_ file: HDF5File, _ path: String) throws -> (shape: [Int], values: [Float]) {
        try file.openDataset(path).readFloats()
    }

    /// Builds a net from a NetParameter with the declared fillers (none in the fixtures: they
    /// fill constant 0 and the weights are loaded afterwards).
    static func buildNet(_ param: NetParameter, phase: Phase, seed: UInt32 = 1) throws -> Net {
        let initializer = ParameterInitializer(scheme: Scheme())
        return try Net(param, state: NetState(phase: phase),
                       context: LayerContext(phase: phase, rng: RandomSource(seed: seed)),
                       initializer: initializer.initialize)
    }

    /// The fixture README's rule: max |actual − expected| relative to max |expected| (per dataset,
    /// as a whole). Returns that ratio; a count mismatch is a failure (∞).
    static func relativeError(_ actual: [Float], _ expected: [Double]) -> Double {
        guard actual.count == expected.count, !expected.isEmpty else { return .infinity }
        var maxDiff = 0.0, maxRef = 0.0
        for (a, e) in zip(actual, expected) {
            let d = abs(Double(a) - e)
            if !(d <= maxDiff) { maxDiff = d.isNaN ? .infinity : d }
            maxRef = max(maxRef, abs(e))
        }
        if maxRef == 0 { return maxDiff == 0 ? 0 : .infinity }
        return maxDiff / maxRef
    }

    static func maxAbs(_ values: [Double]) -> Double { values.reduce(0) { max($0, abs($1)) } }
    static func maxAbsDiff(_ a: [Float], _ b: [Double]) -> Double {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).reduce(0) { max($0, abs(Double($1.0) - $1.1)) }
    }
}

/// Copies each layer's first top right after its forward and the diff of its bottom 0 right
/// after its backward: the fixtures key values by layer, and an in-place layer's blob is
/// overwritten by the layers after it.
final class ConformanceCapture: NetObserver {
    var forward: [String: [Float]] = [:]
    var backward: [String: [Float]] = [:]

    func netDidForward(layer index: Int, net: Net) {
        guard let top = net.topVecs[index].first else { return }
        forward[net.layerParams[index].name] = top.dataArray
    }

    func netDidBackward(layer index: Int, net: Net) {
        guard let bottom = net.bottomVecs[index].first, net.bottomNeedsBackward[index].first == true else { return }
        backward[net.layerParams[index].name] = bottom.diffArray
    }
}

/// Collects (dataset, max relative error) pairs and reports each against its tolerance.
struct ConformanceReport {
    var rows: [(name: String, error: Double)] = []
    var worst: (name: String, error: Double) { rows.max { $0.error < $1.error } ?? ("-", 0) }

    mutating func check(_ name: String, _ actual: [Float]?, _ expected: [Double], tolerance: Double,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        guard let actual else {
            Issue.record("\(name): no value captured", sourceLocation: sourceLocation)
            return
        }
        let e = ConformanceSupport.relativeError(actual, expected)
        rows.append((name, e))
        #expect(e <= tolerance, "\(name): max|Δ|/max|expected| = \(e) > \(tolerance) (\(actual.count) vs \(expected.count) values)",
                sourceLocation: sourceLocation)
    }

    func summary(_ title: String) -> String {
        let w = worst
        return "\(title): \(rows.count) datasets, largest relative error \(String(format: "%.3g", w.error)) (\(w.name))"
    }
}
