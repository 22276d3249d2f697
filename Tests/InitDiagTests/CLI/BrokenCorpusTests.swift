import Foundation
import Testing

/// One case of Fixtures/broken/<kind>/<case>/case.json (see Fixtures/broken/README.md).
struct BrokenCase: Decodable {
    var args: [String]
    var exit: Int32
    /// The exact error line, when given.
    var stderr: String?
    var stderr_contains: [String]
    var why: String
    /// Paths (with placeholders) that must exist after the run.
    var files_exist: [String]?
    /// Paths that must not exist after the run (nothing escaped the output folder).
    var files_absent: [String]?
    /// When given, every file the run creates in {tmp} lies under {tmp}/<only_under>.
    var only_under: String?
}

@Suite("CLI broken-input corpus")
struct BrokenCorpusTests {
    static let corpus = CLIHarness.packageRoot.appendingPathComponent("Fixtures/broken")

    /// "<kind>/<case>" for every folder holding a case.json.
    static let caseNames: [String] = {
        let fm = FileManager.default
        var names: [String] = []
        for kind in (try? fm.contentsOfDirectory(atPath: corpus.path)) ?? [] {
            let kindDir = corpus.appendingPathComponent(kind)
            for c in (try? fm.contentsOfDirectory(atPath: kindDir.path)) ?? []
            where fm.fileExists(atPath: kindDir.appendingPathComponent(c).appendingPathComponent("case.json").path) {
                names.append("\(kind)/\(c)")
            }
        }
        return names.sorted()
    }()

    @Test("the corpus has at least 60 cases covering every input kind")
    func corpusCoverage() {
        #expect(Self.caseNames.count >= 60, "only \(Self.caseNames.count) cases")
        let kinds = Set(Self.caseNames.map { String($0.split(separator: "/")[0]) })
        for k in ["prototxt", "solver", "lmdb", "cifar10", "hdf5", "caffemodel", "trace", "cli", "onnx"] {
            #expect(kinds.contains(k), "no case of kind \(k)")
        }
        // Most cases are refusals; the accepted ones check that hardening did not reject valid input.
        let specs = Self.caseNames.compactMap { try? Self.load($0) }
        #expect(specs.count == Self.caseNames.count, "a case.json does not decode")
        #expect(specs.filter { $0.exit == 2 }.count >= 60)
    }

    static func load(_ name: String) throws -> BrokenCase {
        let data = try Data(contentsOf: corpus.appendingPathComponent(name).appendingPathComponent("case.json"))
        return try JSONDecoder().decode(BrokenCase.self, from: data)
    }

    @Test("each broken input: expected exit code, one error line, no crash", arguments: caseNames)
    func runCase(_ name: String) throws {
        let spec = try Self.load(name)
        let caseDir = Self.corpus.appendingPathComponent(name)
        let tmp = try CLIHarness.temporaryDirectory("broken")
        defer { try? FileManager.default.removeItem(at: tmp) }
        func fill(_ s: String) -> String {
            s.replacingOccurrences(of: "{case}", with: caseDir.path)
                .replacingOccurrences(of: "{tmp}", with: tmp.path)
                .replacingOccurrences(of: "{broken}", with: Self.corpus.path)
        }
        // LMDB's reader lock file is created beside data.mdb even for reading; it is not an output.
        let before = CLIHarness.files(under: caseDir).filter { !$0.hasSuffix("lock.mdb") }
        let out = try CLIHarness.run(spec.args.map(fill), in: tmp, timeout: 30)
        let context = "\(name) (\(spec.why)); stderr:\n\(out.stderr)"

        #expect(!out.signaled, "ended by signal \(out.status): \(context)")
        for marker in ["Fatal error", "Program crashed", "Swift runtime failure", "internal error", "Backtrac"] {
            #expect(!out.stderr.contains(marker), "\(marker): \(context)")
        }
        #expect(out.status == spec.exit, "exit \(out.status), expected \(spec.exit): \(context)")
        let lines = out.errorLines
        if spec.exit == 0 {
            #expect(lines.isEmpty, "an accepted input printed errors: \(context)")
        } else {
            #expect(lines.count == 1, "\(lines.count) error lines, expected one: \(context)")
            #expect(lines.first?.hasPrefix("initdiag: error: ") == true, "\(context)")
            if let exact = spec.stderr { #expect(lines.first == fill(exact), "\(context)") }
            for part in spec.stderr_contains {
                #expect(lines.first?.contains(fill(part)) == true, "missing \"\(fill(part))\": \(context)")
            }
        }
        // Each case is a tiny net with batch 2 and one iteration; generous for a loaded machine.
        #expect(out.seconds < 15, "took \(out.seconds) s: \(context)")

        for p in spec.files_exist ?? [] { #expect(FileManager.default.fileExists(atPath: fill(p)), "missing \(fill(p)): \(context)") }
        for p in spec.files_absent ?? [] { #expect(!FileManager.default.fileExists(atPath: fill(p)), "written outside the output folder: \(fill(p))") }
        if let sub = spec.only_under {
            let stray = CLIHarness.files(under: tmp).filter { !$0.hasPrefix(sub + "/") && !$0.hasPrefix(".std") }
            #expect(stray.isEmpty, "files outside \(sub)/: \(stray) — \(context)")
        }
        // Nothing is ever written into the corpus itself.
        #expect(CLIHarness.files(under: caseDir).filter { !$0.hasSuffix("lock.mdb") } == before, "the run wrote into its input folder: \(context)")
    }
}
