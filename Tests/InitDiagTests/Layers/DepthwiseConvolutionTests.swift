import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct DepthwiseConvolutionTests {
    static func param(channels: Int, kernel: UInt32, stride: UInt32 = 1, pad: UInt32 = 0, dilation: UInt32 = 1,
                      bias: Bool = true) -> LayerParameter {
        var p = ConvolutionParameter()
        p.numOutput = UInt32(channels); p.kernelSize = [kernel]; p.stride = [stride]; p.pad = [pad]
        p.dilation = [dilation]; p.group = UInt32(channels); p.biasTerm = bias
        return CaffeLayerTestKit.param("Convolution", name: "dw") { $0.convolutionParam = p }
    }

    static func make(_ lp: LayerParameter, direct: Bool = true) -> () throws -> Layer {
        {
            let l = try ConvolutionLayer(param: lp, context: CaffeLayerTestKit.context())
            l.depthwiseKernelEnabled = direct
            return l
        }
    }

    @Test func matchesTorchConv2dGroups() throws {
        for direct in [true, false] {
            try StructuralReference.check("depthwise_3x3_p1", Self.make(Self.param(channels: 6, kernel: 3, pad: 1), direct: direct))
            try StructuralReference.check("depthwise_3x3_s2", Self.make(Self.param(channels: 5, kernel: 3, stride: 2, pad: 1), direct: direct))
            try StructuralReference.check("depthwise_5x5_dil2", Self.make(Self.param(channels: 4, kernel: 5, pad: 4, dilation: 2), direct: direct))
        }
    }

    @Test func usesTheDirectKernelOnlyForDepthwiseShapes() throws {
        let dw = try ConvolutionLayer(param: Self.param(channels: 4, kernel: 3, pad: 1), context: CaffeLayerTestKit.context())
        try dw.setUp(bottom: [Blob(shape: [1, 4, 5, 5])], top: [Blob()])
        #expect(dw.usesDepthwiseKernel)
        var multiplier = Self.param(channels: 4, kernel: 3)
        multiplier.convolutionParam?.numOutput = 8
        let m = try ConvolutionLayer(param: multiplier, context: CaffeLayerTestKit.context())
        try m.setUp(bottom: [Blob(shape: [1, 4, 5, 5])], top: [Blob()])
        #expect(!m.usesDepthwiseKernel)
    }

    @Test func gradients() throws {
        try StructuralReference.gradientCheck(Self.make(Self.param(channels: 3, kernel: 3, pad: 1)), shapes: [[2, 3, 4, 5]])
        try StructuralReference.gradientCheck(Self.make(Self.param(channels: 2, kernel: 3, stride: 2, pad: 1, bias: false)), shapes: [[2, 2, 5, 5]])
        try StructuralReference.gradientCheck(Self.make(Self.param(channels: 2, kernel: 2, stride: 1, pad: 2, dilation: 2)), shapes: [[1, 2, 4, 3]])
    }

    /// The same MobileNet-like layer through the direct kernel and through grouped im2col + GEMM:
    /// top, bottom gradient and weight and bias gradients agree to float rounding.
    @Test func directKernelAgreesWithIm2col() throws {
        let lp = Self.param(channels: 32, kernel: 3, stride: 1, pad: 1)
        var results: [[[Float]]] = []
        for direct in [true, false] {
            let layer = try Self.make(lp, direct: direct)() as! ConvolutionLayer
            let bottom = CaffeLayerTestKit.blob([4, 32, 14, 14], seed: 5), top = Blob()
            try layer.setUp(bottom: [bottom], top: [top])
            #expect(layer.usesDepthwiseKernel == direct)
            fillUniform(layer.blobs[0], seed: 6); fillUniform(layer.blobs[1], seed: 7)
            layer.forward(bottom: [bottom], top: [top])
            var g = MT19937(seed: 9)
            top.setDiff((0..<top.count).map { _ in Float(g.next()) / 4_294_967_296 * 2 - 1 })
            layer.backward(top: [top], propagateDown: [true], bottom: [bottom])
            results.append([top.dataArray, bottom.diffArray, layer.blobs[0].diffArray, layer.blobs[1].diffArray])
        }
        for (k, what) in ["top", "bottom diff", "weight diff", "bias diff"].enumerated() {
            let a = results[0][k], b = results[1][k]
            let scale = b.reduce(0) { max($0, abs(Double($1))) }
            let worst = zip(a, b).reduce(0.0) { max($0, abs(Double($1.0) - Double($1.1))) } / max(scale, 1e-30)
            print("depthwise direct vs im2col \(what): max relative error \(worst)")
            #expect(worst <= 1e-5, "\(what): \(worst)")
        }
    }
}
