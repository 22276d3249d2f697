import Foundation
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Hand-built RunRecords shaped like a small VGG on CIFAR-10: data → (conv, ReLU[, pool])… →
/// fc6, fc7 (with ReLUs) → fc8 → SoftmaxWithLoss. The forward statistics at initialisation come
/// from the mean-field recursion written out here independently of the library: data E[x²] = 0.25
/// (pixels in [0, 1]) with correlation 0.9 between images, pooling passes moments through.
enum DiagFixture {
    static let batch = 128
    /// (name, kind): "c" = convolution / inner product followed by an in-place ReLU, "p" = pooling,
    /// "o" = the logits (no ReLU).
    static let plan: [(String, Character)] = [
        ("conv1_1", "c"), ("pool1", "p"), ("conv2_1", "c"), ("pool2", "p"),
        ("conv3_1", "c"), ("conv3_2", "c"), ("pool3", "p"), ("conv4_1", "c"), ("conv4_2", "c"), ("pool4", "p"),
        ("conv5_1", "c"), ("conv5_2", "c"), ("pool5", "p"), ("fc6", "c"), ("fc7", "c"), ("fc8", "o"),
    ]
    static let fanIn = 576.0   // 64 channels × 3 × 3

    struct Stats { var mean: Double; var std: Double; var bss: Double; var dead: Double }

    /// The `role` and `mean_field` attributes the trainer writes for the layer types the fixtures
    /// use (what `Layer.role` / `Layer.meanField` declare; Dropout in TRAIN with ratio 0.5).
    static func traits(_ type: String) -> [String: String] {
        let table: [String: (LayerRole, MeanFieldRule)] = [
            "Data": (.data, .source),
            "Convolution": (.weighted, .linear), "InnerProduct": (.weighted, .linear),
            "ReLU": (.neuron, .pointwise(.relu(slope: 0))),
            "Pooling": (.pooling, .identity(approximate: true)),
            "Dropout": (.neuron, .independentNoise(factor: 2)),
            "BatchNorm": (.normalization, .standardize),
            "SoftmaxWithLoss": (.loss, .stop),
        ]
        guard let (role, rule) = table[type] else { return [:] }
        return ["role": role.rawValue, "mean_field": rule.attribute]
    }

    /// A LayerRecord with its type's `traits` among the attributes.
    static func record(_ name: String, _ type: String, index: Int, attributes: [String: String],
                       series: [String: [Double]] = [:]) -> LayerRecord {
        LayerRecord(name: name, type: type, index: index,
                    attributes: attributes.merging(traits(type)) { given, _ in given }, series: series)
    }

