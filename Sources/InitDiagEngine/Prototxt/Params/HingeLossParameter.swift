import InitDiagCore
import InitDiagTrace
/// HingeLossParameter (BVLC/caffe src/caffe/proto/caffe.proto; LayerParameter field 114,
/// V1LayerParameter field 29).
public struct HingeLossParameter: Sendable, Equatable {
    /// enum Norm { L1 = 1; L2 = 2; } — numbered from 1, unlike the enums `ProtoEnum` handles.
    public enum Norm: String, Sendable, CaseIterable {
        case L1, L2
        var protoNumber: Int32 { self == .L1 ? 1 : 2 }
        init?(protoNumber: Int64) {
            switch protoNumber {
            case 1: self = .L1
            case 2: self = .L2
            default: return nil
            }
        }
    }
    public var norm: Norm = .L1                                    // 1 [L1]
    public init() {}
}

extension HingeLossParameter.Norm: ProtoScalar {
    static var protoTypeName: String { "enum Norm" }
    static func fromText(_ s: TextScalar, negative: Bool) throws(ScalarError) -> Self {
        switch s {
        case .identifier(let id) where !negative:
            if let v = Self(rawValue: id) { return v }
            throw ScalarError(enumMessage("'\(id)'", suggestFor: id, names: allCases.map(\.rawValue), typeName: "Norm"))
        case .number(_, false):
            let n = try Int32.fromText(s, negative: negative)
            if let v = Self(protoNumber: Int64(n)) { return v }
            throw ScalarError(enumMessage(String(n), suggestFor: nil, names: allCases.map(\.rawValue), typeName: "Norm"))
        default:
            throw ScalarError("expects a name of enum Norm (L1, L2), got \(describeScalar(s, negative: negative))")
        }
    }
    var textLiteral: String { rawValue }
    static var wireType: WireType { .varint }
    static func readWire(_ r: inout WireReader) throws -> Self {
        let at = r.offset
        let n = try Int32.readWire(&r)
        guard let v = Self(protoNumber: Int64(n)) else {
            throw WireError(message: "unknown value \(n) of enum Norm", offset: at)
        }
        return v
    }
    func writeWire(_ field: Int, _ w: inout WireWriter) { protoNumber.writeWire(field, &w) }
    func appendPacked(to bytes: inout [UInt8]) { protoNumber.appendPacked(to: &bytes) }
    static var isPackable: Bool { true }
}

extension HingeLossParameter: CaffeMessage {
    static let schema = MessageSchema<HingeLossParameter>("HingeLossParameter", [
        .scalar("norm", 1, \.norm),
    ])
}
