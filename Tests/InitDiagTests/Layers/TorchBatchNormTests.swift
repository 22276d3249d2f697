import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine

@Suite struct TorchBatchNormLayerTests {
    typealias Kit = CaffeLayerTestKit

    func make(_ phase: Phase, global: Bool? = nil, momentum: Float = 0.9, eps: Float = 1e-5) throws -> TorchBatchNormLayer {
        try TorchBatchNormLayer(param: Kit.param("TorchBatchNorm") { p in
            var b = BatchNormParameter(); b.useGlobalStats = global; b.movingAverageFraction = momentum; b.eps = eps
            p.batchNormParam = b
        }, context: Kit.context(phase))
    }

    /// γ, β away from 1, 0 so that their gradients and the affine part are exercised.
    func setAffine(_ layer: TorchBatchNormLayer) {
        let c = layer.channels
        layer.blobs[0].setData((0..<c).map { 0.6 + 0.3 * Float($0) })
        layer.blobs[1].setData((0..<c).map { -0.2 + 0.25 * Float($0) })
    }

    @Test(arguments: [[6, 3], [2, 3, 4, 5], [3, 2, 3, 1], [4, 1, 2, 2]])
    func gradientBatchStatistics(shape: [Int]) throws {
        let layer = try make(.TRAIN)
        #expect(!layer.useGlobalStats)
        let x = Kit.blob(shape, seed: 13, -2, 2), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        setAffine(layer)
        // Bottom, γ and β against finite differences; the running statistics do not enter a
        // batch-statistics forward and get no gradient (zero both ways).
        let n = GradientChecker(step: 1e-2, relativeTolerance: 2e-2, absoluteTolerance: 2e-3)
            .check(layer, bottom: [x], top: [y])
        #expect(n == x.count + 4 * layer.channels)
    }

    @Test(arguments: [[6, 3], [2, 3, 4, 5], [1, 2, 3, 3]])
    func gradientGlobalStatistics(shape: [Int]) throws {
        let layer = try make(.TEST)
        #expect(layer.useGlobalStats)
        let x = Kit.blob(shape, seed: 17, -2, 2), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        setAffine(layer)
        let c = layer.channels
        layer.blobs[2].setData((0..<c).map { Float($0) * 0.4 - 0.3 })
        layer.blobs[3].setData((0..<c).map { Float($0) * 0.5 + 0.7 })
        // The running statistics are buffers (no gradient, as in PyTorch's eval mode): only the
        // bottom is checked here; γ and β go through the same sums as in TRAIN.
        let n = GradientChecker().check(layer, bottom: [x], top: [y], checkParams: false)
        #expect(n == x.count)
    }

    /// Against an independent float64 statement of PyTorch's training-mode BatchNorm2d
    /// (torch/nn/modules/batchnorm.py, F.batch_norm): batch mean and biased variance normalise,
    /// the running mean moves by momentum 0.1 = 1 − 0.9 toward the batch mean and the running
    /// variance toward the UNBIASED batch variance.
    @Test func forwardAndRunningStatisticsMatchPyTorchRule() throws {
        let layer = try make(.TRAIN, momentum: 0.9, eps: 1e-5)
        let shape = [3, 2, 2, 2]
        let x = Kit.blob(shape, seed: 5, -3, 3), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        setAffine(layer)
        layer.blobs[2].setData([0.5, -1])
        layer.blobs[3].setData([2, 0.25])
        let xs = x.dataArray.map(Double.init)
        layer.forward(bottom: [x], top: [y])
        let (n, c, s) = (3, 2, 4)
        for ch in 0..<c {
            var vals: [Double] = []
            for i in 0..<n { for k in 0..<s { vals.append(xs[(i * c + ch) * s + k]) } }
            let m = Double(vals.count)
            let mean = vals.reduce(0, +) / m
            let biased = vals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / m
            let unbiased = biased * m / (m - 1)
            let g = [0.6, 0.9][ch], b = [-0.2, 0.05][ch]
            for i in 0..<n {
                for k in 0..<s {
                    let idx = (i * c + ch) * s + k
                    let want = g * (xs[idx] - mean) / (biased + 1e-5).squareRoot() + b
                    #expect(abs(Double(y.data[idx]) - want) < 1e-5, "y[\(idx)] \(y.data[idx]) vs \(want)")
                }
            }
            let rm = 0.9 * [0.5, -1][ch] + 0.1 * mean, rv = 0.9 * [2, 0.25][ch] + 0.1 * unbiased
            #expect(abs(Double(layer.blobs[2].data[ch]) - rm) < 1e-6)
            #expect(abs(Double(layer.blobs[3].data[ch]) - rv) < 1e-6)
        }
        // TEST (model.eval()): the running statistics normalise; they do not move.
        let test = try make(.TEST)
        let xt = Kit.blob([1, 2, 1, 1], values: [1, 2]), yt = Blob()
        try test.setUp(bottom: [xt], top: [yt])
        for i in 0..<4 { test.blobs[i].setData(layer.blobs[i].dataArray) }
        test.forward(bottom: [xt], top: [yt])
        for ch in 0..<2 {
            let want = Double(test.blobs[0].data[ch]) * (Double(xt.data[ch]) - Double(test.blobs[2].data[ch]))
                / (Double(test.blobs[3].data[ch]) + 1e-5).squareRoot() + Double(test.blobs[1].data[ch])
            #expect(abs(Double(yt.data[ch]) - want) < 1e-5)
        }
        #expect(test.blobs[2].dataArray == layer.blobs[2].dataArray)
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        for phase in [Phase.TRAIN, .TEST] {
            try Kit.expectInPlaceMatches({ try make(phase) }, shape: [2, 3, 2, 2]) { l in
                let layer = l as! TorchBatchNormLayer
                setAffine(layer)
            }
        }
    }

    @Test func runningStatisticsAreStateNotLearned() throws {
        let layer = try make(.TRAIN)
        #expect(layer.param.param.count == 4)
        #expect(layer.param.param[2].lrMult == 0 && layer.param.param[3].lrMult == 0)
        #expect(layer.param.param[2].decayMult == 0 && layer.param.param[0].lrMult == 1)
        #expect(throws: InputError.self) {
            try TorchBatchNormLayer(param: Kit.param("TorchBatchNorm") { p in
                var spec = ParamSpec(); p.param = [ParamSpec(), ParamSpec(), spec]; spec.lrMult = 1; p.param[2] = spec
            }, context: Kit.context(.TRAIN))
        }
        // One value per channel cannot give batch statistics (PyTorch refuses it too).
        let one = try make(.TRAIN)
        #expect(throws: InputError.self) { try one.setUp(bottom: [Blob(shape: [1, 3, 1, 1])], top: [Blob()]) }
    }
}
