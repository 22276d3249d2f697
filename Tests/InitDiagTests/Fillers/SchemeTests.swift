import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct SchemeTests {
    @Test func parseSlugAndCanonicalText() throws {
        let s = try Scheme(parsing: "w=caffe-msra,b=zero,lr=0.1")
        #expect(s.weights == .caffeMSRA && s.biases == .zero && !s.batchNorm && s.lrFactor == 0.1)
        #expect(s.slug == "w-caffe-msra_b-zero_lr-0.1")   // docs/schemes.md's example
        #expect(s.description == "w=caffe-msra,b=zero,lr=0.1")
        // Any order, spaces, explicit defaults: same scheme, same canonical text.
        let t = try Scheme(parsing: " lr=1e-1 , bn=off,b=zero, w=caffe-msra ")
        #expect(t == s && t.slug == s.slug)

        let d = try Scheme(parsing: "w=as-declared")
        #expect(d == Scheme() && d.description == "w=as-declared,b=as-declared")
        #expect(d.slug == "w-as-declared_b-as-declared")
        let bn = try Scheme(parsing: "bn=on,w=torch-default,b=torch-default")
        #expect(bn.description == "w=torch-default,b=torch-default,bn=on")
        #expect(bn.slug == "w-torch-default_b-torch-default_bn-on")
        #expect(try Scheme(parsing: "lr=1").description == "w=as-declared,b=as-declared")
        #expect(try Scheme(parsing: "w=caffe-gaussian-0.01,lr=2").slug == "w-caffe-gaussian-0.01_b-as-declared_lr-2")
        #expect(try Scheme(parsing: "lr=1e-20").slug == "w-as-declared_b-as-declared_lr-1e-20")
        #expect(try Scheme(parsing: "lr=1e20").slug == "w-as-declared_b-as-declared_lr-1e20")
    }

    @Test func defaultSweepIsSpecListInOrderAndRoundTrips() throws {
        #expect(Scheme.defaultSweep.map(\.description) == [
            "w=as-declared,b=as-declared",
            "w=as-declared,b=zero",
            "w=caffe-msra,b=zero",
            "w=caffe-msra,b=zero,lr=0.1",
            "w=torch-default,b=torch-default",
            "w=as-declared,b=as-declared,bn=on",
            "w=torch-default,b=torch-default,bn=on",
        ])
        var slugs = Set<String>()
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-_")
        var every: [Scheme] = Scheme.defaultSweep
        for w in Scheme.Weights.allCases {
            for b in Scheme.Biases.allCases {
                every.append(Scheme(weights: w, biases: b, batchNorm: true, lrFactor: 0.03))
            }
        }
        for s in every {
            #expect(try Scheme(parsing: s.description) == s)
            #expect(s.slug.allSatisfy { allowed.contains($0) }, "\(s.slug)")
            slugs.insert(s.slug)
        }
        #expect(slugs.count == Set(every).count)
        #expect(try Scheme.parseList("w=caffe-msra,b=zero; w=torch-default,b=torch-default\n") ==
                [Scheme(weights: .caffeMSRA, biases: .zero), Scheme(weights: .torchDefault, biases: .torchDefault)])
    }

    @Test func badSchemesThrowListingValidNames() {
        func message(_ text: String) -> String? {
            do { _ = try Scheme(parsing: text); return nil } catch let e as InputError { return e.message } catch { return "\(error)" }
        }
        let w = message("w=kaiming")
        #expect(w?.contains("'kaiming'") == true && w?.contains("caffe-msra") == true && w?.contains("torch-default") == true)
        let b = message("b=one")
        #expect(b?.contains("zero") == true && b?.contains("caffe-xavier") == true)
        #expect(message("w=caffe-msra,w=caffe-xavier")?.contains("twice") == true)
        #expect(message("x=1")?.contains("w, b, bn, lr") == true)
        #expect(message("bn=yes") != nil)
        #expect(message("lr=0") != nil)
        #expect(message("lr=-1") != nil)
        #expect(message("lr=abc") != nil)
        #expect(message("lr=inf") != nil)
        #expect(message("") != nil)
        #expect(message("w") != nil)
        #expect(message("w=caffe-msra,,b=zero") != nil)
    }

    @Test func caffeSchemesResolveToCaffeFillers() {
        var xavier = FillerParameter(type: "xavier")
        xavier.varianceNorm = .FAN_OUT
        let declared = Scheme()
        #expect(declared.weightFiller(declared: xavier, weightShape: [4, 4]) == xavier)
        #expect(declared.weightFiller(declared: nil, weightShape: [4, 4]) == FillerParameter(type: "constant"))
        #expect(declared.biasFiller(declared: nil, weightShape: [4, 4], biasShape: [4]) == FillerParameter(type: "constant"))
        #expect(declared.biasFiller(declared: xavier, weightShape: [4, 4], biasShape: [4]) == xavier)

        let avg = Scheme(weights: .caffeXavierAvg).weightFiller(declared: xavier, weightShape: [4, 4])
        #expect(avg.type == "xavier" && avg.varianceNorm == .AVERAGE)
        #expect(Scheme(weights: .caffeXavier).weightFiller(declared: nil, weightShape: [4, 4]) == FillerParameter(type: "xavier"))
        #expect(Scheme(weights: .caffeMSRA).weightFiller(declared: xavier, weightShape: [4, 4]) == FillerParameter(type: "msra"))
        let g = Scheme(weights: .caffeGaussian001).weightFiller(declared: nil, weightShape: [4, 4])
        #expect(g.type == "gaussian" && g.std == 0.01 && g.mean == 0 && g.sparse == -1)
        #expect(Scheme(biases: .zero).biasFiller(declared: xavier, weightShape: [4, 4], biasShape: [4]) == FillerParameter(type: "constant"))
        #expect(Scheme(biases: .caffeXavier).biasFiller(declared: nil, weightShape: [4, 4], biasShape: [4]) == FillerParameter(type: "xavier"))
    }

    @Test func torchSchemesUsePyTorchBoundsInDouble() throws {
        // Conv 64×3×3×3: torch fan_in = 3·9 = 27, fan_out = 64·9 = 576.
        let shape = [64, 3, 3, 3]
        let tdw = Scheme(weights: .torchDefault, biases: .torchDefault)
        let w = tdw.weightFiller(declared: nil, weightShape: shape)
        #expect(w.type == "uniform" && w.min == -w.max)
        // kaiming_uniform(a = √5): sqrt(3)·sqrt(1/3)/sqrt(27) = 1/sqrt(27) = 0.19245008972987526.
        #expect(abs(Double(w.max) - 0.19245008972987526) <= Double(Float(0.19245008972987526).ulp))
        let b = tdw.biasFiller(declared: nil, weightShape: shape, biasShape: [64])
        #expect(b.type == "uniform" && b.max == Float(1 / 27.0.squareRoot()) && b.min == -b.max)
        #expect(tdw.weightFillerLabel(declared: nil, weightShape: shape) == "torch-default U(±0.1925)")
        #expect(tdw.biasFillerLabel(declared: nil, weightShape: shape, biasShape: [64]) == "torch-default U(±0.1925)")
        // Variance 1/(3·fan_in).
        #expect(abs(fillerVariance(w, shape: shape)! - 1 / 81.0) < 1e-8)

        let kn = Scheme(weights: .torchKaimingNormal).weightFiller(declared: nil, weightShape: shape)
        #expect(kn.type == "gaussian" && kn.mean == 0 && kn.std == Float((2.0 / 27).squareRoot()))

        // Linear 512×4608 (out, in): fan_in 4608, fan_out 512; xavier_uniform a = sqrt(6/5120).
        let xu = Scheme(weights: .torchXavierUniform).weightFiller(declared: nil, weightShape: [512, 4608])
        #expect(xu.type == "uniform" && abs(Double(xu.max) - (6.0 / 5120).squareRoot()) < 1e-8)

        // PyTorch has no fans below 2-D: the scheme leaves such blobs as declared.
        var declared = FillerParameter(type: "constant")
        declared.value = 1
        #expect(tdw.weightFiller(declared: declared, weightShape: [64]) == declared)

        // The resolved fillers really draw their distributions.
        let blob = Blob(name: "w", shape: [512, 512, 3, 3])
        try fill(blob, with: tdw.weightFiller(declared: nil, weightShape: blob.shape), rng: RandomSource(seed: 9), layer: "c")
        let v = blob.dataArray
        let n = Double(v.count)
        let mean = v.reduce(0.0) { $0 + Double($1) } / n
        let variance = v.reduce(0.0) { $0 + Double($1) * Double($1) } / n - mean * mean
        let expected = 1 / (3.0 * 4608)
        #expect(abs(variance - expected) < 5 * (0.8 * expected * expected / n).squareRoot())
    }

    @Test func lrFactorScalesBaseLr() {
        var p = SolverParameter()
        p.baseLr = 0.01
        #expect(Scheme(lrFactor: 0.1).apply(to: p).baseLr == Float(Double(Float(0.01)) * 0.1))
        #expect(Scheme().apply(to: p).baseLr == 0.01)
    }
}
