import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// The built-in data adapting to the net: shapes and class counts (SyntheticSource), the rules
/// that choose them (RecordShape, LabelRange), and RunSetup wiring them to Data and Input layers.
@Suite struct SyntheticShapeTests {
    /// FNV-1a over the bytes and labels of the first `n` records.
    static func digest(_ s: SyntheticSource, _ n: Int) throws -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let r = DataRecord()
        for _ in 0..<n {
            try s.next(into: r)
            for b in r.bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            h = (h ^ UInt64(UInt32(bitPattern: r.label))) &* 0x100_0000_01b3
        }
        return h
    }

    /// 3×32×32 with 10 classes is byte-identical to the original data set: the digests were taken
    /// from the implementation before shapes and class counts were generalised (commit e1a003d).
    @Test func cifarShapeUnchanged() throws {
        #expect(try Self.digest(SyntheticSource(seed: 1, phase: .TRAIN), 200) == 16957379901269159644)
        #expect(try Self.digest(SyntheticSource(seed: 7, phase: .TEST), 200) == 11641193185774962026)
        // The explicit default shape and class count are the same stream.
        #expect(try Self.digest(SyntheticSource(seed: 1, phase: .TRAIN, shape: (3, 32, 32), classes: 10), 200) == 16957379901269159644)
    }

    @Test func otherShapesAreDeterministicAndBalanced() throws {
        for (shape, k) in [((1, 28, 28), 10), ((2, 28, 28), 2), ((3, 20, 12), 1000), ((4, 5, 5), 3)] as [((Int, Int, Int), Int)] {
            let a = try SyntheticSource(seed: 3, phase: .TRAIN, shape: shape, classes: k)
            let b = try SyntheticSource(seed: 3, phase: .TRAIN, shape: shape, classes: k)
            let other = try SyntheticSource(seed: 4, phase: .TRAIN, shape: shape, classes: k)
            let ra = DataRecord(), rb = DataRecord(), ro = DataRecord()
            var counts = [Int](repeating: 0, count: k)
            for _ in 0..<(2 * k) {
                try a.next(into: ra); try b.next(into: rb); try other.next(into: ro)
                #expect(ra.channels == shape.0 && ra.height == shape.1 && ra.width == shape.2)
                #expect(ra.bytes.count == shape.0 * shape.1 * shape.2)
                #expect(ra.bytes == rb.bytes && ra.label == rb.label)
                #expect(ra.bytes != ro.bytes)
                counts[Int(ra.label)] += 1
            }
            // Blocks of K consecutive records are permutations of 0…K−1.
            #expect(counts == [Int](repeating: 2, count: k), "\(shape) \(k) classes")
            #expect(a.description.contains("\(shape.0)×\(shape.1)×\(shape.2), \(k) classes"))
        }
        #expect(DataTestSupport.inputError { _ = try SyntheticSource(phase: .TRAIN, shape: (0, 28, 28)) } != nil)
        #expect(DataTestSupport.inputError { _ = try SyntheticSource(phase: .TRAIN, classes: 0) } != nil)
    }

    /// Nearest-class-mean on raw pixels, train → test, for a shape and class count.
    static func ncmAccuracy(shape: (Int, Int, Int), classes k: Int, train n: Int, test m: Int) throws -> Double {
        let train = try SyntheticSource(seed: 1, phase: .TRAIN, shape: shape, classes: k)
        let test = try SyntheticSource(seed: 1, phase: .TEST, shape: shape, classes: k)
        let d = shape.0 * shape.1 * shape.2
        var means = [[Double]](repeating: [Double](repeating: 0, count: d), count: k)
        var counts = [Double](repeating: 0, count: k)
        let r = DataRecord()
        for _ in 0..<n {
            try train.next(into: r)
            counts[Int(r.label)] += 1
            for j in 0..<d { means[Int(r.label)][j] += Double(r.bytes[j]) }
        }
        for c in 0..<k { for j in 0..<d { means[c][j] /= max(counts[c], 1) } }
        var correct = 0
        for _ in 0..<m {
            try test.next(into: r)
            var best = 0, bestDistance = Double.infinity
            for c in 0..<k {
                var dist = 0.0
                for j in 0..<d { let t = Double(r.bytes[j]) - means[c][j]; dist += t * t }
                if dist < bestDistance { bestDistance = dist; best = c }
            }
            if best == Int(r.label) { correct += 1 }
        }
        return Double(correct) / Double(m)
    }

    /// Learnable at other shapes too: nearest-class-mean far above chance (1/K).
    @Test func learnableAtOtherShapes() throws {
        let mnist = try Self.ncmAccuracy(shape: (1, 28, 28), classes: 10, train: 1000, test: 500)
        let many = try Self.ncmAccuracy(shape: (3, 24, 24), classes: 40, train: 1600, test: 400)
        let pairs = try Self.ncmAccuracy(shape: (2, 28, 28), classes: 2, train: 200, test: 200)
        print("synthetic nearest-class-mean: 1×28×28/10 classes \(mnist), 3×24×24/40 classes \(many), 2×28×28/2 classes \(pairs)")
        #expect(mnist > 0.8)      // chance 0.1 (seed 1: 0.91)
        #expect(many > 0.6)       // chance 0.025 (seed 1: 0.88)
        #expect(pairs > 0.8)      // chance 0.5 (seed 1: 0.91)
    }

    static func net(_ text: String) throws -> NetParameter { try Prototxt.parseNet(text, path: "test.prototxt") }

    static let zoo = packageRoot() + "/../shared/zoo/bvlc"

    @Test func recordShapeRules() throws {
        func data(_ extra: String, source: String = "train_db") -> String {
            "layer { name: \"d\" type: \"Data\" top: \"data\" top: \"label\" \(extra) data_param { source: \"\(source)\" batch_size: 2 backend: LMDB } }\n"
        }
        func shape(_ text: String, override: RecordShape? = nil) throws -> RecordShape {
            let n = try Self.net(text)
            return RecordShape.forDataLayer(n.layer[0], in: n, override: override)
        }
        #expect(try shape(data("")).dims == [3, 32, 32])
        #expect(try shape(data("", source: "examples/mnist/mnist_train_lmdb")).dims == [1, 28, 28])
        #expect(try shape(data("", source: "examples/cifar10/cifar10_train_lmdb")).dims == [3, 32, 32])
        #expect(try shape(data("transform_param { crop_size: 227 }", source: "examples/imagenet/ilsvrc12_train_lmdb")).dims == [3, 256, 256])
        #expect(try shape(data("transform_param { crop_size: 224 }")).dims == [3, 256, 256])
        #expect(try shape(data("transform_param { crop_size: 28 }")).dims == [3, 32, 32])
        #expect(try shape(data("transform_param { crop_size: 300 }")).dims == [3, 300, 300])
        #expect(try shape(data("transform_param { mean_value: 1 mean_value: 2 mean_value: 3 mean_value: 4 }")).dims == [4, 32, 32])
        let over = try RecordShape.parse("1,28,28")
        #expect(try shape(data("transform_param { crop_size: 224 }"), override: over).dims == [1, 28, 28])
        // A mean file fixes the records' shape exactly.
        let dir = try DataTestSupport.makeTempDir("recordshape")
        defer { DataTestSupport.remove(dir) }
        let mean = dir + "/mean.binaryproto"
        try Data(DataMeanFile.encodeLegacy(num: 1, channels: 3, height: 40, width: 36, values: [Float](repeating: 0, count: 3 * 40 * 36))).write(to: URL(fileURLWithPath: mean))
        let fromMean = try shape(data("transform_param { crop_size: 32 mean_file: \"\(mean)\" }"))
        #expect(fromMean.dims == [3, 40, 36] && fromMean.reason.contains("mean.binaryproto"))
        // Siamese: a Slice takes the data top → the pair on the channel axis.
        let siamese = data("", source: "examples/siamese/mnist_siamese_train_leveldb")
            + "layer { name: \"s\" type: \"Slice\" bottom: \"data\" top: \"a\" top: \"b\" }\n"
        #expect(try shape(siamese).dims == [2, 28, 28])
        // --input-shape parsing.
        #expect(try RecordShape.parse("3x224x224").dims == [3, 224, 224])
        #expect(try RecordShape.parse("10").dims == [10, 1, 1])
        for bad in ["", "1,28", "0,28,28", "a,b,c", "1,-2,3"] {
            #expect(DataTestSupport.inputError { _ = try RecordShape.parse(bad) }?.message.contains("--input-shape") == true, "\(bad)")
        }
    }

    @Test(.enabled(if: zooPrototxtsPresent, "../shared/zoo/bvlc is absent: LeNet's prototxt comes from there"))
    func labelRangeFromTheClassifier() throws {
        let lenet = try Prototxt.loadNet(path: Self.zoo + "/mnist/lenet_train_test.prototxt")
        let r = LabelRange.of(lenet)
        #expect(r.classes == 10 && r.reason.contains("ip2"))
        #expect(LabelRange.of(lenet, override: 3).classes == 3)
        let text = """
        layer { name: "in" type: "Input" top: "data" top: "label" input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } shape { dim: 2 } } }
        layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" inner_product_param { num_output: 1000 } }
        layer { name: "fc_small" type: "InnerProduct" bottom: "data" top: "fc_small" inner_product_param { num_output: 17 } }
        layer { name: "relu" type: "ReLU" bottom: "fc" top: "fc" }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
        """
        #expect(LabelRange.of(try Self.net(text)).classes == 1000)
        // Two classifiers: the labels must be valid for both.
        let two = text + "\nlayer { name: \"acc\" type: \"Accuracy\" bottom: \"fc_small\" bottom: \"label\" top: \"acc\" }"
        #expect(LabelRange.of(try Self.net(two)).classes == 17)
        let conv = """
        layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }
        layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 21 kernel_size: 1 } }
        layer { name: "p" type: "Pooling" bottom: "c" top: "p" pooling_param { pool: AVE global_pooling: true } }
        layer { name: "f" type: "Flatten" bottom: "c" top: "f" }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "f" bottom: "data" top: "loss" }
        """
        #expect(LabelRange.of(try Self.net(conv)).classes == 21)
        #expect(LabelRange.of(try Self.net("layer { name: \"in\" type: \"Input\" top: \"data\" }")).classes == 10)
    }

    /// RunSetup hands synthetic records of the net's shape and labels of its classifier's range
    /// to the Data layers: LeNet (MNIST) gets 1×28×28 and labels 0–9.
    @Test(.enabled(if: zooPrototxtsPresent, "../shared/zoo/bvlc is absent: LeNet's prototxt comes from there"))
    func leNetOnSynthetic() throws {
        let setup = try RunSetup.load(solverPath: nil, netPath: Self.zoo + "/mnist/lenet_train_test.prototxt",
                                      data: "synthetic", scheme: Scheme(), seed: 1, batchSize: 4)
        let net = try Net(setup.net, state: NetState(phase: .TRAIN),
                          context: LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1), batchSources: setup.batchSources(phase: .TRAIN, rng: RandomSource(seed: 1))),
                          initializer: ParameterInitializer(scheme: Scheme()).initialize)
        #expect(net.blob(named: "data")?.shape == [4, 1, 28, 28])
        #expect(net.parameterCount == 431_080)      // Caffe's LeNet: 520 + 25050 + 400500 + 5010
        let loss = try net.forward()
        #expect(loss.isFinite && loss > 0)
        let labels = net.blob(named: "label")!
        #expect((0..<4).allSatisfy { labels.data[$0] >= 0 && labels.data[$0] <= 9 })
        // Scale 1/256 of the byte values.
        let d = net.blob(named: "data")!
        #expect((0..<d.count).allSatisfy { d.data[$0] >= 0 && d.data[$0] < 1 })
        // --input-shape overrides the rule.
        let over = try RunSetup.load(solverPath: nil, netPath: Self.zoo + "/mnist/lenet_train_test.prototxt",
                                     data: "synthetic", scheme: Scheme(), seed: 1, batchSize: 2, inputShape: "1,32,32", classes: 3)
        let layout = over.syntheticLayout(for: over.net.layer[0])
        #expect(layout.shape.dims == [1, 32, 32] && layout.labels.classes == 3)
    }

    /// A deploy prototxt: probe adds a SoftmaxWithLoss on the Softmax's input, feeds synthetic
    /// data of the declared shape, and the backward pass reaches the first convolution.
    @Test func deployNetProbes() throws {
        let path = packageRoot() + "/Fixtures/nets/tiny_deploy.prototxt"
        let setup = try RunSetup.load(solverPath: nil, netPath: path, data: nil, scheme: Scheme(), seed: 1, batchSize: nil)
        #expect(setup.data == .synthetic(seed: SyntheticSource.defaultSeed))
        #expect(setup.notices.contains { $0.message.contains("added SoftmaxWithLoss 'initdiag_loss' on 'fc'") && $0.message.contains("7 classes") })
        var options = TrainingOptions()
        options.threads = 1
        options.testIterations = 0
        let trainer = try Trainer(setup: setup, options: options)
        let result = try trainer.probeOnce()
        #expect(result.status == .finished)
        let net = trainer.trainNet
        #expect(net.blob(named: "data")?.shape == [4, 1, 12, 12])
        let labels = net.blob(named: "initdiag_label")!
        #expect((0..<4).allSatisfy { labels.data[$0] >= 0 && labels.data[$0] < 7 })
        // The gradient reached conv1's weights.
        let w = net.params[0].blob
        #expect((0..<w.count).contains { w.diff[$0] != 0 })
        // An output that is not N×classes gets no loss: forward only, said in the notice.
        let fcn = """
        name: "fcn"
        input: "data"
        input_shape { dim: 1 dim: 1 dim: 6 dim: 6 }
        layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 3 kernel_size: 3 } }
        """
        let (same, note) = try Self.net(fcn).withLossForDeploy()
        #expect(same.layer.count == 2)     // the upgraded Input layer and the convolution
        #expect(note?.contains("has shape 1×3×4×4") == true && note?.contains("no loss added") == true)
    }

    /// An ImageNet-shaped Data layer (crop 227, a mean_file that is not there) on synthetic:
    /// 3×256×256 records cropped to 227, the missing mean replaced by mean_value 128 (said in a
    /// notice), labels over the classifier's 1000 outputs.
    @Test func imageNetShapedOnSynthetic() throws {
        let dir = try DataTestSupport.makeTempDir("imagenet-shaped")
        defer { DataTestSupport.remove(dir) }
        let text = """
        name: "alexish"
        layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
          transform_param { mirror: true crop_size: 227 mean_file: "data/ilsvrc12/imagenet_mean.binaryproto" }
          data_param { source: "examples/imagenet/ilsvrc12_train_lmdb" batch_size: 256 backend: LMDB } }
        layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
          convolution_param { num_output: 4 kernel_size: 11 stride: 4 weight_filler { type: "gaussian" std: 0.01 } } }
        layer { name: "fc8" type: "InnerProduct" bottom: "conv1" top: "fc8" inner_product_param { num_output: 1000 weight_filler { type: "gaussian" std: 0.01 } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc8" bottom: "label" top: "loss" }
        """
        let path = dir + "/net.prototxt"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let setup = try RunSetup.load(solverPath: nil, netPath: path, data: "synthetic", scheme: Scheme(), seed: 1, batchSize: 2)
        #expect(setup.notices.contains { $0.message.contains("replaced by mean_value 128") })
        let layout = setup.syntheticLayout(for: setup.net.layer[0])
        #expect(layout.shape.dims == [3, 256, 256] && layout.labels.classes == 1000)
        let rng = RandomSource(seed: 1)
        let net = try Net(setup.net, state: NetState(phase: .TRAIN),
                          context: LayerContext(phase: .TRAIN, rng: rng, batchSources: setup.batchSources(phase: .TRAIN, rng: rng)),
                          initializer: ParameterInitializer(scheme: Scheme()).initialize)
        #expect(net.blob(named: "data")?.shape == [2, 3, 227, 227])
        let loss = try net.forward()
        #expect(loss.isFinite)
        let d = net.blob(named: "data")!
        #expect((0..<d.count).allSatisfy { d.data[$0] >= -128 && d.data[$0] <= 127 })
        let l = net.blob(named: "label")!
        #expect(l.data[0] >= 0 && l.data[0] < 1000 && l.data[1] >= 0 && l.data[1] < 1000)
    }

    /// An untrained deploy net with BatchNorm on global statistics: a finding with its own
    /// explanation (the layer multiplies by 1/√eps ≈ 316), not an unexplained divergence.
    @Test func batchNormStatisticsUnsetIsAFinding() throws {
        let dir = try DataTestSupport.makeTempDir("bn-deploy")
        defer { DataTestSupport.remove(dir) }
        let text = """
        name: "bn_deploy"
        input: "data"
        input_shape { dim: 4 dim: 1 dim: 8 dim: 8 }
        layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 3 kernel_size: 3 weight_filler { type: "msra" } } }
        layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" batch_norm_param { use_global_stats: true } }
        layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc" inner_product_param { num_output: 5 weight_filler { type: "xavier" } } }
        layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
        """
        let path = dir + "/deploy.prototxt"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let setup = try RunSetup.load(solverPath: nil, netPath: path, data: nil, scheme: Scheme(), seed: 1, batchSize: nil)
        var options = TrainingOptions()
        options.threads = 1
        options.testIterations = 0
        let result = try Trainer(setup: setup, options: options).probeOnce()
        let f = result.diagnosis.findings.first { $0.kind == .batchNormStatisticsUnset }
        #expect(f?.layer == "bn1")
        #expect(f?.detail.contains("multiplies its input by 316") == true, "\(f?.detail ?? "none")")
        #expect(result.diagnosis.explanation.contains("use_global_stats: true") && result.diagnosis.explanation.contains("never accumulated"))
    }
}
