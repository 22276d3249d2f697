import Foundation
import Testing
@testable import InitDiag

/// Caffe's debug_info wording (net.cpp ForwardDebugInfo/BackwardDebugInfo, Net::Backward), so a
/// user can diff our log against a Caffe log line by line.
@Suite struct DebugInfoTests {
    @Test func linesHaveCaffesWordingAndStatistic() throws {
        var setup = try RunSetup.load(solverPath: fixture("nets/tiny_cifar.solver.prototxt"), netPath: nil, data: "synthetic",
                                      scheme: Scheme(), seed: nil, batchSize: 4)
        setup.solver.debugInfo = true
        setup.solver.display = 1
        var options = TrainingOptions()
        options.iterations = 1
        options.testIterations = 0
        var lines: [String] = []
        let trainer = try Trainer(setup: setup, options: options) { e in if case .log(let l) = e.kind { lines.append(l) } }
        _ = try trainer.run()
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

    @Test func statisticIsMeanAbsoluteValue() {
        // asum/count printed as a C++ stream prints a float (%g, 6 significant digits).
        let b = Blob(shape: [4])
        b.setData([1, -2, 3, -4.5])
        #expect(DebugInfo.format(DebugInfo.meanAbs(b.data, b.count)) == "2.625")
        #expect(DebugInfo.format(1.0 / 3.0) == "0.333333")
        #expect(DebugInfo.format(1.5e-7) == "1.5e-07")
    }
}
