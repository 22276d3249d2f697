import InitDiagCore
import InitDiagTrace
/// Caffe's Tile (BVLC/caffe src/caffe/layers/tile_layer.cpp): the bottom repeated `tiles` times
/// along `axis` (default 1): with outer = count(0, axis) and inner = count(axis),
/// top[o, t, i] = bottom[o, i] for t in 0..<tiles. Backward sums the tiles' diffs:
/// dx[o, i] = Σ_t dy[o, t, i] (Caffe: copy of tile 0, then axpy of the others). `tiles` is
/// required and must be positive. Not in place.
///
/// Mean field: every value appears `tiles` times, so E[x²] and the covariances pass exactly.
public final class TileLayer: Layer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let tiles: Int
    private var outer = 0, inner = 0

    public static var exactBottoms: Int? { 1 }
    public static var exactTops: Int? { 1 }
    public var meanField: MeanFieldRule { .identity(approximate: false) }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        guard let t = param.tileParam?.tiles else { throw shapeError(param, "number of tiles must be specified (tile_param { tiles: N })") }
        guard t > 0 else { throw shapeError(param, "number of tiles must be positive (got \(t))") }
        tiles = Int(t)
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }

    public func reshape(bottom: [Blob], top: [Blob]) throws {
        let b = bottom[0]
        guard top[0] !== b else { throw shapeError(param, "Tile does not compute in place") }
        let axis = try resolveLayerAxis(Int(param.tileParam?.axis ?? 1), numAxes: b.numAxes, blob: b, param)
        var shape = b.shape
        let (n, o) = shape[axis].multipliedReportingOverflow(by: tiles)
        guard !o else { throw shapeError(param, "\(tiles) tiles of axis \(axis) overflow (bottom \(b.shapeString))") }
        shape[axis] = n
        top[0].reshape(shape)
        outer = b.count(from: 0, to: axis)
        inner = b.count(from: axis)
    }

    public func forward(bottom: [Blob], top: [Blob]) {
        let x = UnsafePointer(bottom[0].data), y = top[0].data, inner = self.inner, tiles = self.tiles
        layerRowChunks(outer, rowLength: inner * tiles) { o in
            for t in 0..<tiles { (y + (o * tiles + t) * inner).update(from: x + o * inner, count: inner) }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let dy = UnsafePointer(top[0].diff), dx = bottom[0].diff, inner = self.inner, tiles = self.tiles
        layerRowChunks(outer, rowLength: inner * tiles) { o in
            let d = dx + o * inner
            d.update(from: dy + o * tiles * inner, count: inner)
            for t in 1..<max(tiles, 1) {
                let s = dy + (o * tiles + t) * inner
                for i in 0..<inner { d[i] += s[i] }
            }
        }
    }
}
