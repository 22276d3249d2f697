import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// The motivating case (Fixtures/seed: VGG19 for CIFAR-10, every filler xavier) reads as Caffe reads it.
@Suite struct PrototxtSeedTests {
    @Test func seedNetParses() throws {
        let net = try Prototxt.loadNet(path: PrototxtFixtures.path("seed/train_val.prototxt"))
        #expect(net.sourcePath.hasSuffix("seed/train_val.prototxt"))
        let data = net.layer.filter { $0.type == "Data" }
        #expect(data.count == 2)
        #expect(data.map { $0.include.first?.phase } == [.TRAIN, .TEST])
        #expect(data.allSatisfy { $0.include.count == 1 && $0.top == ["data", "label"] })
        #expect(data[0].dataParam?.batchSize == 128)
        #expect(data[0].dataParam?.backend == .LMDB)
        // The sources are the user's own LMDB paths, kept verbatim in the seed file: compare with
        // the quoted strings of the file's text rather than writing them into the test.
        let text = try String(contentsOfFile: PrototxtFixtures.path("seed/train_val.prototxt"), encoding: .utf8)
        let quoted = text.split(separator: "\n").filter { $0.contains("source:") }.map { line -> String in
            let parts = line.split(separator: "\"", omittingEmptySubsequences: false)
            return parts.count >= 2 ? String(parts[1]) : ""
        }
        #expect(quoted.count == 2)
        #expect(data.map { $0.dataParam?.source ?? "" } == quoted)
        #expect(data[0].dataParam?.source?.hasSuffix("/train_db") == true)
        #expect(data[1].dataParam?.source?.hasSuffix("/val_db") == true)
        // 0.00392156862745 read as a double, then narrowed to float (text_format.cc).
        #expect(data[0].transformParam?.scale == Float(0.00392156862745 as Double))

        let convs = net.layer.filter { $0.type == "Convolution" }
        #expect(convs.count == 16)
        #expect(convs.allSatisfy {
            $0.convolutionParam?.kernelSize == [3] && $0.convolutionParam?.pad == [1]
                && $0.convolutionParam?.weightFiller?.type == "xavier" && $0.convolutionParam?.biasFiller?.type == "xavier"
        })
        #expect(convs.map { $0.convolutionParam?.numOutput ?? 0 } ==
                [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512])

        for name in ["fc6", "fc7", "fc8"] {
            let fc = try #require(net.layer.first { $0.name == name })
            #expect(fc.type == "InnerProduct")
            #expect(fc.innerProductParam?.weightFiller?.type == "xavier")
            #expect(fc.innerProductParam?.biasFiller?.type == "xavier")
            #expect(fc.innerProductParam?.weightFiller?.varianceNorm == .FAN_IN)
        }
        #expect(net.layer.first { $0.name == "fc8" }?.innerProductParam?.numOutput == 10)
        let pools = net.layer.filter { $0.type == "Pooling" }
        #expect(pools.count == 5 && pools.allSatisfy { $0.poolingParam?.pool == .MAX && $0.poolingParam?.kernelSize == 2 && $0.poolingParam?.stride == 2 })
        #expect(net.layer.first?.line == 1)
        #expect(net.layer.first { $0.name == "conv1_1" }?.line == 35)
        #expect(net.layer.last?.type == "SoftmaxWithLoss")
    }

    @Test func seedSolverParses() throws {
        let path = PrototxtFixtures.path("seed/solver.prototxt")
        let (s, notices) = try Prototxt.loadSolver(path: path)
        #expect(s.baseLr == 0.05)
        #expect(s.lrPolicy == "step")
        #expect(s.gamma == 0.5)
        #expect(s.stepsize == 11730)
        #expect(s.momentum == 0.9)
        #expect(s.weightDecay == 0.0005)
        #expect(s.testIter == [79] && s.testInterval == 391 && s.display == 40 && s.maxIter == 117300)
        #expect(s.snapshot == 3910 && s.snapshotPrefix == "snapshot")
        #expect(s.net == "train_val.prototxt")
        #expect(s.type == "SGD" && s.solverType == nil)
        #expect(s.solverMode == .GPU)
        #expect(notices == [Notice("solver_mode GPU: initdiag runs on the CPU")])
        #expect(s.sourcePath == path)
    }
}
