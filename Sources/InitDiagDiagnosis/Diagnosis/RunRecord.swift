import InitDiagCore
import InitDiagTrace
/// Everything one instrumented run recorded, in memory: what the trace file holds (docs/trace-format.md), as
/// the diagnosis and the report read it. `TraceReader` produces it from a file; tests build it by
/// hand.
public struct RunRecord: Sendable {
    /// Root attributes of the trace: net_name, scheme, seed, batch_size, data, status, …
    public var attributes: [String: String]
    /// One element per recorded step.
    public var iterations: [Int]
    public var loss: [Double]
    public var lr: [Double]
    /// One element per test phase (may be empty).
    public var testIterations: [Int]
    public var testLoss: [Double]
    public var testAccuracy: [Double]
    /// Layers in net order.
    public var layers: [LayerRecord]

    public init(attributes: [String: String] = [:], iterations: [Int] = [], loss: [Double] = [],
                lr: [Double] = [], testIterations: [Int] = [], testLoss: [Double] = [],
                testAccuracy: [Double] = [], layers: [LayerRecord] = []) {
        self.attributes = attributes; self.iterations = iterations; self.loss = loss; self.lr = lr
        self.testIterations = testIterations; self.testLoss = testLoss; self.testAccuracy = testAccuracy
        self.layers = layers
    }

    public var status: String { attributes["status"] ?? "unknown" }
    public var scheme: String { attributes["scheme"] ?? "" }
}

public struct LayerRecord: Sendable {
    public var name: String
    public var type: String
    public var index: Int
    /// Layer attributes: bottoms, tops, fan_in, fan_out, weight_filler, bias_filler and the
    /// mean-field predictions (e.g. "predicted_q", "predicted_correlation") as text.
    public var attributes: [String: String]
    /// Series aligned with `RunRecord.iterations`, keyed by their path below the layer group:
    /// "forward/std", "forward/between_sample_std", "backward/l2", "param0/data/std",
    /// "param0/grad/l2", "param0/update_ratio", … (docs/trace-format.md names).
    public var series: [String: [Double]]
    /// Histograms ("forward/histogram", "backward/histogram"; docs/trace-format.md), rows aligned
    /// with `RunRecord.iterations`.
    public var histograms: [String: TraceHistogramSeries]

    public init(name: String, type: String, index: Int, attributes: [String: String] = [:],
                series: [String: [Double]] = [:], histograms: [String: TraceHistogramSeries] = [:]) {
        self.name = name; self.type = type; self.index = index
        self.attributes = attributes; self.series = series; self.histograms = histograms
    }

    public func value(_ path: String, at step: Int) -> Double? {
        guard let s = series[path], step >= 0, step < s.count else { return nil }
        return s[step]
    }
}

extension RunRecord {
    /// The record as it stood when iteration `iteration` had been recorded: the steps and test
    /// phases up to and including it, every layer series cut to those steps (`diagnose
    /// --at-iteration`: what the verdict was at that point of a longer run). The status becomes
    /// "finished" unless the run had not yet got there (then the record is returned whole); a
    /// divergence recorded after it is not part of the prefix.
    public func prefix(throughIteration iteration: Int) -> RunRecord {
        let n = iterations.firstIndex { $0 > iteration } ?? iterations.count
        guard n < iterations.count else { return self }
        var out = self
        out.iterations = Array(iterations.prefix(n))
        out.loss = Array(loss.prefix(n))
        out.lr = Array(lr.prefix(n))
        let t = testIterations.firstIndex { $0 > iteration } ?? testIterations.count
        out.testIterations = Array(testIterations.prefix(t))
        out.testLoss = Array(testLoss.prefix(t))
        out.testAccuracy = Array(testAccuracy.prefix(t))
        for i in out.layers.indices {
            out.layers[i].series = out.layers[i].series.mapValues { Array($0.prefix(n)) }
        }
        out.attributes["status"] = "finished"
        return out
    }
}
