import InitDiagCore
import InitDiagTrace
/// What every layer gets from the net besides its own LayerParameter.
public struct LayerContext: @unchecked Sendable {
    /// The phase the net was built for (TRAIN or TEST); Dropout and BatchNorm act on it.
    public var phase: Phase
    /// The run's shared generator (Caffe's global RNG): CPU Dropout draws its masks from it.
    public var rng: RandomSource
    /// Supplies batches to Data layers (nil when the net is built without data, e.g. `inspect`).
    public var batchSources: (@Sendable (LayerParameter) throws -> BatchSource)?
    /// How convolutions choose and size their algorithms (benchmarks vary it; runs use `.default`).
    public var convolutionTuning: ConvolutionTuning
    public init(phase: Phase, rng: RandomSource,
                batchSources: (@Sendable (LayerParameter) throws -> BatchSource)? = nil,
                convolutionTuning: ConvolutionTuning = .default) {
        self.phase = phase; self.rng = rng; self.batchSources = batchSources
        self.convolutionTuning = convolutionTuning
    }
}

/// Where a Data layer (or the driver of an Input layer) gets its batches: a data set behind a
/// transformer. Errors (a corrupt record) are thrown from `next` and surface from `Net.forward`.
public protocol BatchSource: AnyObject {
    /// Shape of one transformed record, (C, H, W).
    var outputShape: [Int] { get }
    var batchSize: Int { get }
    /// A line for logs and traces, e.g. "cifar10:/data (TRAIN, 50000 records)".
    var description: String { get }
    /// Writes the next `batchSize` records into `data` (N, C, H, W) and their labels into `label` (N).
    func next(data: Blob, label: Blob?) throws
}

/// A layer, as in Caffe: it owns its learnable (and state) blobs, reads bottoms, writes tops.
///
/// Life cycle, driven by the net:
/// 1. `init(param:context:)` checks the parameters that do not depend on shapes.
/// 2. `setUp(bottom:top:)` is called once with the bottom shapes known: it checks them, creates
///    `blobs` with their shapes (values are left at zero; fillers run afterwards, in the net) and
///    sets the top shapes. A shape problem throws `InputError` naming the layer and both shapes.
/// 3. `reshape(bottom:top:)` before a forward pass whose bottom shapes may have changed.
/// 4. `forward` writes tops. `backward` writes bottom diffs (overwriting them) where
///    `propagateDown[i]` is true, and **adds** into the diffs of its learnable blobs.
///
/// Bottom and top may be the same `Blob` object (in-place); layers that support that must read
/// what they need before overwriting it.
public protocol Layer: AnyObject {
    var param: LayerParameter { get }
    /// Learnable and state blobs in Caffe's order (conv/IP: weight, bias; BatchNorm: mean,
    /// variance, scale factor; Scale: γ, β).
    var blobs: [Blob] { get set }

    init(param: LayerParameter, context: LayerContext) throws

    func setUp(bottom: [Blob], top: [Blob]) throws
    func reshape(bottom: [Blob], top: [Blob]) throws
    func forward(bottom: [Blob], top: [Blob])
    func backward(top: [Blob], propagateDown: [Bool], bottom: [Blob])

    /// Number of tops/bottoms the layer accepts (nil = any); checked by the net before setUp.
    static var exactBottoms: Int? { get }
    static var minBottoms: Int { get }
    static var exactTops: Int? { get }
    static var minTops: Int { get }
    static var maxTops: Int? { get }

    /// Loss layers get loss_weight 1 on top 0 by default.
    static var isLoss: Bool { get }
    /// Whether the layer can take bottom i's gradient at all (Accuracy, the label of a loss: no).
    func allowForceBackward(bottomIndex: Int) -> Bool
    /// Layers whose blobs are state, not learned (BatchNorm): the solver never updates them.
    static var hasStateBlobs: Bool { get }

    // Per-type knowledge (Core/LayerTraits.swift, docs/architecture.md): what the net, the probes,
    // the trace, the diagnosis and resume need to know, declared here instead of in string checks.

    /// The part the layer plays (data, weighted, neuron, …); written to the trace as `role`.
    static var role: LayerRole { get }
    /// How the layer maps the mean-field moments (per instance: it may depend on parameters and
    /// phase); written to the trace as `mean_field`.
    var meanField: MeanFieldRule { get }
    /// The fillers of `blobs` as the prototxt declares them, with Caffe's defaults for omitted ones
    /// (one per blob, in blob order; empty for a layer without learnable blobs). Valid after setUp.
    var declaredFillers: [FillerParameter] { get }
    /// The blobs the initialisation schemes replace (nil: the schemes leave this layer as declared).
    var schemeTargets: SchemeTargets? { get }
    /// Numbers drawn from the run's shared generator by one forward pass with the current shapes
    /// (CPU Dropout in TRAIN: one per element). Exact resume replays this many per iteration.
    var generatorDrawsPerForward: Int { get }
    /// Which blobs hold the multiplier and the offset a `.linear` / `.affine` rule reads (default:
    /// blob 0 and blob 1, where they exist); written to the trace as `mean_field_blobs`.
    var meanFieldBlobs: MeanFieldBlobs { get }
}

public extension Layer {
    static var exactBottoms: Int? { nil }
    static var minBottoms: Int { 0 }
    static var exactTops: Int? { nil }
    static var minTops: Int { 0 }
    static var maxTops: Int? { nil }
    static var isLoss: Bool { false }
    static var hasStateBlobs: Bool { false }
    func allowForceBackward(bottomIndex: Int) -> Bool { true }
    func reshape(bottom: [Blob], top: [Blob]) throws {}
    static var role: LayerRole { isLoss ? .loss : .structural }
    var meanField: MeanFieldRule { Self.isLoss ? .stop : .restart }
    var declaredFillers: [FillerParameter] { [] }
    var schemeTargets: SchemeTargets? { nil }
    var generatorDrawsPerForward: Int { 0 }
    var meanFieldBlobs: MeanFieldBlobs {
        MeanFieldBlobs(multiplier: blobs.isEmpty ? nil : 0, offset: blobs.count > 1 ? 1 : nil)
    }
}

/// Caffe's NeuronLayer (BVLC/caffe include/caffe/layers/neuron_layer.hpp): one bottom, one top of
/// the same shape, in place allowed. An elementwise layer conforms and writes only its parameters,
/// forward, backward and mean-field rule: counts, set-up and reshape come from here.
public protocol NeuronLayer: Layer {}

public extension NeuronLayer {
    static var exactBottoms: Int? { 1 }
    static var exactTops: Int? { 1 }
    static var role: LayerRole { .neuron }
    func setUp(bottom: [Blob], top: [Blob]) throws { try reshape(bottom: bottom, top: top) }
    func reshape(bottom: [Blob], top: [Blob]) throws {
        if top[0] !== bottom[0] { top[0].reshape(like: bottom[0]) }
    }
}

/// The error a layer throws when its bottoms do not fit: names the layer and both shapes.
public func shapeError(_ param: LayerParameter, _ what: String) -> InputError {
    InputError("layer '\(param.name)' (\(param.type)): \(what)")
}
