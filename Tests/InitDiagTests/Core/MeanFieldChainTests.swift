import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct MeanFieldChainTests {
    /// E[φ(u)φ(v)] for zero-mean jointly Gaussian (u, v) with variance q and correlation c, by
    /// integrating over u = √q·z (trapezoid, 40001 points on [−10, 10]) the closed-form inner
    /// expectation E[φ(v) | u] of a leaky ReLU of v | u ~ N(c·u, q(1 − c²)):
    /// E[relu(X)] = μΦ(μ/σ) + σφ(μ/σ) for X ~ N(μ, σ²), φ(X) = relu(X) − s·relu(−X).
    /// Independent of the arc-cosine kernel the library uses.
    func leakyCross(q: Double, c: Double, s: Double) -> Double {
        func relu(_ x: Double) -> Double { x > 0 ? x : s * x }
        func meanRelu(_ mu: Double, _ sd: Double) -> Double {
            guard sd > 0 else { return max(mu, 0) }
            let t = mu / sd
            return mu * 0.5 * erfc(-t / 2.squareRoot()) + sd * exp(-t * t / 2) / (2 * Double.pi).squareRoot()
        }
        let n = 40_000, lo = -10.0, h = 20.0 / Double(n)
        var sum = 0.0
        for k in 0...n {
            let z = lo + Double(k) * h
            let u = q.squareRoot() * z
            let mu = c * u, sd = (q * (1 - c * c)).squareRoot()
            let inner = meanRelu(mu, sd) - s * meanRelu(-mu, sd)
            let w = (k == 0 || k == n) ? 0.5 : 1
            sum += w * relu(u) * inner * exp(-z * z / 2)
        }
        return sum * h / (2 * Double.pi).squareRoot()
    }

    @Test(arguments: [0.0, 0.1, 0.2, -0.5, 1.0])
    func leakyReLUClosedFormMatchesIntegration(slope: Double) throws {
        for q in [0.5, 2.0] {
            for c in [-0.9, -0.3, 0.0, 0.4, 0.95] {
                let out = try #require(MeanFieldChain.pointwise(.relu(slope: slope),
                                                                input: MeanFieldState(secondMoment: q, cross: c * q)))
                let expected = leakyCross(q: q, c: c, s: slope)
                #expect(abs(out.cross - expected) < 1e-7 * q, "q \(q) c \(c) s \(slope): \(out.cross) vs \(expected)")
                #expect(abs(out.secondMoment - q * (1 + slope * slope) / 2) < 1e-15)
                #expect(abs(out.secondMoment - leakyCross(q: q, c: 1, s: slope)) < 1e-7 * q)
            }
        }
    }

    @Test func plainReLUIsTheArcCosineMapExactly() throws {
        for (q, c) in [(1.7, 0.3), (0.2, 0.99), (3.0, -0.4)] {
            let out = try #require(MeanFieldChain.pointwise(.relu(slope: 0), input: MeanFieldState(secondMoment: q, cross: c * q)))
            #expect(out.secondMoment == q / 2)
            #expect(out.cross == q / 2 * MeanFieldChain.reluCorrelationKernel(c * q / q))
        }
        // Logs of negative values have no expectation: no state (the chain then restarts).
        #expect(MeanFieldChain.pointwise(.log(base: -1, scale: 1, shift: 0), input: MeanFieldState(secondMoment: 1, cross: 0.5)) == nil)
    }

    @Test func stepRules() throws {
        let x = MeanFieldState(secondMoment: 2, cross: 1)
        let measured = MeanFieldState(secondMoment: 5, cross: 4)
        let p = MeanFieldParameterMoments(multiplier: 0.5, offset: 0.25)
        func step(_ r: MeanFieldRule, _ input: MeanFieldState? = x, _ m: MeanFieldState? = nil,
                  _ params: MeanFieldParameterMoments = p) -> MeanFieldStep? {
            MeanFieldChain.step(r, input: input, parameters: params, measured: m)
        }
        #expect(step(.linear)?.state == MeanFieldState(secondMoment: 1.25, cross: 0.75))
        #expect(step(.affine)?.state == MeanFieldState(secondMoment: 1.25, cross: 0.75))
        // Bias: no γ (1), β² only.
        #expect(step(.affine, x, nil, MeanFieldParameterMoments(offset: 0.25))?.state == MeanFieldState(secondMoment: 2.25, cross: 1.25))
        // Linear without σ_w²: restart from the measurement, or nothing.
        #expect(step(.linear, x, measured, MeanFieldParameterMoments())?.restarted == true)
        #expect(step(.linear, x, nil, MeanFieldParameterMoments()) == nil)
        #expect(step(.identity(approximate: true))?.approximate == true)
        #expect(step(.identity(approximate: false))?.state == x)
        #expect(step(.independentNoise(factor: 2))?.state == MeanFieldState(secondMoment: 4, cross: 1))
        #expect(step(.source, nil, measured)?.state == measured)
        #expect(step(.restart, x, measured)?.restarted == true)
        #expect(step(.restart, x, nil) == nil)
        #expect(step(.stop, x, measured) == nil)
        // Standardize: the measurement where there is one, else m' = 1, C' = 0 (approximate).
        #expect(step(.standardize, x, measured)?.state == measured)
        let s = try #require(step(.standardize, x, nil))
        #expect(s.state == MeanFieldState(secondMoment: 1, cross: 0) && s.approximate)
        // A broken chain restarts.
        #expect(step(.linear, nil, measured)?.state == measured)
        // Sigmoid has a map (quadrature): a prediction even with a measurement at hand; a map
        // without a finite expectation (log of a Gaussian) restarts.
        #expect(step(.pointwise(.sigmoid), x, measured)?.restarted == false)
        #expect(step(.pointwise(.log(base: -1, scale: 1, shift: 0)), x, measured)?.restarted == true)
    }

    @Test func meanFieldBlobsAttributeRoundTrips() {
        for b in [MeanFieldBlobs(), MeanFieldBlobs(multiplier: nil, offset: 0), MeanFieldBlobs(multiplier: 2, offset: nil)] {
            #expect(MeanFieldBlobs(attribute: b.attribute) == b)
        }
        #expect(MeanFieldBlobs().attribute == "0,1")
        #expect(MeanFieldBlobs(attribute: "x,1") == nil)
        #expect(MeanFieldBlobs(attribute: "0") == nil)
    }
}

