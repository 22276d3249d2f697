import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// parse → format → parse gives an equal value, on fixtures that use every field of every
/// message; a coverage check makes sure the fixtures really do.
@Suite struct PrototxtRoundTripTests {
    static let netFixture = "prototxt/every_field.prototxt"
    static let solverFixture = "prototxt/every_field_solver.prototxt"
    static let v1Fixture = "prototxt/v1_net.prototxt"

    @Test func netRoundTripsThroughText() throws {
        let net = try Prototxt.loadNet(path: PrototxtFixtures.path(Self.netFixture))
        let text = Prototxt.format(net)
        let again = try Prototxt.parseNet(text, path: "formatted.prototxt")
        #expect(PrototxtFixtures.normalized(again) == PrototxtFixtures.normalized(net))
        // Printing is canonical: a second round gives the same text.
        #expect(Prototxt.format(again) == text)
    }

    @Test func netRoundTripsThroughWire() throws {
        let net = try Prototxt.loadNet(path: PrototxtFixtures.path(Self.netFixture))
        let decoded = try CaffeModel.decode(CaffeModel.encode(net), path: "x.caffemodel")
        #expect(PrototxtFixtures.normalized(decoded) == PrototxtFixtures.normalized(net))
    }

    @Test func solverRoundTripsThroughText() throws {
        let path = PrototxtFixtures.path(Self.solverFixture)
        let (solver, notices) = try Prototxt.loadSolver(path: path)
        #expect(notices.isEmpty)
        let text = Prototxt.format(solver)
        let (again, _) = try Prototxt.parseSolver(text, path: path)
        #expect(PrototxtFixtures.normalized(again) == PrototxtFixtures.normalized(solver))
        #expect(Prototxt.format(again) == text)
    }

    /// The syntax forms of the fixture were read as the text format defines them.
    @Test func everyFieldValues() throws {
        let net = try Prototxt.loadNet(path: PrototxtFixtures.path(Self.netFixture))
        #expect(net.name == "every_field")
        #expect(net.forceBackward && net.debugInfo)
        #expect(net.state == NetState(phase: .TRAIN, level: -3, stage: ["deploy", "fast"]))
        // input + input_shape became an Input layer named "input", placed first.
        let input = try #require(net.layer.first)
        #expect(input.name == "input" && input.type == "Input" && input.top == ["extra_input"])
        #expect(input.inputParam?.shape == [BlobShape(dim: [2, 3, 16, 16])])  // 0x10 and octal 020
        #expect(net.input.isEmpty && net.inputShape.isEmpty)

        let data = try #require(net.layer.first { $0.name == "data" })
        #expect(data.include.count == 2 && data.include[1].phase == .TEST)  // `< phase: 1 >`
        #expect(data.include[0].minLevel == -1 && data.include[0].maxLevel == 7)
        #expect(data.include[0].stage == ["a"] && data.include[0].notStage == ["b"])
        let t = try #require(data.transformParam)
        #expect(t.meanFile == "mean.binaryproto")  // \x2e
        #expect(t.meanValue == [104, 117.5, 123])
        #expect(t.forceColor && t.forceGray && t.mirror && t.cropSize == 28)
        #expect(data.dataParam?.source == "/data/\"quoted\"\tlmdb")
        #expect(data.dataParam?.randSkip == 10 && data.dataParam?.batchSize == 64)
        // On current `layer`s Caffe does not move data_param's deprecated fields (V1 only).
        #expect(data.dataParam?.scale == 2.5 && data.dataParam?.meanFile == "legacy_mean.binaryproto")

        let conv = try #require(net.layer.first { $0.name == "conv1" })
        #expect(conv.lossWeight == [0.5, -0.0015])
        #expect(conv.param.count == 2 && conv.param[0].shareMode == .PERMISSIVE && conv.param[0].name == "w1")
        #expect(conv.param[1].lrMult == 0.1 && conv.param[1].decayMult == .infinity)
        #expect(conv.propagateDown == [true, false, true, false, true, false, true, false])
        #expect(conv.blobs[0].data == [1.5, -2.25] && conv.blobs[0].diff == [0.125, -.infinity])
        #expect(conv.blobs[0].doubleData == [0.1, -1e300] && conv.blobs[0].resolvedShape == [2, 1])
        #expect(conv.blobs[1].resolvedShape == [1, 2, 3, 4])
        let c = try #require(conv.convolutionParam)
        #expect(c.pad == [1, 2] && c.kernelSize == [3, 5] && c.engine == .CAFFE && c.axis == -1)
        #expect(c.weightFiller?.varianceNorm == .AVERAGE && c.weightFiller?.sparse == 15)
        #expect(net.layer.first { $0.name == "relu1" }?.reluParam?.engine == .CAFFE)  // enum by number
        #expect(net.layer.first { $0.name == "loss" }?.lossParam?.effectiveNormalization == .BATCH_SIZE)
    }

