import InitDiagCore
import InitDiagTrace
/// Caffe's Dropout (BVLC/caffe src/caffe/layers/dropout_layer.cpp), CPU version.
///
/// TRAIN: mask[i] ~ Bernoulli(1 − ratio) drawn element by element, in order, from the run's shared
/// generator (`context.rng`, Caffe's global RNG: CPU dropout calls caffe_rng_bernoulli with the
/// double p = 1. − threshold_), y = x·mask·scale, dx = dy·mask·scale, scale = float(1/(1 − ratio)).
/// Exactly `count` generator outputs are used per forward. TEST: y = x, dx = dy.
///
/// Bernoulli per boost (boostorg/random include/boost/random/bernoulli_distribution.hpp, with
/// RealType = double): false without drawing if p = 0, else double(u) ≤ p·double(2^32 − 1), u one
/// MT19937 output. In-place (top === bottom) is supported: elementwise.
public final class DropoutLayer: NeuronLayer {
    public let param: LayerParameter
    public var blobs: [Blob] = []
    public let ratio: Float
    /// Caffe: scale_ = 1. / (1. - threshold_), computed in double and stored as Dtype.
    public let scale: Float
    /// p of the Bernoulli draw in double (1. − threshold_ with threshold_ a float).
    public let keepProbability: Double
    public let phase: Phase
    private let rng: RandomSource
    /// The mask of the last TRAIN forward, one 0/1 word per element (Caffe's rand_vec_ is
    /// unsigned int). Allocated at reshape, never shrunk.
    public private(set) var mask: UnsafeMutablePointer<UInt32>
    private var maskCapacity: Int
    public private(set) var maskCount = 0

    /// TRAIN: kept units are scaled by 1/(1 − r) with masks independent per sample (docs/mean-field.md).
    public var meanField: MeanFieldRule {
        phase == .TRAIN && keepProbability != 0 ? .independentNoise(factor: 1 / keepProbability) : .identity(approximate: false)
    }
    /// One Bernoulli draw per element in TRAIN (caffe_rng_bernoulli over the whole bottom).
    public var generatorDrawsPerForward: Int { phase == .TRAIN && keepProbability != 0 ? maskCount : 0 }

    public init(param: LayerParameter, context: LayerContext) throws {
        self.param = param
        ratio = param.dropoutParam?.dropoutRatio ?? 0.5
        // Caffe only DCHECKs 0 < ratio < 1 (debug builds); ratio 0 runs as identity in release
        // builds, so [0, 1) is accepted. ratio ≥ 1 would divide by zero.
        guard ratio >= 0, ratio < 1 else {
            throw InputError("layer '\(param.name)' (Dropout): dropout_ratio must be in [0, 1), got \(ratio)")
        }
        scale = Float(1.0 / (1.0 - Double(ratio)))
        keepProbability = 1.0 - Double(ratio)
        phase = context.phase
        rng = context.rng
        maskCapacity = 1
        mask = .allocate(capacity: 1)
        mask.initialize(to: 0)
    }

    deinit { mask.deallocate() }

    /// NeuronLayer's reshape plus the mask (setUp comes from NeuronLayer and calls this).
    public func reshape(bottom: [Blob], top: [Blob]) throws {
        if top[0] !== bottom[0] { top[0].reshape(like: bottom[0]) }
        let n = bottom[0].count
        if n > maskCapacity {
            mask.deallocate()
            mask = .allocate(capacity: n)
            maskCapacity = n
            mask.initialize(repeating: 0, count: n)
        }
        maskCount = n
    }

    public var maskArray: [UInt32] { Array(UnsafeBufferPointer(start: mask, count: maskCount)) }

    public func forward(bottom: [Blob], top: [Blob]) {
        let n = bottom[0].count
        let x = bottom[0].data, y = top[0].data
        guard phase == .TRAIN else {
            if x != y { y.update(from: x, count: n) }
            return
        }
        // The draws are sequential (one shared generator); only the multiply is parallel.
        let m = mask
        if keepProbability == 0 {
            m.update(repeating: 0, count: n)
        } else {
            let threshold = keepProbability * 4_294_967_295.0
            for i in 0..<n { m[i] = Double(rng.next()) <= threshold ? 1 : 0 }
        }
        let s = scale
        parallelChunks(n) { r in
            // Caffe: top = bottom * mask * scale_, evaluated left to right in float.
            for i in r { y[i] = x[i] * Float(m[i]) * s }
        }
    }

    public func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob]) {
        guard propagateDown.first == true else { return }
        let n = bottom[0].count
        let dy = top[0].diff, dx = bottom[0].diff
        guard phase == .TRAIN else {
            if dx != dy { dx.update(from: dy, count: n) }
            return
        }
        let m = mask, s = scale
        parallelChunks(n) { r in
            for i in r { dx[i] = dy[i] * Float(m[i]) * s }
        }
    }
}
