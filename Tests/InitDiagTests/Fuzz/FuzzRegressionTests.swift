import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Every input the fuzzers found a crash with (Fixtures/fuzz/regressions/<target>/), and every
/// committed seed (Fixtures/fuzz/seeds/<target>/), goes through the same library calls and checks
/// as its fuzz target (Fuzz/Sources/<target>/) and must end in success or an InputError — never a
/// trap, never another error. A trap aborts the test process, which fails the run just as loudly.
@Suite struct FuzzRegressionTests {
    static let folder = "fuzz/regressions"
    static let targets = ["fuzz-prototxt", "fuzz-solver", "fuzz-caffemodel", "fuzz-blobproto-datum", "fuzz-scheme",
                          "fuzz-statistics", "fuzz-onnx"]
    /// The fuzz targets' memory budget, so a huge declared shape is refused the same way here.
    static let memory = MemoryGuard(availableBytes: 1 << 30)

    static var cases: [String] {
        targets.flatMap { t in PrototxtFixtures.list("\(folder)/\(t)").map { "\(t)/\($0)" } }
    }

    /// The committed seed corpora hold the same contract (they start every fuzzing run).
    static let seedFolder = "fuzz/seeds"
    static var seedCases: [String] {
        targets.flatMap { t in PrototxtFixtures.list("\(seedFolder)/\(t)").map { "\(t)/\($0)" } }
    }

    /// Runs `body`; an InputError counts as a clean rejection, anything else thrown is recorded.
    static func successOrInputError(_ what: String, _ body: () throws -> Void) -> Bool {
        do {
            try body()
            return true
        } catch let e as InputError {
            #expect(!e.message.contains("\n"), "\(what): InputError message spans lines: \(e.message)")
            return false
        } catch {
            Issue.record("\(what) threw \(type(of: error)), not InputError: \(error)")
            return false
        }
    }

