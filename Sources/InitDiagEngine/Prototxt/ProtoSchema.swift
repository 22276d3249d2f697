import InitDiagCore
import InitDiagTrace
// The schema machinery: every Caffe message lists its fields once, as `ProtoField`s built from
// (name, number, key path). Each entry carries the four codecs of that field — text decoding,
// text printing, binary (wire) decoding and encoding — so they cannot drift apart.
// The tables themselves are in CaffeSchema.swift.

/// A Caffe message with a schema.
protocol CaffeMessage: Sendable, Equatable {
    init()
    static var schema: MessageSchema<Self> { get }
    /// Called after the message was read from text at `location` (its field name's place).
    mutating func didDecodeText(at location: TextLocation)
}

extension CaffeMessage {
    mutating func didDecodeText(at location: TextLocation) {}
}

struct MessageSchema<M>: Sendable {
    /// The caffe.proto message name, for messages about the top level.
    let protoName: String
    let fields: [ProtoField<M>]
    let byName: [String: Int]
    let byNumber: [Int: Int]
    /// Fields initdiag does not implement (real caffe.proto names → numbers): named in errors,
    /// never silently ignored in text.
    let unsupported: [String: Int]
    /// How an unsupported field is named in its error, where the bare name would mislead.
    let unsupportedNotes: [String: String]
    /// Field indices in number order: protobuf's printer emits fields by number.
    let printOrder: [Int]

    init(_ protoName: String, _ fields: [ProtoField<M>], unsupported: [String: Int] = [:], notes: [String: String] = [:]) {
        self.protoName = protoName
        self.fields = fields
        var byName: [String: Int] = [:], byNumber: [Int: Int] = [:]
        for (i, f) in fields.enumerated() {
            byName[f.name] = i
            byNumber[f.number] = i
        }
        self.byName = byName
        self.byNumber = byNumber
        self.unsupported = unsupported
        unsupportedNotes = notes
        printOrder = fields.indices.sorted { fields[$0].number < fields[$1].number }
    }
}

/// One field of message M with its four codecs.
struct ProtoField<M>: Sendable {
    let name: String
    let number: Int
    let isRepeated: Bool
    /// The proto type for messages to the user ("uint32", "message FillerParameter", …).
    let typeName: String
    let decodeText: @Sendable (inout M, TextField) throws(PrototxtError) -> Void
    let printText: @Sendable (M, inout TextPrinter) -> Void
    let decodeWire: @Sendable (inout M, inout WireReader, WireType) throws -> Void
    let encodeWire: @Sendable (M, inout WireWriter) -> Void
}

// MARK: - Scalars

/// A value one text token (or one wire value) gives.
protocol ProtoScalar: Equatable, Sendable {
    /// The proto type name, for messages ("int32", "float", "enum PoolMethod").
    static var protoTypeName: String { get }
    static func fromText(_ scalar: TextScalar, negative: Bool) throws(ScalarError) -> Self
    var textLiteral: String { get }
    /// The wire type of one unpacked element.
    static var wireType: WireType { get }
    static func readWire(_ r: inout WireReader) throws -> Self
    func writeWire(_ field: Int, _ w: inout WireWriter)
    /// Appends the value without a tag, as an element of a packed run.
    func appendPacked(to bytes: inout [UInt8])
    /// Whether a repeated field of this type may come packed (numeric types).
    static var isPackable: Bool { get }
}

/// Why a token does not fit a type; the decoder adds the field name and place.
struct ScalarError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// How the decoder names a token in messages, as it was written.
func describeScalar(_ s: TextScalar, negative: Bool) -> String {
    let sign = negative ? "-" : ""
    switch s {
    case .identifier(let id): return "'\(sign)\(id)'"
    case .number(let text, _): return sign + text
    case .string(let b): return "the string " + TextFormatting.quote(b, limit: 40)
    }
}

/// The magnitude of an integer token (decimal, 0x hex or 0 octal), as io::Tokenizer::ParseInteger.
private func integerMagnitude(_ s: TextScalar, negative: Bool, type: String) throws(ScalarError) -> UInt64 {
    guard case .number(let text, let isFloat) = s, !isFloat else {
        throw ScalarError("expects an integer (\(type)), got \(describeScalar(s, negative: negative))")
    }
    let value: UInt64?
    if text.hasPrefix("0x") || text.hasPrefix("0X") {
        value = UInt64(text.dropFirst(2), radix: 16)
    } else if text.count > 1, text.hasPrefix("0") {
        value = UInt64(text.dropFirst(), radix: 8)
    } else {
        value = UInt64(text, radix: 10)
    }
    guard let v = value else {
        throw ScalarError("value \(negative ? "-" : "")\(text) is out of range for \(type)")
    }
    return v
}

