import InitDiagCore
import InitDiagTrace
import InitDiagEngine
import InitDiagDiagnosis
extension RunRecord {
    /// Reads a whole trace into memory (what `diagnose`, `report` and a resumed sweep work from).
    public init(trace path: String) throws {
        let r = try TraceReader(path: path)
        let steps = try r.steps()
        let tests = try r.testSeries()
        var attrs: [String: String] = [:]
        for (k, v) in r.attributes { attrs[k] = v.stringValue ?? v.description }
        var layers: [LayerRecord] = []
        for info in r.layers {
            var a: [String: String] = ["bottoms": info.bottoms.joined(separator: ","), "tops": info.tops.joined(separator: ",")]
            for (k, v) in info.attributes { a[k] = v.stringValue ?? v.description }
            var series: [String: [Double]] = [:]
            for name in info.seriesNames { series[name] = try r.series(layer: info.name, name) }
            var histograms: [String: TraceHistogramSeries] = [:]
            for name in info.histogramNames { histograms[name] = try r.histogram(layer: info.name, name) }
            layers.append(LayerRecord(name: info.name, type: info.type, index: info.index, attributes: a, series: series,
                                      histograms: histograms))
        }
        self.init(attributes: attrs, iterations: steps.iteration.map { Int($0) }, loss: steps.loss, lr: steps.lr,
                  testIterations: tests.iteration.map { Int($0) }, testLoss: tests.loss, testAccuracy: tests.accuracy,
                  layers: layers.sorted { $0.index < $1.index })
    }
}