    static func replay(target: String, bytes: [UInt8], name: String) {
        switch target {
        case "fuzz-prototxt":
            var parsed: NetParameter?
            _ = successOrInputError("parseNet(\(name))") { parsed = try Prototxt.parseNet(bytes, path: name) }
            guard let net = parsed else { return }
            let text = Prototxt.format(net)
            do {
                let again = try Prototxt.parseNet(text, path: name)
                #expect(Prototxt.format(again) == text, "\(name): format is not a fixed point")
                if !text.lowercased().contains("nan") {
                    #expect(PrototxtFixtures.normalized(again) == PrototxtFixtures.normalized(net),
                            "\(name): round trip changed the net")
                }
            } catch {
                Issue.record("\(name): formatted net does not parse back: \(error)")
            }
            let builds: [(Phase, Scheme)] = [(.TRAIN, Scheme()), (.TEST, Scheme()),
                                             (.TRAIN, Scheme(weights: .torchDefault, biases: .torchDefault, batchNorm: true))]
            for (phase, scheme) in builds {
                _ = successOrInputError("NetInspection(\(name), \(phase), \(scheme))") {
                    let inspection = try NetInspection(param: net, phase: phase, scheme: scheme, memory: memory)
                    _ = inspection.table()
                    _ = inspection.json()
                }
            }
        case "fuzz-solver":
            _ = successOrInputError("parseSolver(\(name))") {
                let (solver, _) = try Prototxt.parseSolver(bytes, path: name)
                _ = Prototxt.format(solver)
            }
        case "fuzz-caffemodel":
            var decoded: NetParameter?
            _ = successOrInputError("CaffeModel.decode(\(name))") { decoded = try CaffeModel.decode(bytes, path: name) }
            if let net = decoded {
                let encoded = CaffeModel.encode(net)
                _ = successOrInputError("re-decode(\(name))") {
                    let again = try CaffeModel.decode(encoded, path: name)
                    #expect(CaffeModel.encode(again) == encoded, "\(name): encode ∘ decode is not a fixed point")
                }
            }
        case "fuzz-blobproto-datum":
            _ = successOrInputError("BlobProto.decode(\(name))") {
                let blob = try BlobProto.decode(bytes)
                _ = blob.resolvedShape
                _ = blob.values
                let again = try BlobProto.decode(blob.encode())
                #expect(again.encode() == blob.encode(), "\(name): BlobProto round trip")
            }
            _ = successOrInputError("Datum.decode(\(name))") {
                let datum = try Datum.decode(bytes)
                let again = try Datum.decode(datum.encode())
                #expect(again.encode() == datum.encode(), "\(name): Datum round trip")
                // The Data layer's fast decoder agrees with the general one.
                let record = DataRecord()
                let encoded = try bytes.withUnsafeBytes { try DatumCodec.decode($0, into: record) }
                #expect(record.channels == Int(datum.channels) && record.height == Int(datum.height)
                        && record.width == Int(datum.width) && record.label == datum.label
                        && record.bytes == datum.data && encoded == datum.encoded
                        && record.floats.map(\.bitPattern) == datum.floatData.map(\.bitPattern),
                        "\(name): DatumCodec.decode(into:) differs from Datum.decode")
            }
            _ = successOrInputError("SolverState.decode(\(name))") {
                let state = try SolverState.decode(bytes, path: name)
                let again = try SolverState.decode(state.encode(), path: name)
                #expect(again.encode() == state.encode(), "\(name): SolverState round trip")
            }
        case "fuzz-scheme":
            let text = String(decoding: bytes, as: UTF8.self)
            _ = successOrInputError("Scheme(parsing: \(name))") {
                let scheme = try Scheme(parsing: text)
                let again = try Scheme(parsing: scheme.description)
                #expect(again == scheme && again.slug == scheme.slug)
            }
            _ = successOrInputError("Scheme.parseList(\(name))") { _ = try Scheme.parseList(text) }
        case "fuzz-onnx":
            var imported: ONNXImportedNet?
            _ = successOrInputError("ONNXImport(\(name))") { imported = try ONNXImport.importModel(bytes: bytes, path: name) }
            guard let net = imported?.net else { return }
            #expect(imported!.warnings.allSatisfy { !$0.contains("\n") })
            _ = successOrInputError("parseNet(format(ONNX \(name)))") {
                let back = try Prototxt.parseNet(Prototxt.format(net), path: name)
                #expect(back.layer.map(\.type) == net.layer.map(\.type))
            }
        case "fuzz-statistics":
            // The target's blob: bytes 0–2 the shape, byte 3 the kernel copy, then Float bits.
            guard bytes.count >= 8 else { return }
            let shape = [1 + Int(bytes[0] % 9), 1 + Int(bytes[1] % 5), 1 + Int(bytes[2] % 13)]
            let count = shape.reduce(1, *), floats = (bytes.count - 4) / 4
            let x = (0..<count).map { i -> Float in
                let k = 4 + 4 * (i % floats)
                return Float(bitPattern: UInt32(bytes[k]) | UInt32(bytes[k + 1]) << 8 | UInt32(bytes[k + 2]) << 16 | UInt32(bytes[k + 3]) << 24)
            }
            let y = x.map { v in (v < 0 ? 0 : v) + 0 * (0 < v ? 0 : v) }
            var out = x
            let (sx, sy) = out.withUnsafeMutableBufferPointer {
                BlobStatistics(threads: 1).computeReLUForward(UnsafeBufferPointer($0), shape: shape, output: $0.baseAddress)
            }
            #expect(zip(out, y).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }, "\(name): ReLU output")
            for (s, values) in [(sx, x), (sy, y)] {
                let r = ReferenceStats(values, shape: shape)
                #expect(s.nonfiniteCount == r.nonfinite, "\(name): nonfinite_count")
                let scale = max(abs(r.mean.isNaN ? 0 : r.mean) + (r.std.isNaN ? 0 : r.std), Double.leastNormalMagnitude)
                #expect((s.std.isNaN && r.std.isNaN) || abs(s.std - r.std) <= 1e-3 * scale, "\(name): std \(s.std) vs \(r.std)")
            }
        default:
            Issue.record("no replay for fuzz target folder '\(target)'")
        }
    }

    @Test func regressionFoldersBelongToTargets() {
        let folders = PrototxtFixtures.list(Self.folder)
        #expect(Set(folders).isSubset(of: Set(Self.targets)), "unknown folders: \(folders)")
    }

    @Test(arguments: cases)
    func regressionInputRunsCleanly(_ entry: String) throws {
        let target = String(entry.prefix { $0 != "/" })
        let name = String(entry.dropFirst(target.count + 1))
        let bytes = try PrototxtFixtures.bytes("\(Self.folder)/\(entry)")
        Self.replay(target: target, bytes: bytes, name: name)
    }

    @Test func everyTargetHasSeeds() {
        for t in Self.targets {
            #expect(PrototxtFixtures.list("\(Self.seedFolder)/\(t)").count >= 8, "\(t) has too few seeds")
        }
    }

    /// The prototxt seeds reach past the parser: dozens parse, and some of those build a net, so
    /// replaying them exercises the builder and not only the reader's error paths.
    @Test func prototxtSeedsReachTheNetBuilder() throws {
        var parsed = 0, built = 0
        for file in PrototxtFixtures.list("\(Self.seedFolder)/fuzz-prototxt") {
            let bytes = try PrototxtFixtures.bytes("\(Self.seedFolder)/fuzz-prototxt/\(file)")
            guard let net = try? Prototxt.parseNet(bytes, path: file) else { continue }
            parsed += 1
            if (try? NetInspection(param: net, phase: .TRAIN, memory: Self.memory)) != nil { built += 1 }
        }
        // The committed set (minimized for coverage, mostly reader error paths) has 52 nets that
        // parse and 10 that build for TRAIN.
        #expect(parsed >= 40 && built >= 8, "parsed \(parsed), built \(built)")
    }

    @Test(arguments: seedCases)
    func seedInputRunsCleanly(_ entry: String) throws {
        let target = String(entry.prefix { $0 != "/" })
        let name = String(entry.dropFirst(target.count + 1))
        let bytes = try PrototxtFixtures.bytes("\(Self.seedFolder)/\(entry)")
        Self.replay(target: target, bytes: bytes, name: name)
    }
}
