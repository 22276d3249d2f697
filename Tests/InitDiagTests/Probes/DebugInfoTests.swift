import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Caffe's debug_info wording (net.cpp ForwardDebugInfo/BackwardDebugInfo, Net::Backward), so a
/// user can diff our log against a Caffe log line by line.
@Suite struct DebugInfoTests {
    /// One training iteration of the tiny net with debug_info on: its log lines and result.
    func runWithDebugInfo() throws -> (lines: [String], result: TrainingResult) {
        var setup = try RunSetup.load(solverPath: fixture("nets/tiny_cifar.solver.prototxt"), netPath: nil, data: "synthetic",
                                      scheme: Scheme(), seed: nil, batchSize: 4)
        setup.solver.debugInfo = true
        setup.solver.display = 1
        var options = TrainingOptions()
        options.iterations = 1
        options.testIterations = 0
        var lines: [String] = []
        let trainer = try Trainer(setup: setup, options: options) { e in if case .log(let l) = e.kind { lines.append(l) } }
        let result = try trainer.run()
        return (lines, result)
    }

    @Test func linesHaveCaffesWordingAndStatistic() throws {
        let lines = try runWithDebugInfo().lines
        let number = #"-?[0-9.]+(e[-+][0-9]+)?"#
        func has(_ pattern: String) -> Bool { lines.contains { $0.range(of: "^" + pattern + "$", options: .regularExpression) != nil } }
        #expect(has(#"    \[Forward\] Layer data, top blob data data: "# + number))
        #expect(has(#"    \[Forward\] Layer conv1, top blob conv1 data: "# + number))
        #expect(has(#"    \[Forward\] Layer conv1, param blob 0 data: "# + number))
        #expect(has(#"    \[Forward\] Layer conv1, param blob 1 data: "# + number))
        #expect(has(#"    \[Backward\] Layer fc1, bottom blob pool2 diff: "# + number))
        #expect(has(#"    \[Backward\] Layer conv1, param blob 0 diff: "# + number))
        // The data layer needs no backward, and conv1's bottom (the data) takes no gradient.
        #expect(!lines.contains { $0.contains("[Backward] Layer conv1, bottom blob") })
        #expect(has(#"    \[Backward\] All net params \(data, diff\): L1 norm = \("# + number + ", " + number + #"\); L2 norm = \("# + number + ", " + number + #"\)"#))
        // Forward lines come in net order, before the backward lines, which run in reverse.
        let f = lines.firstIndex { $0.contains("[Forward] Layer conv1, top") }!
        let b = lines.firstIndex { $0.contains("[Backward] Layer fc1") }!
        let b2 = lines.firstIndex { $0.contains("[Backward] Layer conv1") }!
        #expect(f < b && b < b2)
    }

    /// Caffe prints each layer's line right after its forward (backward): conv1's top before the
    /// in-place relu1 overwrites it, pool1's bottom diff before relu1 masks it.
    @Test func linesAreTakenRightAfterEachLayer() throws {
        let (lines, result) = try runWithDebugInfo()
        func value(_ prefix: String) -> Double? {
            lines.first { $0.hasPrefix(prefix) }.flatMap { Double($0.split(separator: " ").last!) }
        }
        let conv = try #require(value("    [Forward] Layer conv1, top blob conv1 data: "))
        let relu = try #require(value("    [Forward] Layer relu1, top blob conv1 data: "))
        // The probe records the same blobs at the same moments: mean_abs before and after the ReLU.
        let probeConv = try #require(result.record.layers.first { $0.name == "conv1" }?.series["forward/mean_abs"]?.first)
        let probeReLU = try #require(result.record.layers.first { $0.name == "relu1" }?.series["forward/mean_abs"]?.first)
        #expect(abs(conv - probeConv) <= 1e-5 * probeConv && abs(relu - probeReLU) <= 1e-5 * probeReLU)
        #expect(conv > relu * 1.05)  // |x| averages more than max(x, 0)
        let poolDiff = try #require(value("    [Backward] Layer pool1, bottom blob conv1 diff: "))
        let reluDiff = try #require(value("    [Backward] Layer relu1, bottom blob conv1 diff: "))
        #expect(poolDiff > reluDiff)  // the mask zeroes part of it
    }

    @Test func statisticIsMeanAbsoluteValue() {
        // asum/count printed as a C++ stream prints a float (%g, 6 significant digits).
        let b = Blob(shape: [4])
        b.setData([1, -2, 3, -4.5])
        #expect(DebugInfo.format(DebugInfo.meanAbs(b.data, b.count)) == "2.625")
        #expect(DebugInfo.format(1.0 / 3.0) == "0.333333")
        #expect(DebugInfo.format(1.5e-7) == "1.5e-07")
    }
}
