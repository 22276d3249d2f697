import Foundation
import Testing

/// The repository's own rules, checked on its files: each stage imports only the stages before it
/// (docs/architecture.md), comments cite files inside the repository, and no absolute path of a
/// development machine appears in code, tests or scripts.
@Suite struct LayeringTests {
    /// The modules each target may import (besides Foundation, Dispatch, Glibc and the like).
    static let allowed: [String: Set<String>] = [
        "InitDiagCore": [],
        "InitDiagTrace": ["InitDiagCore", "CHDF5"],
        "InitDiagEngine": ["InitDiagCore", "InitDiagTrace", "CBLAS", "CLMDB", "CLevelDB", "CImageCodecs", "CStatistics", "CZlib", "SwiftProtobuf"],
        "InitDiagDiagnosis": ["InitDiagCore", "InitDiagTrace"],
    ]
    static let project: Set<String> = ["InitDiag", "InitDiagCore", "InitDiagTrace", "InitDiagEngine",
                                       "InitDiagDiagnosis", "InitDiagBench", "CBLAS", "CHDF5", "CLMDB",
                                       "CLevelDB", "CImageCodecs", "CStatistics", "CZlib", "SwiftProtobuf"]

    static func swiftFiles(under dir: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
        return e.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }.map { dir + "/" + $0 }
    }

    @Test func eachStageImportsOnlyEarlierStages() throws {
        let root = packageRoot()
        var violations: [String] = []
        for (target, ok) in Self.allowed {
            let files = Self.swiftFiles(under: root + "/Sources/" + target)
            #expect(!files.isEmpty, "no sources found for \(target)")
            for f in files {
                let text = try String(contentsOfFile: f, encoding: .utf8)
                for line in text.split(separator: "\n") {
                    let words = line.split(separator: " ").map(String.init)
                    guard let i = words.firstIndex(of: "import"), i + 1 < words.count,
                          words[..<i].allSatisfy({ $0.hasPrefix("@") }) else { continue }
                    let module = words[i + 1]
                    if Self.project.contains(module) && !ok.contains(module) {
                        violations.append("\(f.dropFirst(root.count + 1)): import \(module)")
                    }
                }
            }
        }
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    @Test func noCitationOutsideTheRepositoryNoMachinePaths() throws {
        let root = packageRoot()
        var files = ["Sources", "Tests", "scripts", "Fuzz"].flatMap { dir -> [String] in
            guard let e = FileManager.default.enumerator(atPath: root + "/" + dir) else { return [] }
            return e.compactMap { $0 as? String }
                .filter { [".swift", ".py", ".sh", ".h", ".cpp", ".md"].contains(where: $0.hasSuffix) }
                .map { root + "/" + dir + "/" + $0 }
        }
        files.append(root + "/README.md")
        // Built from pieces so that this file does not match itself.
        let outside = ["SPEC" + ".md", "SEMANTICS" + ".md", "TOOLCHAIN" + ".md", "SPEC" + " §", "SEMANTICS" + " §"]
        let machine = ["/" + "work/", "/" + "home/", "/" + "Users/"]
        var hits: [String] = []
        for f in files {
            guard let text = try? String(contentsOfFile: f, encoding: .utf8) else { continue }
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                for needle in outside + machine where line.contains(needle) {
                    hits.append("\(f.dropFirst(root.count + 1)):\(n + 1): \(needle)")
                }
            }
        }
        #expect(hits.isEmpty, "\(hits.prefix(40).joined(separator: "\n"))")
    }
}