    @Test func solverValues() throws {
        let path = PrototxtFixtures.path(Self.solverFixture)
        let (s, _) = try Prototxt.loadSolver(path: path)
        #expect(s.type == "Adam" && s.solverType == nil)
        #expect(s.randomSeed == Int64.min)
        #expect(s.testIter == [100, 50] && s.stepvalue == [3000, 6000])
        #expect(s.weightDecay == 0.0005 && s.delta == 1e-6)
        #expect(s.snapshotPrefix == "snapshots/run")
        // The inline V1 net was upgraded like a file, and knows where it came from.
        let inline = try #require(s.netParam)
        #expect(inline.layers.isEmpty && inline.layer.count == 1)
        #expect(inline.layer[0].type == "InnerProduct" && inline.layer[0].param.map(\.lrMult) == [1, 2])
        #expect(inline.sourcePath == path)
        #expect(s.testNetParam.map(\.name) == ["test_inline", "test_inline2"])
        #expect(s.testState.count == 2 && s.testState[1].level == 1 && s.testState[1].phase == .TEST)
    }

    // MARK: coverage

    /// Field names and types of every message, by proto name.
    static let schemas: [String: [(name: String, type: String)]] = {
        let types: [any CaffeMessage.Type] = [
            BlobShape.self, BlobProto.self, FillerParameter.self, NetState.self, NetStateRule.self,
            ParamSpec.self, TransformationParameter.self, LossParameter.self, AccuracyParameter.self,
            ConvolutionParameter.self, PoolingParameter.self, InnerProductParameter.self, ReLUParameter.self,
            DropoutParameter.self, BatchNormParameter.self, ScaleParameter.self, BiasParameter.self,
            SoftmaxParameter.self, InputParameter.self, EltwiseParameter.self, ConcatParameter.self,
            FlattenParameter.self, DataParameter.self, HDF5DataParameter.self, ImageDataParameter.self, LayerParameter.self,
            V1LayerParameter.self, NetParameter.self, SolverParameter.self,
            ContrastiveLossParameter.self, HingeLossParameter.self, InfogainLossParameter.self,
        ]
        var out: [String: [(name: String, type: String)]] = [:]
        for t in types { out[t.protoName] = t.fieldSummary }
        return out
    }()

    /// (message, field) pairs the text uses, following sub-messages unless `stop` names them.
    static func used(_ fields: [TextField], in message: String, stop: Set<String>, into seen: inout Set<String>) {
        for tf in fields {
            seen.insert("\(message).\(tf.name)")
            guard let type = schemas[message]?.first(where: { $0.name == tf.name })?.type,
                  type.hasPrefix("message ") else { continue }
            let sub = String(type.dropFirst("message ".count))
            if stop.contains("\(message).\(tf.name)") { continue }
            var values: [TextValue] = [tf.value]
            if case .list(let items) = tf.value.kind { values = items }
            for v in values { if case .message(let fs) = v.kind { used(fs, in: sub, stop: stop, into: &seen) } }
        }
    }