/// Signed integer within [min, max] (ConsumeSignedInteger: '-' allows one more).
private func signedInteger(_ s: TextScalar, negative: Bool, min: Int64, max: Int64, type: String) throws(ScalarError) -> Int64 {
    let m = try integerMagnitude(s, negative: negative, type: type)
    if negative {
        guard m <= min.magnitude else { throw ScalarError("value \(describeScalar(s, negative: true)) is out of range for \(type)") }
        return m == Int64.min.magnitude ? Int64.min : -Int64(m)
    }
    guard m <= UInt64(max) else { throw ScalarError("value \(describeScalar(s, negative: false)) is out of range for \(type)") }
    return Int64(m)
}

/// Appends a base-128 varint (the payload of packed integer runs).
private func appendVarint(_ v: UInt64, to bytes: inout [UInt8]) {
    var v = v
    while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
    bytes.append(UInt8(v))
}

private func appendLittleEndian<T: FixedWidthInteger>(_ v: T, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
}

extension Int32: ProtoScalar {
    func appendPacked(to bytes: inout [UInt8]) { appendVarint(UInt64(bitPattern: Int64(self)), to: &bytes) }
    static var protoTypeName: String { "int32" }
    static func fromText(_ s: TextScalar, negative: Bool) throws(ScalarError) -> Int32 {
        Int32(try signedInteger(s, negative: negative, min: Int64(Int32.min), max: Int64(Int32.max), type: "int32"))
    }
    var textLiteral: String { String(self) }
    static var wireType: WireType { .varint }
    // int32 on the wire: the low 32 bits of the varint (negative values are 10-byte varints).
    static func readWire(_ r: inout WireReader) throws -> Int32 { Int32(truncatingIfNeeded: try r.readVarint()) }
    func writeWire(_ field: Int, _ w: inout WireWriter) { w.int64Field(field, Int64(self)) }
    static var isPackable: Bool { true }
}

extension UInt32: ProtoScalar {
    func appendPacked(to bytes: inout [UInt8]) { appendVarint(UInt64(self), to: &bytes) }
    static var protoTypeName: String { "uint32" }
    static func fromText(_ s: TextScalar, negative: Bool) throws(ScalarError) -> UInt32 {
        // ConsumeUnsignedInteger rejects '-' outright.
        if negative, case .number(let text, false) = s {
            throw ScalarError("value -\(text) is out of range for uint32 (it cannot be negative)")
        }
        let m = try integerMagnitude(s, negative: negative, type: "uint32")
        guard !negative, m <= UInt64(UInt32.max) else {
            throw ScalarError("value \(describeScalar(s, negative: negative)) is out of range for uint32")
        }
        return UInt32(m)
    }
    var textLiteral: String { String(self) }
    static var wireType: WireType { .varint }
    static func readWire(_ r: inout WireReader) throws -> UInt32 { UInt32(truncatingIfNeeded: try r.readVarint()) }
    func writeWire(_ field: Int, _ w: inout WireWriter) { w.varintField(field, UInt64(self)) }
    static var isPackable: Bool { true }
}

extension Int64: ProtoScalar {
    func appendPacked(to bytes: inout [UInt8]) { appendVarint(UInt64(bitPattern: self), to: &bytes) }
    static var protoTypeName: String { "int64" }
    static func fromText(_ s: TextScalar, negative: Bool) throws(ScalarError) -> Int64 {
        try signedInteger(s, negative: negative, min: Int64.min, max: Int64.max, type: "int64")
    }
    var textLiteral: String { String(self) }
    static var wireType: WireType { .varint }
    static func readWire(_ r: inout WireReader) throws -> Int64 { Int64(bitPattern: try r.readVarint()) }
    func writeWire(_ field: Int, _ w: inout WireWriter) { w.int64Field(field, self) }
    static var isPackable: Bool { true }
}

/// ConsumeDouble: a decimal integer or float token, or inf/infinity/nan (any case), with an
/// optional '-'. Hex and octal integers are rejected for floating fields.
private func doubleValue(_ s: TextScalar, negative: Bool, type: String) throws(ScalarError) -> Double {
    var v: Double
    switch s {
    case .number(let text, let isFloat):
        if !isFloat, text.count > 1, text.hasPrefix("0") {
            throw ScalarError("expects a decimal number (\(type)), got \(text)")
        }
        var digits = Substring(text)
        if let last = digits.last, last == "f" || last == "F" { digits = digits.dropLast() }
        // Swift's Double(String) rounds correctly, as strtod does.
        guard let d = Double(digits) else { throw ScalarError("malformed number \(text)") }
        v = d
    case .identifier(let id):
        switch id.lowercased() {
        case "inf", "infinity": v = .infinity
        case "nan": v = .nan
        default: throw ScalarError("expects a number (\(type)), got \(describeScalar(s, negative: negative))")
        }
    case .string:
        throw ScalarError("expects a number (\(type)), got \(describeScalar(s, negative: negative))")
    }
    if negative { v = -v }
    return v
}

