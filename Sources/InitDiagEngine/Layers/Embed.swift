import InitDiagCore
import InitDiagTrace
/// Caffe's Embed (BVLC/caffe src/caffe/layers/embed_layer.cpp): a lookup table. The bottom holds
/// indices (as floats) into input_dim rows of a weight (input_dim, num_output); top shape =
/// bottom shape + [num_output], top[i, :] = W[index_i, :] (+ bias (num_output) when bias_term,
/// default true). Backward: dW[index_i, :] += dy[i, :], db += Σ_i dy[i, :]; no gradient to the
/// indices (Caffe: "Can't backpropagate to EmbedLayer input").
///
/// Caffe only DCHECKs that an index is an integer in [0, input_dim) (and then reads out of
/// bounds). Here a bad index is reported through `labelError` (the net stops the run with it,
/// see `LabelReadingLayer`) and its top row gets the bias alone.
///
/// Fillers: weight_filler and bias_filler, constant 0 when omitted. Caffe's fans for the weight
/// (input_dim, num_output) are fan_in = count/shape(0) = num_output and fan_out = input_dim; the
/// schemes read it as (out = num_output, in = input_dim), the orientation of a one-hot
/// InnerProduct (a transposed InnerProduct stores its weight the same way).
public final class EmbedLayer: LabelReadingLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let numOutput: Int, inputDim: Int
    public let biasTerm: Bool
    public private(set) var labelError: InputError?
    private var rows = 0

    public static var exactBottoms: Int? { 1 }
    public static var exactTops: Int? { 1 }
    public static var role: LayerRole { .weighted }
    public var meanField: MeanFieldRule { .linear }
    public func allowForceBackward(bottomIndex: Int) -> Bool { false }
    public var declaredFillers: [FillerParameter] {
        let p = param.embedParam ?? EmbedParameter(), zero = FillerParameter(type: "constant")
        return Array([p.weightFiller ?? zero, p.biasFiller ?? zero].prefix(blobs.count))
    }
    public var schemeTargets: SchemeTargets? {
        SchemeTargets(weight: 0, bias: biasTerm ? 1 : nil, fanShape: [numOutput, inputDim])
    }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        let p = param.embedParam ?? EmbedParameter()
        guard p.numOutput > 0 else { throw shapeError(param, "EmbedLayer num_output must be positive") }
        guard p.inputDim > 0 else { throw shapeError(param, "EmbedLayer input_dim must be positive") }
        numOutput = Int(p.numOutput); inputDim = Int(p.inputDim)
        biasTerm = p.biasTerm
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        blobs = [Blob(name: "\(param.name).weight", shape: [inputDim, numOutput])]
        if biasTerm { blobs.append(Blob(name: "\(param.name).bias", shape: [numOutput])) }
        try reshape(bottom: bottom, top: top)
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        guard top[0] !== b else { throw shapeError(param, "Embed does not compute in place") }
        rows = b.count
        top[0].reshape(b.shape + [numOutput])
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = UnsafePointer(bottom[0].data), y = top[0].data, w = UnsafePointer(blobs[0].data)
        let n = numOutput, k = inputDim
        var error: InputError? = nil
        for i in 0..<rows {
            let v = x[i]
            let row = y + i * n
            guard v.isFinite, v == v.rounded(.towardZero), v >= 0, v < Float(k) else {
                if error == nil {
                    error = InputError("layer '\(param.name)' (Embed): index \(v) at position \(i) is not an integer in [0, \(k)) (input_dim \(k))")
                }
                row.update(repeating: 0, count: n)
                continue
            }
            row.update(from: w + Int(v) * n, count: n)
        }
        labelError = error
        if biasTerm {
            let bias = UnsafePointer(blobs[1].data)
            layerRowChunks(rows, rowLength: n) { i in
                let r = y + i * n
                for j in 0..<n { r[j] += bias[j] }
            }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        let x = UnsafePointer(bottom[0].data), dy = UnsafePointer(top[0].diff), dw = blobs[0].diff
        let n = numOutput, k = inputDim
        for i in 0..<rows {
            let v = x[i]
            guard v.isFinite, v == v.rounded(.towardZero), v >= 0, v < Float(k) else { continue }
            let d = dw + Int(v) * n, g = dy + i * n
            for j in 0..<n { d[j] += g[j] }
        }
        if biasTerm {
            // Caffe: gemv(Trans, M, N, 1, top_diff, ones, 1, bias_diff).
            let db = blobs[1].diff
            for i in 0..<rows {
                let g = dy + i * n
                for j in 0..<n { db[j] += g[j] }
            }
        }
    }
}