    /// Every (message, field) reachable from `root`, not descending through `stop`.
    static func all(from root: String, stop: Set<String>) -> Set<String> {
        var out: Set<String> = [], queue = [root], visited: Set<String> = []
        while let m = queue.popLast() {
            guard visited.insert(m).inserted, let fields = schemas[m] else { continue }
            for f in fields {
                out.insert("\(m).\(f.name)")
                if f.type.hasPrefix("message "), !stop.contains("\(m).\(f.name)") { queue.append(String(f.type.dropFirst(8))) }
            }
        }
        return out
    }

    static func coverage(_ fixture: String, root: String, stop: Set<String>, exempt: Set<String>) throws -> Set<String> {
        let tree = try TextParser.parse(try PrototxtFixtures.bytes(fixture))
        var seen: Set<String> = []
        used(tree, in: root, stop: stop, into: &seen)
        return all(from: root, stop: stop).subtracting(exempt).subtracting(seen)
    }

    @Test func netFixtureUsesEveryField() throws {
        // V1 `layers` have their own fixture; input_dim excludes input_shape (upgrade tests).
        let missing = try Self.coverage(Self.netFixture, root: "NetParameter", stop: ["NetParameter.layers"],
                                        exempt: ["NetParameter.layers", "NetParameter.input_dim"])
        #expect(missing.isEmpty, "fields missing from every_field.prototxt: \(missing.sorted())")
    }

    @Test func solverFixtureUsesEveryField() throws {
        // Inline nets are NetParameters, covered by the net fixture; type excludes solver_type.
        let missing = try Self.coverage(Self.solverFixture, root: "SolverParameter",
                                        stop: ["SolverParameter.net_param", "SolverParameter.train_net_param", "SolverParameter.test_net_param"],
                                        exempt: ["SolverParameter.type"])
        #expect(missing.isEmpty, "fields missing from every_field_solver.prototxt: \(missing.sorted())")
    }

    @Test func v1FixtureUsesEveryV1Field() throws {
        let tree = try TextParser.parse(try PrototxtFixtures.bytes(Self.v1Fixture))
        var seen: Set<String> = []
        for tf in tree where tf.name == "layers" {
            if case .message(let fs) = tf.value.kind { for f in fs { seen.insert(f.name) } }
        }
        let all = Set((Self.schemas["V1LayerParameter"] ?? []).map(\.name))
        #expect(all.subtracting(seen).isEmpty, "V1 fields missing from v1_net.prototxt: \(all.subtracting(seen).sorted())")
    }

    /// Caffe's enums are numbered 0, 1, 2, … in declaration order (caffe.proto), which
    /// ProtoEnum relies on.
    @Test func enumNumbersMatchCaffeProto() {
        #expect(Phase.TEST.protoNumber == 1)
        #expect(FillerParameter.VarianceNorm.AVERAGE.protoNumber == 2)
        #expect(LossParameter.NormalizationMode.NONE.protoNumber == 3)
        #expect(ComputeEngine.CUDNN.protoNumber == 2)
        #expect(PoolingParameter.PoolMethod.STOCHASTIC.protoNumber == 2)
        #expect(PoolingParameter.RoundMode.FLOOR.protoNumber == 1)
        #expect(EltwiseParameter.EltwiseOp.PROD.protoNumber == 0 && EltwiseParameter.EltwiseOp.MAX.protoNumber == 2)
        #expect(DataParameter.DB.LMDB.protoNumber == 1)
        #expect(SolverParameter.SolverMode.GPU.protoNumber == 1)
        #expect(SolverParameter.SnapshotFormat.BINARYPROTO.protoNumber == 1)
        #expect(ParamSpec.ShareMode.PERMISSIVE.protoNumber == 1)
        #expect(HingeLossParameter.Norm.L1.protoNumber == 1 && HingeLossParameter.Norm.L2.protoNumber == 2)  // Norm starts at 1
    }
}