extension Float: ProtoScalar {
    func appendPacked(to bytes: inout [UInt8]) { appendLittleEndian(bitPattern, to: &bytes) }
    static var protoTypeName: String { "float" }
    static func fromText(_ s: TextScalar, negative: Bool) throws(ScalarError) -> Float {
        // The text is read as a double, then narrowed (io::SafeDoubleToFloat: beyond the float
        // range gives ±inf).
        let d = try doubleValue(s, negative: negative, type: "float")
        if d.isFinite, abs(d) > Double(Float.greatestFiniteMagnitude) {
            return d > 0 ? .infinity : -.infinity
        }
        return Float(d)
    }
    var textLiteral: String { TextFormatting.floatLiteral(self) }
    static var wireType: WireType { .fixed32 }
    static func readWire(_ r: inout WireReader) throws -> Float { Float(bitPattern: try r.readFixed32()) }
    func writeWire(_ field: Int, _ w: inout WireWriter) { w.floatField(field, self) }
    static var isPackable: Bool { true }
}

extension Double: ProtoScalar {
    func appendPacked(to bytes: inout [UInt8]) { appendLittleEndian(bitPattern, to: &bytes) }
    static var protoTypeName: String { "double" }
    static func fromText(_ s: TextScalar, negative: Bool) throws(ScalarError) -> Double {
        try doubleValue(s, negative: negative, type: "double")
    }
    var textLiteral: String { TextFormatting.doubleLiteral(self) }
    static var wireType: WireType { .fixed64 }
    static func readWire(_ r: inout WireReader) throws -> Double { Double(bitPattern: try r.readFixed64()) }
    func writeWire(_ field: Int, _ w: inout WireWriter) { w.doubleField(field, self) }
    static var isPackable: Bool { true }
}

extension Bool: ProtoScalar {
    func appendPacked(to bytes: inout [UInt8]) { bytes.append(self ? 1 : 0) }
    static var protoTypeName: String { "bool" }
    /// text_format.cc: an integer token 0 or 1, or true/True/t/false/False/f.
    static func fromText(_ s: TextScalar, negative: Bool) throws(ScalarError) -> Bool {
        switch s {
        case .number(_, false) where !negative:
            let m = try integerMagnitude(s, negative: false, type: "bool")
            guard m <= 1 else { throw ScalarError("expects true or false (bool), got \(describeScalar(s, negative: negative))") }
            return m == 1
        case .identifier("true"), .identifier("True"), .identifier("t"): if !negative { return true }
        case .identifier("false"), .identifier("False"), .identifier("f"): if !negative { return false }
        default: break
        }
        throw ScalarError("expects true or false (bool), got \(describeScalar(s, negative: negative))")
    }
    var textLiteral: String { self ? "true" : "false" }
    static var wireType: WireType { .varint }
    static func readWire(_ r: inout WireReader) throws -> Bool { try r.readVarint() != 0 }
    func writeWire(_ field: Int, _ w: inout WireWriter) { w.boolField(field, self) }
    static var isPackable: Bool { true }
}

extension String: ProtoScalar {
    func appendPacked(to bytes: inout [UInt8]) { appendVarint(UInt64(utf8.count), to: &bytes); bytes.append(contentsOf: utf8) }
    static var protoTypeName: String { "string" }
    static func fromText(_ s: TextScalar, negative: Bool) throws(ScalarError) -> String {
        guard case .string(let bytes) = s, !negative else {
            throw ScalarError("expects a quoted string, got \(describeScalar(s, negative: negative))")
        }
        guard let v = String(validating: bytes, as: UTF8.self) else {
            throw ScalarError("string \(TextFormatting.quote(bytes, limit: 40)) is not valid UTF-8")
        }
        return v
    }
    var textLiteral: String { TextFormatting.quote(Array(utf8)) }
    static var wireType: WireType { .lengthDelimited }
    static func readWire(_ r: inout WireReader) throws -> String {
        let range = try r.readLengthDelimited()
        return r.string(range)
    }
    func writeWire(_ field: Int, _ w: inout WireWriter) { w.stringField(field, self) }
    static var isPackable: Bool { false }
}

/// Caffe's enums: Swift cases named exactly as in caffe.proto, numbered 0, 1, 2, … in
/// declaration order (true of every enum initdiag reads; the schema test checks the numbers).
protocol ProtoEnum: ProtoScalar, CaseIterable, RawRepresentable where RawValue == String {
    static var protoEnumName: String { get }
}