/// What the layers declare (Core/LayerTraits.swift), read from a built net.
@Suite struct LayerDeclarationTests {
    func net(_ text: String, phase: Phase = .TRAIN) throws -> Net {
        try ConformanceSupport.buildNet(try Prototxt.parseNet(text, path: "traits.prototxt"), phase: phase)
    }

    @Test func weightedAffineAndStructuralLayers() throws {
        let n = try net("""
        layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 6 dim: 6 } } }
        layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
                convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "msra" } } }
        layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" }
        layer { name: "scale" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
        layer { name: "bias" type: "Bias" bottom: "conv" top: "conv" }
        layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool" pooling_param { pool: AVE kernel_size: 2 } }
        layer { name: "ip" type: "InnerProduct" bottom: "pool" top: "ip"
                inner_product_param { num_output: 5 transpose: true bias_filler { type: "constant" value: 0.5 } } }
        layer { name: "drop" type: "Dropout" bottom: "ip" top: "ip" }
        layer { name: "flat" type: "Flatten" bottom: "ip" top: "flat" }
        """)
        func layer(_ name: String) -> Layer { n.layers[n.layerParams.firstIndex { $0.name == name }!] }
        let conv = layer("conv"), ip = layer("ip"), scale = layer("scale"), bias = layer("bias")
        #expect(type(of: conv).role == .weighted && conv.meanField == .linear)
        #expect(conv.declaredFillers.map(\.type) == ["msra", "constant"])
        #expect(conv.schemeTargets == SchemeTargets(weight: 0, bias: 1, fanShape: [4, 3, 3, 3]))
        // A transposed InnerProduct stores (in, out) = (4·3·3, 5); its fans are read as (out, in).
        #expect(ip.blobs[0].shape == [36, 5])
        #expect(ip.schemeTargets?.fanShape == [5, 36])
        #expect(ip.declaredFillers.map(\.value) == [0, 0.5])
        #expect(type(of: scale).role == .affine && scale.meanField == .affine)
        #expect(scale.declaredFillers.map(\.value) == [1, 0])
        #expect(scale.schemeTargets == nil)
        #expect(bias.meanFieldBlobs == MeanFieldBlobs(multiplier: nil, offset: 0))
        #expect(layer("bn").meanField == .standardize)
        #expect(layer("pool").meanField == .identity(approximate: true))
        #expect(layer("flat").meanField == .identity(approximate: false))
        #expect(layer("drop").meanField == .independentNoise(factor: 2))
        #expect(layer("drop").generatorDrawsPerForward == 2 * 5)
        #expect(Trainer.generatorDrawsPerForward(n) == 10)
        #expect(type(of: layer("data")).role == .data && layer("data").meanField == .source)
    }

