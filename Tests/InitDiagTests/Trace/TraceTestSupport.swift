import Foundation
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Helpers for the Trace tests: scratch folders and the external `h5dump` (Debian hdf5-tools), so
/// every file is also checked by a reader that is not ours.
enum TraceTestSupport {
    /// A fresh folder under the system temporary directory.
    static func scratchFolder(_ tag: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("initdiag-trace-tests-\(tag)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static let h5dumpPath = "/usr/bin/h5dump"

    /// Runs h5dump with `arguments`; returns its exit status and stdout + stderr.
    static func h5dump(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: h5dumpPath)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        // Read to the end before waiting: a full pipe would otherwise block h5dump.
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The values h5dump prints in the DATA block of a dataset, e.g. "(0): 1, 2, 3" → [1, 2, 3].
    static func dumpedNumbers(_ output: String) -> [Double] {
        guard let dataRange = output.range(of: "DATA {") else { return [] }
        var numbers: [Double] = []
        for line in output[dataRange.upperBound...].split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("}") { break }
            guard let colon = text.firstIndex(of: ":") else { continue }
            for token in text[text.index(after: colon)...].split(separator: ",") {
                let t = token.trimmingCharacters(in: .whitespaces)
                if let v = Double(t) { numbers.append(v) } else if t == "nan" || t == "-nan" { numbers.append(.nan) }
            }
        }
        return numbers
    }
}