extension ProtoEnum {
    static var protoTypeName: String { "enum \(protoEnumName)" }
    var protoNumber: Int32 {
        var number: Int32 = 0
        for c in Self.allCases {
            if c == self { return number }
            number += 1
        }
        return 0  // not reached: every value is one of allCases
    }
    init?(protoNumber: Int64) {
        guard protoNumber >= 0, protoNumber < Int64(Self.allCases.count) else { return nil }
        self = Self.allCases[Self.allCases.index(Self.allCases.startIndex, offsetBy: Int(protoNumber))]
    }
    static var names: [String] { allCases.map(\.rawValue) }
    /// An identifier names the value; an integer (optionally negative) gives its number.
    static func fromText(_ s: TextScalar, negative: Bool) throws(ScalarError) -> Self {
        switch s {
        case .identifier(let id) where !negative:
            if let v = Self(rawValue: id) { return v }
            throw ScalarError(enumMessage("'\(id)'", suggestFor: id, names: names, typeName: protoEnumName))
        case .number(_, false):
            let n = try signedInteger(s, negative: negative, min: Int64(Int32.min), max: Int64(Int32.max), type: "enum \(protoEnumName)")
            if let v = Self(protoNumber: n) { return v }
            throw ScalarError(enumMessage(String(n), suggestFor: nil, names: names, typeName: protoEnumName))
        default:
            throw ScalarError("expects a name of enum \(protoEnumName) (\(names.joined(separator: ", "))), got \(describeScalar(s, negative: negative))")
        }
    }
    var textLiteral: String { rawValue }
    static var wireType: WireType { .varint }
    static func readWire(_ r: inout WireReader) throws -> Self {
        let at = r.offset
        let n = Int64(Int32(truncatingIfNeeded: try r.readVarint()))
        guard let v = Self(protoNumber: n) else {
            throw WireError(message: "unknown value \(n) of enum \(protoEnumName)", offset: at)
        }
        return v
    }
    func writeWire(_ field: Int, _ w: inout WireWriter) { w.varintField(field, UInt64(protoNumber)) }
    func appendPacked(to bytes: inout [UInt8]) { appendVarint(UInt64(protoNumber), to: &bytes) }
    static var isPackable: Bool { true }
}

/// "has no value 'AVG' (enum PoolMethod: MAX, AVE, STOCHASTIC); did you mean 'AVE'?" — the
/// names are listed when there are few.
func enumMessage(_ shown: String, suggestFor id: String?, names: [String], typeName: String) -> String {
    var m = "has no value \(shown) (enum \(typeName)"
    m += names.count <= 8 ? ": \(names.joined(separator: ", ")))" : ")"
    if let id, let s = closestName(to: id, in: names) { m += "; did you mean '\(s)'?" }
    return m
}

extension Phase: ProtoEnum { static var protoEnumName: String { "Phase" } }
extension FillerParameter.VarianceNorm: ProtoEnum { static var protoEnumName: String { "VarianceNorm" } }
extension ParamSpec.ShareMode: ProtoEnum { static var protoEnumName: String { "DimCheckMode" } }
extension LossParameter.NormalizationMode: ProtoEnum { static var protoEnumName: String { "NormalizationMode" } }
extension ComputeEngine: ProtoEnum { static var protoEnumName: String { "Engine" } }
extension PoolingParameter.PoolMethod: ProtoEnum { static var protoEnumName: String { "PoolMethod" } }
extension PoolingParameter.RoundMode: ProtoEnum { static var protoEnumName: String { "RoundMode" } }
extension EltwiseParameter.EltwiseOp: ProtoEnum { static var protoEnumName: String { "EltwiseOp" } }
extension DataParameter.DB: ProtoEnum { static var protoEnumName: String { "DB" } }
extension SolverParameter.SolverMode: ProtoEnum { static var protoEnumName: String { "SolverMode" } }
extension SolverParameter.SnapshotFormat: ProtoEnum { static var protoEnumName: String { "SnapshotFormat" } }

// MARK: - Field factories

/// The scalar part of a text field: one token, with its ':' required (text_format.cc).
private func scalarText<V: ProtoScalar>(_ tf: TextField, _ item: TextValue, _: V.Type) throws(PrototxtError) -> V {
    switch item.kind {
    case .scalar(let s, let negative):
        guard tf.hasColon else { throw PrototxtError(tf.location, "expected ':' after '\(tf.name)'") }
        do throws(ScalarError) {
            return try V.fromText(s, negative: negative)
        } catch {
            throw PrototxtError(item.location, "'\(tf.name)' \(error.message)")
        }
    case .message:
        throw PrototxtError(item.location, "'\(tf.name)' is a \(V.protoTypeName), not a message")
    case .list:
        // Lists cannot nest syntactically, so this is a list given to a non-repeated field.
        throw notRepeated(tf)
    }
}

private func wireTypeError(_ name: String, _ number: Int, _ got: WireType, _ r: WireReader) -> WireError {
    WireError(message: "field '\(name)' (\(number)) has the wrong wire type \(got.rawValue)", offset: r.offset)
}

