import InitDiagCore
import InitDiagTrace
/// Caffe's Clip (BVLC/caffe src/caffe/layers/clip_layer.cpp): y = max(min, min(x, max)) with
/// std::max/std::min (a NaN input gives `min`); dx = dy·[min ≤ x ≤ max] (both ends included, as
/// Caffe's `bottom_data[i] >= min && bottom_data[i] <= max`).
///
/// Parameters: `clip_param { min max }`, both required in caffe.proto (a missing one is an error
/// naming it); neither may be NaN, and min ≤ max is required here (with min > max Caffe outputs
/// `min` everywhere — surely a mistake in the prototxt).
/// In place (top === bottom) is supported: backward reads x, so the forward keeps a copy of it
/// (Caffe's own in-place backward reads the clipped output, which always passes the test).
public final class ClipLayer: NeuronLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let min: Float, max: Float
    private let saved: SavedBottom

    public var meanField: MeanFieldRule { .pointwise(.clip(min: Double(min), max: Double(max))) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        func fail(_ what: String) -> InputError { InputError("layer '\(param.name)' (Clip): \(what)") }
        guard let p = param.clipParam else { throw fail("clip_param { min max } is required") }
        guard let lo = p.min else { throw fail("clip_param is missing its required field 'min'") }
        guard let hi = p.max else { throw fail("clip_param is missing its required field 'max'") }
        guard !lo.isNaN, !hi.isNaN else { throw fail("min and max must be numbers, got min \(lo), max \(hi)") }
        guard lo <= hi else { throw fail("min \(lo) is greater than max \(hi)") }
        min = lo; max = hi
        saved = SavedBottom(param)
    }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        if top[0] !== bottom[0] { top[0].reshape(like: bottom[0]) }
        saved.reshape(bottom: bottom[0], top: top[0])
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        saved.save(bottom: bottom[0], top: top[0])
        let x = bottom[0].data, y = top[0].data, lo = min, hi = max
        parallelChunks(bottom[0].count) { r in
            for i in r { y[i] = stdMax(lo, stdMin(x[i], hi)) }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let x = saved.input(bottom: bottom[0], top: top[0])
        let dy = top[0].diff, dx = bottom[0].diff, lo = min, hi = max
        parallelChunks(bottom[0].count) { r in
            for i in r {
                let v = x[i]
                dx[i] = dy[i] * (v >= lo && v <= hi ? 1 : 0)
            }
        }
    }
}
