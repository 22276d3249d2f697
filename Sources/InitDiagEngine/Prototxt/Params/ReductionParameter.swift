import InitDiagCore
import InitDiagTrace
/// ReductionParameter (BVLC/caffe caffe.proto; LayerParameter.reduction_param = 136).
public struct ReductionParameter: Sendable, Equatable {
    /// ReductionOp: numbered from 1 in caffe.proto (SUM = 1 … MEAN = 4), unlike the other enums.
    public enum ReductionOp: String, Sendable, CaseIterable { case SUM, ASUM, SUMSQ, MEAN }
    public var operation: ReductionOp = .SUM                       // 1
    public var axis: Int32 = 0                                     // 2
    public var coeff: Float = 1                                    // 3
    public init() {}
}

/// ReductionOp's numbers start at 1, so it is a scalar of its own rather than a `ProtoEnum`
/// (which numbers from 0).
extension ReductionParameter.ReductionOp: ProtoScalar {
    static var protoTypeName: String { "enum ReductionOp" }
    var protoNumber: Int32 {
        switch self { case .SUM: return 1; case .ASUM: return 2; case .SUMSQ: return 3; case .MEAN: return 4 }
    }
    init?(protoNumber: Int64) {
        switch protoNumber {
        case 1: self = .SUM
        case 2: self = .ASUM
        case 3: self = .SUMSQ
        case 4: self = .MEAN
        default: return nil
        }
    }
    static func fromText(_ s: TextScalar, negative: Bool) throws(ScalarError) -> Self {
        let names = allCases.map(\.rawValue)
        switch s {
        case .identifier(let id) where !negative:
            if let v = Self(rawValue: id) { return v }
            throw ScalarError(enumMessage("'\(id)'", suggestFor: id, names: names, typeName: "ReductionOp"))
        case .number(_, false):
            let n = try Int32.fromText(s, negative: negative)
            if let v = Self(protoNumber: Int64(n)) { return v }
            throw ScalarError(enumMessage(String(n), suggestFor: nil, names: names, typeName: "ReductionOp"))
        default:
            throw ScalarError("expects a name of enum ReductionOp (\(names.joined(separator: ", "))), got \(describeScalar(s, negative: negative))")
        }
    }
    var textLiteral: String { rawValue }
    static var wireType: WireType { .varint }
    static func readWire(_ r: inout WireReader) throws -> Self {
        let at = r.offset
        let n = Int64(Int32(truncatingIfNeeded: try r.readVarint()))
        guard let v = Self(protoNumber: n) else {
            throw WireError(message: "unknown value \(n) of enum ReductionOp", offset: at)
        }
        return v
    }
    func writeWire(_ field: Int, _ w: inout WireWriter) { w.varintField(field, UInt64(protoNumber)) }
    func appendPacked(to bytes: inout [UInt8]) { protoNumber.appendPacked(to: &bytes) }
    static var isPackable: Bool { true }
}

extension ReductionParameter: CaffeMessage {
    static let schema = MessageSchema<ReductionParameter>("ReductionParameter", [
        .scalar("operation", 1, \.operation),
        .scalar("axis", 2, \.axis),
        .scalar("coeff", 3, \.coeff),
    ])
}