/// Reads one or a packed run of repeated scalars (parsers accept both forms for packable types).
private func appendWire<V: ProtoScalar>(_ name: String, _ number: Int, _ r: inout WireReader, _ type: WireType, to out: inout [V]) throws {
    if type == V.wireType {
        out.append(try V.readWire(&r))
    } else if type == .lengthDelimited && V.isPackable {
        let range = try r.readLengthDelimited()
        var sub = r.sub(range)
        while !sub.atEnd { out.append(try V.readWire(&sub)) }
    } else {
        throw wireTypeError(name, number, type, r)
    }
}

extension ProtoField where M: CaffeMessage {
    /// A non-repeated field that always has a value (its proto default when absent). Printed
    /// and encoded only when it differs from the default.
    static func scalar<V: ProtoScalar>(_ name: String, _ number: Int, _ kp: WritableKeyPath<M, V> & Sendable) -> ProtoField {
        let defaultValue = M()[keyPath: kp]
        return ProtoField(
            name: name, number: number, isRepeated: false, typeName: V.protoTypeName,
            decodeText: { m, tf throws(PrototxtError) in m[keyPath: kp] = try scalarText(tf, tf.value, V.self) },
            printText: { m, p in
                let v = m[keyPath: kp]
                if v != defaultValue { p.line("\(name): \(v.textLiteral)") }
            },
            decodeWire: { m, r, type in
                guard type == V.wireType else { throw wireTypeError(name, number, type, r) }
                m[keyPath: kp] = try V.readWire(&r)
            },
            encodeWire: { m, w in
                let v = m[keyPath: kp]
                if v != defaultValue { v.writeWire(number, &w) }
            })
    }

    /// A non-repeated field whose presence matters (Swift optional).
    static func optional<V: ProtoScalar>(_ name: String, _ number: Int, _ kp: WritableKeyPath<M, V?> & Sendable) -> ProtoField {
        ProtoField(
            name: name, number: number, isRepeated: false, typeName: V.protoTypeName,
            decodeText: { m, tf throws(PrototxtError) in m[keyPath: kp] = try scalarText(tf, tf.value, V.self) },
            printText: { m, p in
                if let v = m[keyPath: kp] { p.line("\(name): \(v.textLiteral)") }
            },
            decodeWire: { m, r, type in
                guard type == V.wireType else { throw wireTypeError(name, number, type, r) }
                m[keyPath: kp] = try V.readWire(&r)
            },
            encodeWire: { m, w in m[keyPath: kp]?.writeWire(number, &w) })
    }

    /// A repeated scalar field. `packed` only changes how it is written (caffe.proto's
    /// [packed = true]); reading accepts both forms.
    static func repeated<V: ProtoScalar>(_ name: String, _ number: Int, _ kp: WritableKeyPath<M, [V]> & Sendable, packed: Bool = false) -> ProtoField {
        ProtoField(
            name: name, number: number, isRepeated: true, typeName: V.protoTypeName,
            decodeText: { m, tf throws(PrototxtError) in
                if case .list(let items) = tf.value.kind {
                    guard tf.hasColon else { throw PrototxtError(tf.location, "expected ':' after '\(tf.name)'") }
                    for item in items { m[keyPath: kp].append(try scalarText(tf, item, V.self)) }
                } else {
                    m[keyPath: kp].append(try scalarText(tf, tf.value, V.self))
                }
            },
            printText: { m, p in
                for v in m[keyPath: kp] { p.line("\(name): \(v.textLiteral)") }
            },
            decodeWire: { m, r, type in try appendWire(name, number, &r, type, to: &m[keyPath: kp]) },
            encodeWire: { m, w in
                let values = m[keyPath: kp]
                if packed {
                    guard !values.isEmpty else { return }
                    var payload: [UInt8] = []
                    for v in values { v.appendPacked(to: &payload) }
                    w.bytesField(number, payload)
                } else {
                    for v in values { v.writeWire(number, &w) }
                }
            })
    }

    /// A repeated float field read and written in bulk (blob data: millions of values).
    static func floats(_ name: String, _ number: Int, _ kp: WritableKeyPath<M, [Float]> & Sendable, packed: Bool) -> ProtoField {
        let generic = repeated(name, number, kp, packed: packed)
        return ProtoField(
            name: name, number: number, isRepeated: true, typeName: "float",
            decodeText: generic.decodeText, printText: generic.printText,
            decodeWire: { m, r, type in
                guard type == .lengthDelimited || type == .fixed32 else { throw wireTypeError(name, number, type, r) }
                try r.appendFloats(type, to: &m[keyPath: kp])
            },
            encodeWire: { m, w in
                let values = m[keyPath: kp]
                if packed {
                    guard !values.isEmpty else { return }
                    values.withUnsafeBufferPointer { w.packedFloats(number, $0) }
                } else {
                    for v in values { w.floatField(number, v) }
                }
            })
    }

