import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// `inspect` on the motivating net (Fixtures/seed/train_val.prototxt, VGG19 for CIFAR-10 with
/// every filler xavier): shapes, the parameter count recomputed here from the prototxt by formula,
/// the xavier-on-bias rows, and the JSON form's keys (docs/cli.md).
@Suite struct SeedInspectionTests {
    private var seedNet: NetParameter {
        get throws { try Prototxt.loadNet(path: ConformanceSupport.packageRoot + "/Fixtures/seed/train_val.prototxt") }
    }

    /// The learnable-value count by formula, from the prototxt's fields alone: a 3×32×32 CIFAR
    /// input; Convolution adds num_output·C_in·k² + num_output (bias_term defaults to true) and
    /// keeps H×W (k 3, pad 1, stride 1 in this net); Pooling gives ceil((H − k)/s) + 1 (Caffe's CEIL);
    /// InnerProduct adds num_output·(C·H·W) + num_output and flattens.
    private func countByFormula(_ net: NetParameter) throws -> Int {
        var channels = 3, side = 32, total = 0
        for layer in net.layer {
            switch layer.type {
            case "Convolution":
                let p = try #require(layer.convolutionParam)
                let k = Int(try #require(p.kernelSize.first)), out = Int(p.numOutput)
                #expect(p.pad.first == 1 && p.stride.isEmpty && k == 3, "\(layer.name): the formula assumes k 3, pad 1, stride 1")
                total += out * channels * k * k + out
                channels = out
            case "Pooling":
                let p = try #require(layer.poolingParam)
                let k = Int(try #require(p.kernelSize)), s = Int(p.stride)
                side = Int((Double(side - k) / Double(s)).rounded(.up)) + 1
            case "InnerProduct":
                let out = Int(try #require(layer.innerProductParam).numOutput)
                total += out * channels * side * side + out
                channels = out
                side = 1
            default:
                break
            }
        }
        return total
    }

    @Test func seedNetShapesAndParameterCount() throws {
        let param = try seedNet
        let inspection = try NetInspection(param: param, phase: .TRAIN)
        func row(_ name: String) throws -> NetInspection.LayerRow { try #require(inspection.layers.first { $0.name == name }) }
        #expect(try row("pool5").topShapes == [[128, 512, 1, 1]])
        #expect(try row("fc8").topShapes == [[128, 10]])
        let formula = try countByFormula(param)
        #expect(formula == 20_554_826)
        #expect(inspection.paramCount == formula)
        // The same count from the rows' own blob shapes.
        #expect(inspection.layers.flatMap(\.params).reduce(0) { $0 + $1.shape.reduce(1, *) } == formula)
        // TEST phase: the same parameters.
        #expect(try NetInspection(param: param, phase: .TEST).paramCount == formula)
    }

    /// Caffe's xavier on a 1-D bias blob: fan_in = count/shape[0] = 1, so U(±√3), variance 1.
    @Test func xavierBiasRows() throws {
        let inspection = try NetInspection(param: try seedNet, phase: .TRAIN)
        let learned = inspection.layers.filter { $0.type == "Convolution" || $0.type == "InnerProduct" }
        #expect(learned.count == 19)
        for layer in learned {
            #expect(layer.params.count == 2, "\(layer.name)")
            guard layer.params.count == 2 else { continue }
            let weight = layer.params[0], bias = layer.params[1]
            #expect(bias.filler == "xavier" && bias.fanIn == 1, "\(layer.name): \(bias)")
            #expect(abs((bias.variance ?? 0) - 1.0) <= 1e-7, "\(layer.name): bias variance \(String(describing: bias.variance))")
            // Weight: xavier FAN_IN, variance 1/fan_in with fan_in = C_in·k·k.
            let fanIn = weight.shape.dropFirst().reduce(1, *)
            #expect(weight.filler == "xavier" && weight.fanIn == fanIn, "\(layer.name)")
            if let v = weight.variance { #expect(abs(v * Double(fanIn) - 1) <= 1e-7, "\(layer.name)") }
            else { Issue.record("\(layer.name): no weight variance") }
        }
    }

    @Test func jsonFormHasSpecKeys() throws {
        let inspection = try NetInspection(param: try seedNet, phase: .TRAIN)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(inspection.json().utf8)) as? [String: Any])
        for key in ["net", "phase", "param_count", "layers"] { #expect(object[key] != nil, "missing \(key)") }
        #expect(object["phase"] as? String == "train")
        #expect((object["param_count"] as? NSNumber)?.intValue == 20_554_826)
        let layers = try #require(object["layers"] as? [[String: Any]])
        #expect(layers.count == inspection.layers.count)
        for layer in layers {
            for key in ["name", "type", "bottoms", "tops", "top_shapes", "params"] {
                #expect(layer[key] != nil, "layer \(layer["name"] ?? "?") lacks \(key)")
            }
            for p in layer["params"] as? [[String: Any]] ?? [] {
                for key in ["shape", "filler", "fan_in", "fan_out", "variance"] {
                    #expect(p[key] != nil, "layer \(layer["name"] ?? "?") param lacks \(key)")
                }
            }
        }
        let fc8 = try #require(layers.first { $0["name"] as? String == "fc8" })
        #expect((fc8["top_shapes"] as? [[Int]]) == [[128, 10]])
        // Round trip through the Codable form.
        let decoded = try JSONDecoder().decode(NetInspection.self, from: Data(inspection.json().utf8))
        #expect(decoded.paramCount == inspection.paramCount && decoded.layers.count == inspection.layers.count)
    }
}