    @Test func testPhaseAndTwoBottomScale() throws {
        let n = try net("""
        layer { name: "data" type: "Input" top: "data" top: "g" input_param { shape { dim: 2 dim: 3 } shape { dim: 2 dim: 3 } } }
        layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn" }
        layer { name: "drop" type: "Dropout" bottom: "bn" top: "bn" }
        layer { name: "scale" type: "Scale" bottom: "bn" bottom: "g" top: "s" scale_param { axis: 0 bias_term: true } }
        """, phase: .TEST)
        func layer(_ name: String) -> Layer { n.layers[n.layerParams.firstIndex { $0.name == name }!] }
        // Global statistics: a fixed affine map of state blobs; the chain restarts.
        #expect(layer("bn").meanField == .restart)
        #expect(layer("drop").meanField == .identity(approximate: false))
        #expect(layer("drop").generatorDrawsPerForward == 0)
        // γ from bottom[1]: only β is a blob.
        #expect(layer("scale").declaredFillers.count == 1 && layer("scale").meanField == .restart)
    }

    @Test func lossAndMetricStopTheChain() {
        #expect(SoftmaxWithLossLayer.role == .loss)
        #expect(AccuracyLayer.role == .metric)
        #expect(SoftmaxLayer.role == .structural)
    }
}

/// The trace carries each layer's declarations, and the diagnosis reads them back.
@Suite struct TraceDeclarationTests {
    @Test func traceLayersCarryRoleAndMeanField() throws {
        let dir = temporaryDirectory()
        let setup = try RunSetup.load(solverPath: fixture("nets/tiny_cifar.solver.prototxt"), netPath: nil, data: "synthetic",
                                      scheme: try Scheme(parsing: "w=caffe-msra,b=zero"), seed: 3, batchSize: nil)
        var options = TrainingOptions()
        options.tracePath = dir + "/t.h5"
        options.iterations = 2
        options.testIterations = 0
        options.threads = 1
        let result = try Trainer(setup: setup, options: options).run()
        let r = try TraceReader(path: dir + "/t.h5")
        let expected: [String: (String, String)] = [
            "data": ("data", "source"), "conv1": ("weighted", "linear"), "relu1": ("neuron", "relu:0"),
            "pool1": ("pooling", "identity~"), "fc1": ("weighted", "linear"), "loss": ("loss", "stop"),
        ]
        for (name, (role, rule)) in expected {
            let l = try #require(r.layer(named: name))
            #expect(l.attributes["role"]?.stringValue == role, "\(name)")
            #expect(l.attributes["mean_field"]?.stringValue == rule, "\(name)")
        }
        #expect(r.layer(named: "conv1")?.attributes["weight_filler"]?.stringValue == "caffe-msra msra N(0, σ=0.2722)")
        // The in-memory record has them too, and the snapshots parse them.
        let snaps = layerSnapshots(result.record, step: 0)
        #expect(snaps.first { $0.name == "conv1" }?.role == .weighted)
        #expect(snaps.first { $0.name == "relu1" }?.meanField == .pointwise(.relu(slope: 0)))
        #expect(snaps.first { $0.name == "conv2" }?.predictedSecondMoment != nil)
        #expect(snaps.first { $0.name == "conv2" }?.chainSecondMoment != nil)
    }

    @Test func olderTracesWithoutTheAttributesRestart() {
        var l = LayerRecord(name: "relu", type: "ReLU", index: 0, attributes: [:], series: [:])
        #expect(l.meanFieldRule == .restart && l.role == nil)
        l.attributes["mean_field"] = "not-a-rule"
        #expect(l.meanFieldRule == .restart)
    }
}
