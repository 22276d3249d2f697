import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Every file in Fixtures/prototxt/malformed/ must fail with exactly the one-line message in its
/// sidecar NAME.expected. Files named solver_* are read as solvers, the rest as nets. The path in
/// the message is the bare file name, so the sidecars do not depend on where the package lives.
@Suite struct PrototxtMalformedCorpusTests {
    static let folder = "prototxt/malformed"

    static var cases: [String] {
        PrototxtFixtures.list(folder).filter { $0.hasSuffix(".prototxt") }
    }

    @Test func corpusIsLargeAndComplete() {
        let files = PrototxtFixtures.list(Self.folder)
        let inputs = Set(files.filter { $0.hasSuffix(".prototxt") }.map { String($0.dropLast(".prototxt".count)) })
        let expected = Set(files.filter { $0.hasSuffix(".expected") }.map { String($0.dropLast(".expected".count)) })
        #expect(inputs.count >= 35)
        #expect(inputs == expected, "every input needs a sidecar and every sidecar an input")
        #expect(files.count == inputs.count + expected.count, "unexpected files in the corpus folder")
    }

    @Test(arguments: cases)
    func failsWithExpectedMessage(_ file: String) throws {
        let bytes = try PrototxtFixtures.bytes("\(Self.folder)/\(file)")
        let stem = String(file.dropLast(".prototxt".count))
        let message = PrototxtFixtures.inputErrorMessage {
            if file.hasPrefix("solver_") {
                _ = try Prototxt.parseSolver(bytes, path: file)
            } else {
                _ = try Prototxt.parseNet(bytes, path: file)
            }
        }
        let sidecar = try PrototxtFixtures.bytes("\(Self.folder)/\(stem).expected")
        let expected = String(decoding: sidecar, as: UTF8.self).trimmingSuffix("\n")
        #expect(message == expected, "\(file)")
        // One line, starting with the file name and a place.
        #expect(message.map { !$0.contains("\n") && $0.hasPrefix(file + ":") } == true)
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var s = self
        while s.hasSuffix(suffix) { s.removeLast(suffix.count) }
        return s
    }
}
