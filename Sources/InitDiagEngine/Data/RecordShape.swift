import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The shape of the records a data layer reads (C × H × W, before the transformer's crop), with
/// the reason it was chosen — what `synthetic` generates and what `inspect` builds with when no
/// data is read. One rule for both, in this order (first that applies):
///
/// 1. `--input-shape C,H,W` given by the user;
/// 2. an Input layer: its declared shape (axes 1…; a 2-D N×D input is D×1×1);
/// 3. a `transform_param.mean_file` that exists: its C×H×W (Caffe requires the records to match
///    the mean image exactly, data_transformer.cpp CHECK_EQ on channels, height and width);
/// 4. the data source's name as Caffe's own examples name their DBs: a source containing `mnist`
///    → 1×28×28 (examples/mnist, examples/siamese), `cifar` → 3×32×32, `ilsvrc` or `imagenet` →
///    3×256×256 (examples/imagenet: convert_imageset --resize_height/width 256);
/// 5. `crop_size` c: c ≤ 32 → 3×32×32 (CIFAR-style crops of 32×32 records), c ≤ 256 →
///    3×256×256 (the ImageNet convention: 227 and 224 crops of 256×256 records), c ≤ 4096 → c×c
///    (larger crops are left to fail against the default record, as Caffe would);
/// 6. otherwise 3×32×32 (CIFAR-10's records; the shape the first consumer needs cannot be known).
///
/// Then the channels are adjusted to what the data top's consumers and the transformer say:
/// `mean_value` with k > 1 entries → k channels (Caffe: one per channel); a Slice that takes the
/// data top (the siamese pair: two images stacked on the channel axis) → channels × its number of
/// tops when the channels came from rules 4–6. A crop larger than the chosen record makes the
/// record the crop's size.
public struct RecordShape: Equatable, Sendable, CustomStringConvertible {
    public var channels: Int, height: Int, width: Int
    /// Why this shape: "--input-shape", "input_param", "the mean file", …
    public var reason: String

    public init(channels: Int, height: Int, width: Int, reason: String) {
        self.channels = channels; self.height = height; self.width = width; self.reason = reason
    }

    public static let cifar = RecordShape(channels: 3, height: 32, width: 32, reason: "CIFAR-10's record shape (default)")

    public var dims: [Int] { [channels, height, width] }
    public var description: String { "\(channels)×\(height)×\(width)" }

    /// Parses `--input-shape C,H,W` (also `C×H×W` or `CxHxW`); H and W may be omitted for a
    /// vector input (`D` → D×1×1).
    public static func parse(_ s: String) throws -> RecordShape {
        let parts = s.split(whereSeparator: { $0 == "," || $0 == "x" || $0 == "×" }).map { $0.trimmingCharacters(in: .whitespaces) }
        guard (parts.count == 3 || parts.count == 1), let values = Optional(parts.compactMap { Int($0) }),
              values.count == parts.count, values.allSatisfy({ $0 > 0 && $0 <= 1 << 16 }) else {
            throw InputError("--input-shape '\(s)': expected C,H,W (three positive integers, e.g. 1,28,28)")
        }
        let v = values.count == 3 ? values : [values[0], 1, 1]
        return RecordShape(channels: v[0], height: v[1], width: v[2], reason: "--input-shape \(v.map(String.init).joined(separator: ","))")
    }

    /// The record shape a Data-type layer `layer` of `net` reads when no data says otherwise
    /// (rules 1 and 3–6 plus the channel adjustments of the type's documentation).
    public static func forDataLayer(_ layer: LayerParameter, in net: NetParameter, override: RecordShape? = nil) -> RecordShape {
        if let override { return override }
        let transform = layer.transformParam ?? TransformationParameter()
        let crop = Int(transform.cropSize)
        if let path = transform.meanFile, let mean = try? DataMeanFile.read(path: path),
           mean.channels > 0, mean.height > 0, mean.width > 0 {
            return RecordShape(channels: mean.channels, height: mean.height, width: mean.width,
                               reason: "the shape of mean_file \(path)")
        }
        if layer.type == "ImageData", let ip = layer.imageDataParam, ip.newHeight > 0, ip.newWidth > 0 {
            return RecordShape(channels: ip.isColor ? 3 : 1, height: Int(ip.newHeight), width: Int(ip.newWidth),
                               reason: "image_data_param new_height × new_width")
        }
        let source = (layer.dataParam?.source ?? layer.imageDataParam?.source ?? "").lowercased()
        var shape: RecordShape
        if source.contains("mnist") {
            shape = RecordShape(channels: 1, height: 28, width: 28, reason: "data_param.source names MNIST (1×28×28 records)")
        } else if source.contains("cifar") {
            shape = RecordShape(channels: 3, height: 32, width: 32, reason: "data_param.source names CIFAR (3×32×32 records)")
        } else if source.contains("ilsvrc") || source.contains("imagenet") {
            shape = RecordShape(channels: 3, height: 256, width: 256, reason: "data_param.source names ImageNet (3×256×256 records, as Caffe's examples/imagenet writes them)")
        } else if crop > 0 && crop <= 32 {
            shape = RecordShape(channels: 3, height: 32, width: 32, reason: "crop_size \(crop) of CIFAR-size records (3×32×32)")
        } else if crop > 0 && crop <= 256 {
            shape = RecordShape(channels: 3, height: 256, width: 256, reason: "crop_size \(crop): ImageNet-style 3×256×256 records")
        } else if crop > 256 && crop <= 4096 {
            shape = RecordShape(channels: 3, height: crop, width: crop, reason: "crop_size \(crop): records of the crop's size")
        } else {
            shape = RecordShape(channels: 3, height: 32, width: 32, reason: "nothing in the layer tells the record shape (no MNIST, CIFAR or ImageNet source name, crop_size or readable mean_file): CIFAR-10's 3×32×32 assumed; give --input-shape C,H,W")
        }
        if crop > min(shape.height, shape.width) && crop <= 4096 {
            shape.height = max(shape.height, crop); shape.width = max(shape.width, crop)
            shape.reason += "; enlarged to the crop_size \(crop)"
        }
        if transform.meanValue.count > 1 {
            shape.channels = transform.meanValue.count
            shape.reason += "; \(transform.meanValue.count) channels from mean_value"
        } else if let top = layer.top.first, let slice = net.layer.first(where: { $0.type == "Slice" && $0.bottom.first == top }),
                  slice.top.count > 1 {
            shape.channels *= slice.top.count
            shape.reason += "; \(slice.top.count) images stacked on the channel axis for Slice '\(slice.name)'"
        }
        return shape
    }

    /// The record shape of an Input layer's first top (N × C × H × W → C×H×W; N × D → D×1×1;
    /// N × C × H → C×H×1), or nil when it declares no usable shape.
    public static func forInputLayer(_ layer: LayerParameter) -> RecordShape? {
        guard let dims = layer.inputParam?.shape.first?.dim.map({ Int($0) }), dims.count >= 2,
              dims.dropFirst().allSatisfy({ $0 > 0 }) else { return nil }
        let rest = Array(dims.dropFirst())
        let reason = "input_param shape \(dims.map(String.init).joined(separator: "×"))"
        switch rest.count {
        case 1: return RecordShape(channels: rest[0], height: 1, width: 1, reason: reason)
        case 2: return RecordShape(channels: rest[0], height: rest[1], width: 1, reason: reason)
        default: return RecordShape(channels: rest[0], height: rest[1], width: rest[2...].reduce(1, *), reason: reason)
        }
    }
}

/// The label range a net's loss expects, with the reason: the width of the classifier feeding
/// the first SoftmaxWithLoss / Accuracy / HingeLoss / InfogainLoss / MultinomialLogisticLoss
/// (the num_output of the InnerProduct or Convolution that produces its first bottom, followed
/// back through in-place layers and Softmax/Flatten/Reshape/Dropout); the smallest when several
/// losses disagree (a label must be valid for every one of them). ContrastiveLoss: 2 (similar or
/// not). Otherwise 10.
public struct LabelRange: Equatable, Sendable {
    public var classes: Int
    public var reason: String

    public static func of(_ net: NetParameter, override: Int? = nil) -> LabelRange {
        if let override { return LabelRange(classes: override, reason: "--classes \(override)") }
        let classifierLosses: Set<String> = ["SoftmaxWithLoss", "Accuracy", "HingeLoss", "InfogainLoss", "MultinomialLogisticLoss"]
        var found: [(Int, String)] = []
        for (li, l) in net.layer.enumerated() {
            if l.type == "ContrastiveLoss" { found.append((2, "ContrastiveLoss '\(l.name)' takes similar/dissimilar labels")) }
            guard classifierLosses.contains(l.type), let blob = l.bottom.first else { continue }
            if let (k, producer) = classifierWidth(of: blob, before: li, in: net) {
                found.append((k, "num_output \(k) of '\(producer)', which feeds \(l.type) '\(l.name)'"))
            }
        }
        guard let best = found.min(by: { $0.0 < $1.0 }), best.0 > 0 else {
            return LabelRange(classes: 10, reason: "no classifier found in the net: 10 classes")
        }
        return LabelRange(classes: best.0, reason: best.1)
    }

    static func classifierWidth(of blob: String, before index: Int, in net: NetParameter) -> (Int, String)? {
        var name = blob
        var i = index - 1
        let passThrough: Set<String> = ["Softmax", "Flatten", "Reshape", "Dropout", "Split", "ReLU", "Sigmoid", "TanH", "BatchNorm", "Scale", "Bias"]
        var steps = 0
        while i >= 0 && steps < 64 {
            let l = net.layer[i]
            if l.top.contains(name) {
                steps += 1
                if l.type == "InnerProduct", let k = l.innerProductParam?.numOutput { return (Int(k), l.name) }
                if l.type == "Convolution", let k = l.convolutionParam?.numOutput { return (Int(k), l.name) }
                if l.bottom.contains(name) { i -= 1; continue }      // in place: look further back
                guard passThrough.contains(l.type), let b = l.bottom.first else { return nil }
                name = b
            }
            i -= 1
        }
        return nil
    }
}