    /// A repeated double field read in bulk.
    static func doubles(_ name: String, _ number: Int, _ kp: WritableKeyPath<M, [Double]> & Sendable) -> ProtoField {
        let generic = repeated(name, number, kp, packed: true)
        return ProtoField(
            name: name, number: number, isRepeated: true, typeName: "double",
            decodeText: generic.decodeText, printText: generic.printText,
            decodeWire: { m, r, type in
                guard type == .lengthDelimited || type == .fixed64 else { throw wireTypeError(name, number, type, r) }
                try r.appendDoubles(type, to: &m[keyPath: kp])
            },
            encodeWire: generic.encodeWire)
    }

    /// A `bytes` field (Datum.data): in text a string literal, any bytes.
    static func bytes(_ name: String, _ number: Int, _ kp: WritableKeyPath<M, [UInt8]> & Sendable) -> ProtoField {
        ProtoField(
            name: name, number: number, isRepeated: false, typeName: "bytes",
            decodeText: { m, tf throws(PrototxtError) in
                if case .list = tf.value.kind { throw notRepeated(tf) }
                guard case .scalar(.string(let b), false) = tf.value.kind, tf.hasColon else {
                    throw PrototxtError(tf.value.location, "'\(name)' expects a quoted string of bytes")
                }
                m[keyPath: kp] = b
            },
            printText: { m, p in
                let v = m[keyPath: kp]
                if !v.isEmpty { p.line("\(name): \(TextFormatting.quote(v, escapeNonASCII: true))") }
            },
            decodeWire: { m, r, type in
                guard type == .lengthDelimited else { throw wireTypeError(name, number, type, r) }
                let range = try r.readLengthDelimited()
                m[keyPath: kp] = Array(UnsafeRawBufferPointer(rebasing: r.bytes[range]))
            },
            encodeWire: { m, w in
                let v = m[keyPath: kp]
                if !v.isEmpty { w.bytesField(number, v) }
            })
    }

    /// An enum stored by its *name* in a `String?` (deprecated enums that the reader upgrades:
    /// SolverParameter.solver_type, V1LayerParameter.type). `values` are (name, number).
    static func namedEnum(_ name: String, _ number: Int, _ kp: WritableKeyPath<M, String?> & Sendable,
                          enumName: String, example: String, values: [(String, Int32)]) -> ProtoField {
        let names = values.map(\.0)
        let byName = Dictionary(values, uniquingKeysWith: { a, _ in a })
        let byNumber = Dictionary(values.map { ($0.1, $0.0) }, uniquingKeysWith: { a, _ in a })
        return ProtoField(
            name: name, number: number, isRepeated: false, typeName: "enum \(enumName)",
            decodeText: { m, tf throws(PrototxtError) in
                guard case .scalar(let s, let negative) = tf.value.kind else {
                    if case .list = tf.value.kind { throw notRepeated(tf) }
                    throw PrototxtError(tf.value.location, "'\(name)' is an enum \(enumName), not a message")
                }
                guard tf.hasColon else { throw PrototxtError(tf.location, "expected ':' after '\(name)'") }
                switch s {
                case .identifier(let id) where !negative:
                    guard byName[id] != nil else {
                        throw PrototxtError(tf.value.location, "'\(name)' " + enumMessage("'\(id)'", suggestFor: id, names: names, typeName: enumName))
                    }
                    m[keyPath: kp] = id
                case .number(_, false):
                    let n: Int32
                    do throws(ScalarError) { n = try Int32.fromText(s, negative: negative) } catch {
                        throw PrototxtError(tf.value.location, "'\(name)' \(error.message)")
                    }
                    guard let id = byNumber[n] else {
                        throw PrototxtError(tf.value.location, "'\(name)' " + enumMessage(String(n), suggestFor: nil, names: names, typeName: enumName))
                    }
                    m[keyPath: kp] = id
                default:
                    throw PrototxtError(tf.value.location, "'\(name)' expects a name of enum \(enumName) (e.g. \(example)), got \(describeScalar(s, negative: negative))")
                }
            },
            printText: { m, p in
                if let v = m[keyPath: kp] { p.line("\(name): \(v)") }
            },
            decodeWire: { m, r, type in
                guard type == .varint else { throw wireTypeError(name, number, type, r) }
                let at = r.offset
                let n = Int32(truncatingIfNeeded: try r.readVarint())
                guard let id = byNumber[n] else {
                    throw WireError(message: "unknown value \(n) of enum \(enumName) in field '\(name)'", offset: at)
                }
                m[keyPath: kp] = id
            },
            encodeWire: { m, w in
                if let v = m[keyPath: kp], let n = byName[v] { w.int64Field(number, Int64(n)) }
            })
    }

