import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct DeconvolutionTests {
    static func make(numOutput: UInt32, kernel: UInt32, stride: UInt32 = 1, pad: UInt32 = 0, dilation: UInt32 = 1,
                     group: UInt32 = 1, bias: Bool = true, block: Int? = nil) -> () throws -> Layer {
        {
            var p = ConvolutionParameter()
            p.numOutput = numOutput; p.kernelSize = [kernel]; p.stride = [stride]; p.pad = [pad]
            p.dilation = [dilation]; p.group = group; p.biasTerm = bias
            return try BlockedDeconvolution(param: CaffeLayerTestKit.param("Deconvolution") { $0.convolutionParam = p },
                                            context: CaffeLayerTestKit.context(), block: block)
        }
    }

    @Test func matchesConvTranspose2d() throws {
        for block in [nil, 1] as [Int?] {
            try StructuralReference.check("deconv_s2_p1_g2", Self.make(numOutput: 6, kernel: 3, stride: 2, pad: 1, group: 2, block: block))
            try StructuralReference.check("deconv_dil2", Self.make(numOutput: 2, kernel: 3, dilation: 2, block: block))
            try StructuralReference.check("deconv_k4_s2_nobias", Self.make(numOutput: 3, kernel: 4, stride: 2, pad: 1, bias: false, block: block))
        }
    }

    @Test func gradients() throws {
        try StructuralReference.gradientCheck(Self.make(numOutput: 4, kernel: 3, stride: 2, pad: 1, group: 2), shapes: [[2, 2, 3, 2]])
        try StructuralReference.gradientCheck(Self.make(numOutput: 2, kernel: 2, dilation: 2), shapes: [[2, 3, 2, 3]])
        try StructuralReference.gradientCheck(Self.make(numOutput: 3, kernel: 3, stride: 1, pad: 1, bias: false, block: 1), shapes: [[3, 2, 3, 3]])
    }

    @Test func shapesAndErrors() throws {
        let layer = try Self.make(numOutput: 6, kernel: 3, stride: 2, pad: 1, group: 2)()
        let top = Blob()
        try layer.setUp(bottom: [Blob(shape: [2, 4, 3, 4])], top: [top])
        #expect(top.shape == [2, 6, 5, 7])
        #expect(layer.blobs[0].shape == [4, 3, 3, 3])
        #expect(layer.schemeTargets?.fanShape == [4, 3, 3, 3])
        StructuralReference.expectError("multiple of group") {
            try Self.make(numOutput: 6, kernel: 3, group: 2)().setUp(bottom: [Blob(shape: [1, 3, 3, 3])], top: [Blob()])
        }
        StructuralReference.expectError("not positive") {
            try Self.make(numOutput: 2, kernel: 1, pad: 3)().setUp(bottom: [Blob(shape: [1, 1, 2, 2])], top: [Blob()])
        }
        StructuralReference.expectError("num_output") { _ = try Self.make(numOutput: 0, kernel: 3)() }
        #expect(DeconvolutionLayer.role == .weighted)
    }
}

/// A Deconvolution whose block size is forced after every setUp (nil: the layer's choice).
final class BlockedDeconvolution: Layer {
    let inner: DeconvolutionLayer
    let block: Int?
    var param: LayerParameter { inner.param }
    var blobs: [Blob] { get { inner.blobs } set { inner.blobs = newValue } }
    var schemeTargets: SchemeTargets? { inner.schemeTargets }
    init(param: LayerParameter, context: LayerContext) throws { inner = try DeconvolutionLayer(param: param, context: context); block = nil }
    init(param: LayerParameter, context: LayerContext, block: Int?) throws {
        inner = try DeconvolutionLayer(param: param, context: context); self.block = block
    }
    func setUp(bottom: [Blob], top: [Blob]) throws {
        try inner.setUp(bottom: bottom, top: top)
        if let block { inner.useImagesPerBlock(block) }
    }
    func forward(bottom: [Blob], top: [Blob]) { inner.forward(bottom: bottom, top: top) }
    func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) { inner.backward(top: top, propagateDown: propagateDown, bottom: bottom) }
    static var role: LayerRole { DeconvolutionLayer.role }
}
