import InitDiagCore
import InitDiagTrace
/// Caffe's Swish (BVLC/caffe src/caffe/layers/swish_layer.cpp): y = x·sigmoid(β·x), with
/// s = sigmoid(β·x) from Caffe's inner Sigmoid layer (β·x in float, sigmoid as
/// `0.5·tanh(0.5·v) + 0.5` in double, rounded to float), y = x·s in float;
/// dx = dy·(β·y + s·(1 − β·y)), with β·y in float and the rest in double as Caffe writes
/// `top_diff[i] * (beta * swish_x + sigmoid_output_data[i] * (1. - beta * swish_x))`.
///
/// Parameters: `swish_param { beta }` (default 1; must be finite here).
/// In place (top === bottom) is supported: forward keeps s (Caffe's sigmoid_output_), backward
/// reads only y and s.
public final class SwishLayer: NeuronLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let beta: Float
    /// sigmoid(β·x) of the last forward (Caffe's sigmoid_output_).
    private let sigmoidOutput: Blob

    public var meanField: MeanFieldRule { .pointwise(.swish(beta: Double(beta))) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        beta = param.swishParam?.beta ?? 1
        sigmoidOutput = Blob(name: "\(param.name)_sigmoid_output")
        try requireFinite(beta, "beta", param)
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        if top[0] !== bottom[0] { top[0].reshape(like: bottom[0]) }
        sigmoidOutput.reshape(like: bottom[0])
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = bottom[0].data, y = top[0].data, s = sigmoidOutput.data, b = beta
        parallelChunks(bottom[0].count, minChunk: 4096) { r in
            for i in r {
                let v = x[i]
                let sv = caffeSigmoid(v * b)
                s[i] = sv
                y[i] = v * sv
            }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let y = top[0].data, dy = top[0].diff, dx = bottom[0].diff, s = sigmoidOutput.data, b = beta
        parallelChunks(bottom[0].count) { r in
            for i in r {
                let by = b * y[i]
                dx[i] = Float(Double(dy[i]) * (Double(by) + Double(s[i]) * (1 - Double(by))))
            }
        }
    }
}