    /// A non-repeated message field.
    static func message<S: CaffeMessage>(_ name: String, _ number: Int, _ kp: WritableKeyPath<M, S?> & Sendable) -> ProtoField {
        ProtoField(
            name: name, number: number, isRepeated: false, typeName: "message \(S.schema.protoName)",
            decodeText: { m, tf throws(PrototxtError) in
                guard case .message(let fields) = tf.value.kind else {
                    if case .list = tf.value.kind { throw notRepeated(tf) }
                    throw messageExpected(tf, S.self)
                }
                m[keyPath: kp] = try TextDecoder.decode(S.self, fields, context: name, at: tf.location).message
            },
            printText: { m, p in
                if let v = m[keyPath: kp] { p.message(name, v) }
            },
            decodeWire: { m, r, type in
                guard type == .lengthDelimited else { throw wireTypeError(name, number, type, r) }
                let range = try r.readLengthDelimited()
                var sub = r.sub(range)
                // A non-repeated message given twice on the wire is merged (protobuf semantics).
                var v = m[keyPath: kp] ?? S()
                try WireCodec.decode(&v, &sub)
                m[keyPath: kp] = v
            },
            encodeWire: { m, w in
                if let v = m[keyPath: kp] { w.bytesField(number, WireCodec.encode(v)) }
            })
    }

    /// A repeated message field; in text `name { … }` repeated or `name: [{…}, {…}]`.
    static func messages<S: CaffeMessage>(_ name: String, _ number: Int, _ kp: WritableKeyPath<M, [S]> & Sendable) -> ProtoField {
        ProtoField(
            name: name, number: number, isRepeated: true, typeName: "message \(S.schema.protoName)",
            decodeText: { m, tf throws(PrototxtError) in
                switch tf.value.kind {
                case .message(let fields):
                    m[keyPath: kp].append(try TextDecoder.decode(S.self, fields, context: name, at: tf.location).message)
                case .list(let items):
                    for item in items {
                        guard case .message(let fields) = item.kind else {
                            throw PrototxtError(item.location, "'\(name)' is a message \(S.schema.protoName); list items must be '{ … }'")
                        }
                        m[keyPath: kp].append(try TextDecoder.decode(S.self, fields, context: name, at: item.location).message)
                    }
                case .scalar:
                    throw messageExpected(tf, S.self)
                }
            },
            printText: { m, p in
                for v in m[keyPath: kp] { p.message(name, v) }
            },
            decodeWire: { m, r, type in
                guard type == .lengthDelimited else { throw wireTypeError(name, number, type, r) }
                let range = try r.readLengthDelimited()
                var sub = r.sub(range)
                var v = S()
                try WireCodec.decode(&v, &sub)
                m[keyPath: kp].append(v)
            },
            encodeWire: { m, w in
                for v in m[keyPath: kp] { w.bytesField(number, WireCodec.encode(v)) }
            })
    }
}

private func notRepeated(_ tf: TextField) -> PrototxtError {
    PrototxtError(tf.value.location, "'\(tf.name)' is not a repeated field: give one value, not a list")
}

private func messageExpected<S: CaffeMessage>(_ tf: TextField, _: S.Type) -> PrototxtError {
    PrototxtError(tf.value.location, "'\(tf.name)' is a message \(S.schema.protoName); write '\(tf.name) { … }'")
}

// MARK: - Text decoding

enum TextDecoder {
    /// Decodes the fields of one message. Returns it with the place of each field given
    /// (field number → location of its first occurrence), which the upgrades use for presence.
    static func decode<S: CaffeMessage>(_: S.Type, _ fields: [TextField], context: String, at location: TextLocation)
        throws(PrototxtError) -> (message: S, present: [Int: TextLocation]) {
        var m = S()
        var present: [Int: TextLocation] = [:]
        let schema = S.schema
        for tf in fields {
            guard let index = schema.byName[tf.name] else {
                if schema.unsupported[tf.name] != nil {
                    let what = schema.unsupportedNotes[tf.name] ?? "'\(tf.name)'"
                    throw PrototxtError(tf.location, "\(what) is a Caffe feature initdiag does not implement")
                }
                if let fork = CaffeForkFields.message(field: tf.name, in: schema.protoName, context: context) {
                    throw PrototxtError(tf.location, fork)
                }
                var message = "unknown field '\(tf.name)' in \(context)"
                let candidates = schema.fields.map(\.name) + schema.unsupported.keys.sorted()
                if let s = closestName(to: tf.name, in: candidates) { message += "; did you mean '\(s)'?" }
                throw PrototxtError(tf.location, message)
            }
            let field = schema.fields[index]
            if let first = present[field.number], !field.isRepeated {
                // TextFormat::Parser's FORBID_SINGULAR_OVERWRITES (text_format.cc).
                throw PrototxtError(tf.location, "non-repeated field '\(tf.name)' is given twice in \(context) (first on line \(first.line))")
            }
            if present[field.number] == nil { present[field.number] = tf.location }
            try field.decodeText(&m, tf)
        }
        m.didDecodeText(at: location)
        return (m, present)
    }
}