    /// Builds a run of `steps` recorded iterations (0, 1, 2, …) whose forward statistics are the
    /// mean-field values for weights with σ_w² = `sigmaW2` and biases of variance `biasVariance`,
    /// the same at every step; `loss(i)` gives the loss, `logitSpread(i)` fc8's between_sample_std.
    static func run(sigmaW2: Double, biasVariance: Double, steps: Int,
                    loss: (Int) -> Double, logitSpread: (Int) -> Double,
                    deadWhenBiasDominated: Double = 0.45,
                    backwardDecay: Double = 1, biasFiller: String = "type: \"xavier\"") -> RunRecord {
        let f: (Double) -> Double = { c in
            let cc = min(1, max(-1, c))
            return ((1 - cc * cc).squareRoot() + (Double.pi - acos(cc)) * cc) / Double.pi
        }
        let finite = 1 - 1 / Double(batch)
        var layers: [LayerRecord] = []
        func constant(_ v: Double) -> [Double] { Array(repeating: v, count: steps) }
        func add(_ name: String, _ type: String, bottoms: String, tops: String, stats: Stats?,
                 extra: [String: [Double]] = [:], attributes: [String: String] = [:]) {
            var series = extra
            if let s = stats {
                series["forward/mean"] = constant(s.mean)
                series["forward/std"] = constant(s.std)
                series["forward/between_sample_std"] = constant(s.bss)
                series["forward/input_dependence"] = constant(s.std > 0 ? (s.bss / s.std) * (s.bss / s.std) : 0)
                series["forward/dead_fraction"] = constant(s.dead)
                series["forward/nonfinite_count"] = constant(0)
            }
            var attrs = attributes
            attrs["bottoms"] = bottoms; attrs["tops"] = tops
            layers.append(record(name, type, index: layers.count, attributes: attrs, series: series))
        }
        // Data: E[x²] = 0.25, uncentred correlation 0.9 ⇒ between share (1 − 1/B)(1 − 0.9).
        var m2 = 0.25, cross = 0.25 * 0.9
        let dataMean = 0.45
        add("data", "Data", bottoms: "", tops: "data,label",
            stats: Stats(mean: dataMean, std: (m2 - dataMean * dataMean).squareRoot(),
                         bss: (finite * (1 - cross / m2) * m2).squareRoot(), dead: 0))
        var blob = "data"
        // Gradient l2 into each bottom: backwardDecay^(linear layers between it and the loss), so a
        // decay below 1 makes the first layers' gradients small (vanishing), above 1 large.
        var gradient = pow(backwardDecay, Double(plan.filter { $0.1 != "p" }.count - 1))
        for (name, kind) in plan {
            switch kind {
            case "p":
                add(name, "Pooling", bottoms: blob, tops: name,
                    stats: Stats(mean: 0.5 * m2.squareRoot(), std: (m2 * 0.75).squareRoot(),
                                 bss: (finite * (1 - cross / m2) * m2).squareRoot(), dead: 0),
                    extra: ["backward/l2": constant(gradient)])
                blob = name
            default:
                // z = Wx + b: E[z²] = σ_w²·E[x²] + σ_b², E[z_a z_b] = σ_w²·E[x_a x_b] + σ_b².
                let q = sigmaW2 * m2 + biasVariance
                let c = sigmaW2 * cross + biasVariance
                let biasShare = biasVariance / q
                var extra: [String: [Double]] = [
                    "param0/data/mean": constant(0), "param0/data/std": constant((sigmaW2 / fanIn).squareRoot()),
                    "param1/data/mean": constant(0), "param1/data/std": constant(biasVariance.squareRoot()),
                    "param0/update_ratio": constant(1e-3), "param1/update_ratio": constant(1e-3),
                ]
                // Caffe computes no gradient into the data blob: conv1_1 has no backward.
                if name != "conv1_1" { extra["backward/l2"] = constant(gradient) }
                add(name, name.hasPrefix("fc") ? "InnerProduct" : "Convolution", bottoms: blob, tops: name,
                    stats: Stats(mean: 0, std: q.squareRoot(), bss: (finite * (1 - c / q) * q).squareRoot(), dead: 0),
                    extra: extra,
                    attributes: ["fan_in": "576", "weight_filler": "type: \"xavier\"", "bias_filler": biasFiller])
                blob = name
                gradient /= backwardDecay
                if kind == "o" { m2 = q; cross = c; break }
                // ReLU (in place): E[relu(z)²] = q/2, E[relu(z_a)relu(z_b)] = q/2·f(c/q), mean √(q/2π).
                m2 = q / 2; cross = q / 2 * f(c / q)
                let mean = (q / (2 * Double.pi)).squareRoot()
                add("relu" + name.dropFirst(name.hasPrefix("fc") ? 2 : 4), "ReLU", bottoms: blob, tops: blob,
                    stats: Stats(mean: mean, std: (m2 - mean * mean).squareRoot(),
                                 bss: (finite * (1 - cross / m2) * m2).squareRoot(),
                                 dead: biasShare > 0.3 ? deadWhenBiasDominated : 0),
                    extra: ["backward/l2": constant(gradient)])
            }
        }
        // The logits' spread over time is the caller's.
        layers[layers.count - 1].series["forward/between_sample_std"] = (0..<steps).map(logitSpread)
        add("loss", "SoftmaxWithLoss", bottoms: "fc8,label", tops: "loss", stats: nil,
            extra: ["backward/l2": constant(1.0)])
        return RunRecord(attributes: ["status": "finished", "batch_size": "\(batch)", "net_name": "vgg-mini", "scheme": ""],
                         iterations: Array(0..<steps), loss: (0..<steps).map(loss),
                         lr: constant(0.05), layers: layers)
    }

    /// The seed net's initialisation: xavier weights (σ_w² = 1) and xavier biases (variance 1).
    static func seed(steps: Int, loss: (Int) -> Double, logitSpread: (Int) -> Double) -> RunRecord {
        run(sigmaW2: 1, biasVariance: 1, steps: steps, loss: loss, logitSpread: logitSpread)
    }

    /// He weights (σ_w² = 2), zero biases.
    static func healthy(steps: Int, loss: (Int) -> Double, logitSpread: (Int) -> Double) -> RunRecord {
        run(sigmaW2: 2, biasVariance: 0, steps: steps, loss: loss, logitSpread: logitSpread, biasFiller: "type: \"constant\"")
    }

    /// The first `n` recorded steps of `run` (what the sweep sees while the run is going).
    static func prefix(_ run: RunRecord, _ n: Int) -> RunRecord {
        var r = run
        r.iterations = Array(run.iterations.prefix(n))
        r.loss = Array(run.loss.prefix(n))
        r.lr = Array(run.lr.prefix(n))
        for i in r.layers.indices {
            r.layers[i].series = r.layers[i].series.mapValues { Array($0.prefix(n)) }
        }
        return r
    }

    static let lnTen = log(10.0)
}
