import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct BatchNormLayerTests {
    typealias Kit = CaffeLayerTestKit

    func make(_ phase: Phase, global: Bool? = nil, configure: (inout BatchNormParameter) -> Void = { _ in }) throws -> BatchNormLayer {
        try BatchNormLayer(param: Kit.param("BatchNorm") { p in
            var b = BatchNormParameter(); b.useGlobalStats = global; configure(&b); p.batchNormParam = b
        }, context: Kit.context(phase))
    }

    @Test(arguments: [[6, 3], [2, 3, 4, 5], [3, 2, 3, 1]])
    func gradientBatchStatistics(shape: [Int]) throws {
        let layer = try make(.TRAIN)
        #expect(!layer.useGlobalStats)
        let x = Kit.blob(shape, seed: 13, -2, 2), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        // The state blobs do not influence a batch-statistics forward; their (zero) gradient is
        // still checked against finite differences (zero as well).
        let n = GradientChecker(step: 1e-2, relativeTolerance: 2e-2, absoluteTolerance: 2e-3)
            .check(layer, bottom: [x], top: [y])
        #expect(n == x.count + 2 * layer.channels + 1)
    }

    @Test(arguments: [[6, 3], [2, 3, 4, 5]])
    func gradientGlobalStatistics(shape: [Int]) throws {
        let layer = try make(.TEST)
        #expect(layer.useGlobalStats)
        let x = Kit.blob(shape, seed: 17, -2, 2), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        let c = layer.channels
        layer.blobs[0].setData((0..<c).map { Float($0) * 0.4 - 0.3 })
        layer.blobs[1].setData((0..<c).map { Float($0) * 0.5 + 0.7 })
        layer.blobs[2].setData([2])
        // Caffe gives no gradient to the statistics: only the bottom is checked.
        let n = GradientChecker().check(layer, bottom: [x], top: [y], checkParams: false)
        #expect(n == x.count)
    }

    @Test func movingAveragesAfterTwoForwards() throws {
        // N = 4, C = 2 (2-D). Channel 0: batch 1 = 1, 2, 3, 4 (mean 2.5, biased var 1.25);
        // batch 2 = 0, 0, 2, 2 (mean 1, var 1). Channel 1: batch 1 = 2, 2, 2, 2 (mean 2, var 0);
        // batch 2 = −1, 1, −1, 1 (mean 0, var 1). m = count/C = 4 ⇒ correction 4/3.
        let layer = try make(.TRAIN)
        let x = Blob(shape: [4, 2]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        x.setData([1, 2, 2, 2, 3, 2, 4, 2])
        layer.forward(bottom: [x], top: [y])
        // s = 0.999·0 + 1 = 1; A_mean = (2.5, 2); A_var = (1.25·4/3, 0) = (5/3, 0).
        #expect(layer.blobs[2].data[0] == 1)
        #expect(layer.blobs[0].dataArray == [2.5, 2])
        #expect(abs(layer.blobs[1].data[0] - 5.0 / 3) < 1e-6 && layer.blobs[1].data[1] == 0)
        // y = (x − mean)/sqrt(var + eps) with the biased batch variance.
        let sd0 = (1.25 + 1e-5).squareRoot()
        #expect(abs(Double(y.data[0]) - (1 - 2.5) / sd0) < 1e-5)
        #expect(abs(Double(y.data[6]) - (4 - 2.5) / sd0) < 1e-5)
        #expect(y.data[1] == 0)
        x.setData([0, -1, 0, 1, 2, -1, 2, 1])
        layer.forward(bottom: [x], top: [y])
        // s = 0.999 + 1 = 1.999; A_mean = (1 + 0.999·2.5, 0 + 0.999·2) = (3.4975, 1.998);
        // A_var = (4/3 + 0.999·5/3, 4/3 + 0) = (2.998333…, 1.333333…).
        #expect(abs(layer.blobs[2].data[0] - 1.999) < 1e-6)
        #expect(abs(layer.blobs[0].data[0] - 3.4975) < 1e-6 && abs(layer.blobs[0].data[1] - 1.998) < 1e-6)
        #expect(abs(layer.blobs[1].data[0] - 2.9983333) < 1e-5 && abs(layer.blobs[1].data[1] - 1.3333333) < 1e-6)

        // A TEST layer with these accumulators normalises with mean = A/s, var = A_var/s.
        let test = try make(.TEST)
        let xt = Blob(shape: [1, 2]), yt = Blob()
        try test.setUp(bottom: [xt], top: [yt])
        for i in 0..<3 { test.blobs[i].setData(layer.blobs[i].dataArray) }
        xt.setData([3, 1])
        test.forward(bottom: [xt], top: [yt])
        let mean0 = 3.4975 / 1.999, var0 = 2.9983333 / 1.999
        let mean1 = 1.998 / 1.999, var1 = 1.3333333 / 1.999
        #expect(abs(Double(yt.data[0]) - (3 - mean0) / (var0 + 1e-5).squareRoot()) < 1e-5)
        #expect(abs(Double(yt.data[1]) - (1 - mean1) / (var1 + 1e-5).squareRoot()) < 1e-5)
        // The TEST forward leaves the accumulators alone.
        #expect(test.blobs[2].data[0] == layer.blobs[2].data[0])
    }

    @Test func globalStatsWithZeroScaleFactorUseZeroMoments() throws {
        let layer = try make(.TEST)
        let x = Kit.blob([2, 3], values: [1, 2, 3, 4, 5, 6]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.blobs[0].setData([9, 9, 9])
        layer.forward(bottom: [x], top: [y])
        // 1/s is replaced by 0: mean 0, var 0 ⇒ y = x/sqrt(eps).
        let sd = Float(1e-5).squareRoot()
        #expect(y.dataArray == [1, 2, 3, 4, 5, 6].map { $0 / sd })
    }

    @Test func singleSampleSkipsCorrection() throws {
        // m = count/C = 1 ⇒ factor 1 (Caffe avoids dividing by m − 1 = 0).
        let layer = try make(.TRAIN)
        let x = Kit.blob([1, 2], values: [3, 4]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        layer.forward(bottom: [x], top: [y])
        #expect(layer.blobs[1].dataArray == [0, 0])
        #expect(layer.blobs[0].dataArray == [3, 4])
    }

    @Test func explicitUseGlobalStatsOverridesPhase() throws {
        #expect(try make(.TRAIN, global: true).useGlobalStats)
        #expect(try !make(.TEST, global: false).useGlobalStats)
    }

    @Test func inPlaceMatchesOutOfPlace() throws {
        try Kit.expectInPlaceMatches({ try make(.TRAIN) }, shape: [3, 4, 2, 2])
        try Kit.expectInPlaceMatches({ try make(.TEST) }, shape: [3, 4, 2, 2]) { layer in
            layer.blobs[0].setData([0.1, 0.2, 0.3, 0.4])
            layer.blobs[1].setData([1, 2, 3, 4])
            layer.blobs[2].setData([1.5])
        }
    }

    @Test func rejectsLearnedStatisticsAndChannelChange() throws {
        #expect(throws: InputError.self) {
            try BatchNormLayer(param: Kit.param("BatchNorm") { p in var s = ParamSpec(); s.lrMult = 1; p.param = [s] },
                               context: Kit.context())
        }
        let layer = try make(.TRAIN)
        #expect(layer.param.param.count == 3 && layer.param.param.allSatisfy { $0.lrMult == 0 })
        #expect(BatchNormLayer.hasStateBlobs)
        let x = Blob(shape: [2, 3, 4]), y = Blob()
        try layer.setUp(bottom: [x], top: [y])
        #expect(layer.blobs.map(\.shape) == [[3], [3], [1]])
        let wrong = Blob(shape: [2, 5, 4])
        #expect(throws: InputError.self) { try layer.reshape(bottom: [wrong], top: [y]) }
    }
}