/// The closest name by edit distance, if close enough to be a likely typo.
func closestName(to name: String, in candidates: [String]) -> String? {
    let a = Array(name.lowercased().utf8)
    // Allow one edit per four characters, at least one and at most three.
    let limit = min(3, max(1, a.count / 4))
    var best: (String, Int)? = nil
    for c in candidates {
        let d = editDistance(a, Array(c.lowercased().utf8))
        if d <= limit, d < (best?.1 ?? Int.max) { best = (c, d) }
    }
    return best?.0
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and transpositions
/// of neighbours ("base_rl" → "base_lr") each cost one.
func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    let width = b.count + 1
    var d = [Int](repeating: 0, count: (a.count + 1) * width)
    for i in 0...a.count { d[i * width] = i }
    for j in 0...b.count { d[j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            var v = min(d[(i - 1) * width + j] + 1, d[i * width + j - 1] + 1, d[(i - 1) * width + j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                v = min(v, d[(i - 2) * width + j - 2] + 1)
            }
            d[i * width + j] = v
        }
    }
    return d[a.count * width + b.count]
}

// MARK: - Text printing

struct TextPrinter {
    private(set) var text = ""
    private var indent = 0

    mutating func line(_ s: String) {
        text += String(repeating: "  ", count: indent) + s + "\n"
    }

    mutating func message<S: CaffeMessage>(_ name: String, _ value: S) {
        line("\(name) {")
        indent += 1
        TextPrinter.fields(value, &self)
        indent -= 1
        line("}")
    }

    static func fields<S: CaffeMessage>(_ value: S, _ p: inout TextPrinter) {
        let schema = S.schema
        for i in schema.printOrder { schema.fields[i].printText(value, &p) }
    }

    static func print<S: CaffeMessage>(_ value: S) -> String {
        var p = TextPrinter()
        fields(value, &p)
        return p.text
    }
}

enum TextFormatting {
    /// A double-quoted literal the lexer reads back to the same bytes: quotes, backslashes and
    /// control bytes escaped; other bytes kept (UTF-8 text), or octal-escaped too when
    /// `escapeNonASCII` (`bytes` fields, which need not be UTF-8).
    static func quote(_ bytes: [UInt8], limit: Int = Int.max, escapeNonASCII: Bool = false) -> String {
        func octal(_ b: UInt8, _ out: inout [UInt8]) {
            out.append(0x5C)
            out.append(0x30 + (b >> 6))
            out.append(0x30 + ((b >> 3) & 7))
            out.append(0x30 + (b & 7))
        }
        var out: [UInt8] = [0x22]
        for (i, b) in bytes.enumerated() {
            if i >= limit { out.append(contentsOf: Array("…".utf8)); break }
            switch b {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: out.append(contentsOf: [0x5C, 0x72])
            case 0x09: out.append(contentsOf: [0x5C, 0x74])
            case 0..<0x20, 0x7F:
                octal(b, &out)
            case 0x80... where escapeNonASCII:
                octal(b, &out)
            default: out.append(b)
            }
        }
        out.append(0x22)
        // Without escapeNonASCII, bytes that are not UTF-8 show as U+FFFD (error messages only).
        return String(decoding: out, as: UTF8.self)
    }

    /// Shortest text that reads back to the same float (Swift's description), with protobuf's
    /// spellings of the non-finite values.
    static func floatLiteral(_ v: Float) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v < 0 ? "-inf" : "inf" }
        return v.description
    }

    static func doubleLiteral(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v < 0 ? "-inf" : "inf" }
        return v.description
    }
}

// MARK: - Wire codec

enum WireCodec {
    static func decode<S: CaffeMessage>(_ m: inout S, _ r: inout WireReader) throws {
        let schema = S.schema
        while !r.atEnd {
            let (number, type) = try r.readTag()
            if let i = schema.byNumber[number] {
                try schema.fields[i].decodeWire(&m, &r, type)
            } else {
                // Unknown and unimplemented fields are skipped, as protobuf's parser keeps them
                // aside; Caffe reads only names and blobs from weights files.
                try r.skip(type)
            }
        }
    }

    static func decode<S: CaffeMessage>(_: S.Type, _ bytes: [UInt8]) throws -> S {
        try bytes.withUnsafeBytes { raw in
            var r = WireReader(raw)
            var m = S()
            try decode(&m, &r)
            return m
        }
    }

    static func encode<S: CaffeMessage>(_ m: S) -> [UInt8] {
        var w = WireWriter()
        let schema = S.schema
        for i in schema.printOrder { schema.fields[i].encodeWire(m, &w) }
        return w.bytes
    }
}

extension CaffeMessage {
    /// The caffe.proto message name.
    static var protoName: String { schema.protoName }
    /// (field name, proto type) of every field, for tools and tests.
    static var fieldSummary: [(name: String, type: String)] { schema.fields.map { ($0.name, $0.typeName) } }
}
