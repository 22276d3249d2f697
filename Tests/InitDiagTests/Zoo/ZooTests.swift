import Foundation
import Testing
@testable import InitDiag

/// Every prototxt of the BVLC zoo (`../shared/zoo/bvlc/`, real Caffe example and model-zoo files):
/// `inspect` gives the learnable-parameter count real Caffe reports (the zoo README: BatchNorm
/// state excluded, blobs shared by `param { name }` counted once), `probe` runs on `synthetic`,
/// and 3 iterations of `train` run on `synthetic` with each of the net's own solvers (given with
/// the net, since a solver's `net:` is relative to Caffe's root). The ImageNet-size nets run at
/// batch 2. Skipped, saying so, when ../shared/zoo is absent.
/// Whether the BVLC zoo prototxts are there (printed once when they are not).
let zooPrototxtsPresent: Bool = {
    let present = FileManager.default.fileExists(atPath: ZooTests.zoo + "/mnist/lenet_train_test.prototxt")
    if !present { print("ZooTests: skipped, \(ZooTests.zoo) is absent (the BVLC zoo prototxts)") }
    return present
}()

@Suite("Zoo", .serialized, .enabled(if: zooPrototxtsPresent, "../shared/zoo/bvlc is absent: the zoo tests are skipped"))
struct ZooTests {
    static let zoo = packageRoot() + "/../shared/zoo/bvlc"

    struct Case: Sendable, CustomStringConvertible {
        var net: String
        var solvers: [String]
        /// --input-shape C,H,W (the record before the crop).
        var shape: String
        /// Learnable parameters real Caffe builds (zoo README).
        var params: Int
        /// --batch-size for probe and train (nil: the prototxt's).
        var batch: Int?
        var description: String { net }
    }

    static let cases: [Case] = [
        Case(net: "cifar10/cifar10_quick_train_test.prototxt", solvers: ["cifar10/cifar10_quick_solver.prototxt"], shape: "3,32,32", params: 145_578, batch: 8),
        Case(net: "cifar10/cifar10_full_train_test.prototxt", solvers: ["cifar10/cifar10_full_solver.prototxt"], shape: "3,32,32", params: 89_578, batch: 8),
        Case(net: "cifar10/cifar10_full_sigmoid_train_test.prototxt", solvers: ["cifar10/cifar10_full_sigmoid_solver.prototxt"], shape: "3,32,32", params: 89_578, batch: 8),
        Case(net: "cifar10/cifar10_full_sigmoid_train_test_bn.prototxt", solvers: ["cifar10/cifar10_full_sigmoid_solver_bn.prototxt"], shape: "3,32,32", params: 89_450, batch: 8),
        Case(net: "mnist/lenet_train_test.prototxt", solvers: ["mnist/lenet_solver.prototxt", "mnist/lenet_solver_adam.prototxt", "mnist/lenet_solver_rmsprop.prototxt"], shape: "1,28,28", params: 431_080, batch: 8),
        Case(net: "mnist/mnist_autoencoder.prototxt", solvers: ["mnist/mnist_autoencoder_solver_adagrad.prototxt", "mnist/mnist_autoencoder_solver_adadelta.prototxt", "mnist/mnist_autoencoder_solver_nesterov.prototxt"], shape: "1,28,28", params: 2_837_314, batch: 8),
        Case(net: "siamese/mnist_siamese_train_test.prototxt", solvers: ["siamese/mnist_siamese_solver.prototxt"], shape: "2,28,28", params: 431_102, batch: 8),
        Case(net: "hdf5_classification/nonlinear_auto_train.prototxt", solvers: [], shape: "4,1,1", params: 282, batch: nil),
        Case(net: "bvlc_alexnet/train_val.prototxt", solvers: ["bvlc_alexnet/solver.prototxt"], shape: "3,256,256", params: 60_965_224, batch: 2),
        Case(net: "bvlc_reference_caffenet/train_val.prototxt", solvers: [], shape: "3,256,256", params: 60_965_224, batch: 2),
        Case(net: "bvlc_googlenet/train_val.prototxt", solvers: ["bvlc_googlenet/quick_solver.prototxt"], shape: "3,256,256", params: 13_378_280, batch: 2),
    ]

    /// Every prototxt of the zoo is in `cases` (a new file there must get a case).
    @Test func everyZooNetHasACase() throws {
        let files = try FileManager.default.subpathsOfDirectory(atPath: Self.zoo).filter { $0.hasSuffix(".prototxt") }
        let covered = Set(Self.cases.flatMap { [$0.net] + $0.solvers })
        #expect(Set(files) == covered)
    }

    @Test(arguments: cases) func inspectCountsLikeCaffe(_ c: Case) throws {
        let param = try NetSource.load(path: Self.zoo + "/" + c.net).net
        let inspection = try NetInspection(param: param, phase: .TRAIN, inputShape: try RecordShape.parse(c.shape))
        #expect(inspection.paramCount == c.params, "\(c.net): \(inspection.paramCount) learnable parameters, Caffe has \(c.params)")
    }

    static func options(_ iterations: Int?) -> TrainingOptions {
        var o = TrainingOptions()
        o.threads = 2
        o.iterations = iterations
        o.testIterations = 1
        o.testInterval = 1000
        return o
    }

    @Test(arguments: cases) func probeOnSynthetic(_ c: Case) throws {
        let setup = try RunSetup.load(solverPath: nil, netPath: Self.zoo + "/" + c.net, data: "synthetic", scheme: Scheme(),
                                      seed: 1, batchSize: c.batch, inputShape: c.shape)
        var o = Self.options(nil)
        o.testIterations = 0
        let result = try Trainer(setup: setup, options: o).probeOnce()
        #expect(result.status == .finished, "\(c.net): probe ended \(result.status) \(result.stopReason ?? "")")
    }

    @Test(arguments: cases) func trainsThreeIterations(_ c: Case) throws {
        let solvers: [String?] = c.solvers.isEmpty ? [nil] : c.solvers
        for solver in solvers {
            let setup = try RunSetup.load(solverPath: solver.map { Self.zoo + "/" + $0 }, netPath: Self.zoo + "/" + c.net,
                                          data: "synthetic", scheme: Scheme(), seed: 1, batchSize: c.batch, inputShape: c.shape)
            let result = try Trainer(setup: setup, options: Self.options(3)).run()
            #expect(result.iterations == 3, "\(c.net) with \(solver ?? "the default solver"): \(result.iterations) iterations")
            #expect(result.status == .finished,
                    "\(c.net) with \(solver ?? "the default solver"): ended \(result.status) \(result.stopReason ?? "")")
            #expect(result.record.loss.count == 3 && result.record.loss.allSatisfy(\.isFinite),
                    "\(c.net) with \(solver ?? "the default solver"): losses \(result.record.loss)")
        }
    }
}
