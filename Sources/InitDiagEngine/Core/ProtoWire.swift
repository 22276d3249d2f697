import InitDiagCore
import InitDiagTrace
/// The protobuf binary wire format (varints, tags, length-delimited fields): the layer under
/// `.caffemodel` (NetParameter), `Datum` records in LMDB and binary mean files (BlobProto).
/// https://protobuf.dev/programming-guides/encoding/

public enum WireType: UInt8, Sendable {
    case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
}

public struct WireError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

/// Reads fields one by one from a byte buffer. Every read is bounds-checked and throws on
/// truncated or malformed input.
public struct WireReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var offset: Int
    public let end: Int

    public init(_ bytes: UnsafeRawBufferPointer, from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.offset = start
        self.end = end ?? bytes.count
    }

    public var atEnd: Bool { offset >= end }

    public mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw WireError(message: "truncated varint", offset: offset) }
            let b = bytes[offset]
            offset += 1
            if shift < 64 { result |= UInt64(b & 0x7F) << shift }
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift >= 70 { throw WireError(message: "varint longer than 10 bytes", offset: offset) }
        }
    }

    /// Returns (field number, wire type) of the next field.
    public mutating func readTag() throws -> (field: Int, type: WireType) {
        let start = offset
        let tag = try readVarint()
        guard let type = WireType(rawValue: UInt8(tag & 7)), tag >> 3 > 0, tag >> 3 <= 0x1FFF_FFFF else {
            throw WireError(message: "invalid field tag \(tag)", offset: start)
        }
        return (Int(tag >> 3), type)
    }

    public mutating func readFixed32() throws -> UInt32 {
        guard end - offset >= 4 else { throw WireError(message: "truncated fixed32", offset: offset) }
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        offset += 4
        return UInt32(littleEndian: v)
    }

    public mutating func readFixed64() throws -> UInt64 {
        guard end - offset >= 8 else { throw WireError(message: "truncated fixed64", offset: offset) }
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        offset += 8
        return UInt64(littleEndian: v)
    }

    /// A length-delimited field's payload as a byte range of `bytes`.
    public mutating func readLengthDelimited() throws -> Range<Int> {
        let start = offset
        let n = try readVarint()
        guard n <= UInt64(end - offset) else {
            throw WireError(message: "length \(n) runs past the end of the data", offset: start)
        }
        let r = offset..<(offset + Int(n))
        offset += Int(n)
        return r
    }

    public mutating func skip(_ type: WireType) throws {
        switch type {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: _ = try readLengthDelimited()
        case .startGroup, .endGroup:
            throw WireError(message: "groups are not supported", offset: offset)
        }
    }

    public func sub(_ range: Range<Int>) -> WireReader { WireReader(bytes, from: range.lowerBound, to: range.upperBound) }

    public func string(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// Reads a repeated float field given either packed (one length-delimited run) or unpacked.
    public mutating func appendFloats(_ type: WireType, to out: inout [Float]) throws {
        if type == .lengthDelimited {
            let r = try readLengthDelimited()
            guard r.count % 4 == 0 else { throw WireError(message: "packed float run of \(r.count) bytes", offset: r.lowerBound) }
            out.reserveCapacity(out.count + r.count / 4)
            var o = r.lowerBound
            while o < r.upperBound {
                out.append(Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self))))
                o += 4
            }
        } else if type == .fixed32 {
            out.append(Float(bitPattern: try readFixed32()))
        } else {
            throw WireError(message: "float field with wire type \(type)", offset: offset)
        }
    }

    public mutating func appendDoubles(_ type: WireType, to out: inout [Double]) throws {
        if type == .lengthDelimited {
            let r = try readLengthDelimited()
            guard r.count % 8 == 0 else { throw WireError(message: "packed double run of \(r.count) bytes", offset: r.lowerBound) }
            var o = r.lowerBound
            while o < r.upperBound {
                out.append(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt64.self))))
                o += 8
            }
        } else if type == .fixed64 {
            out.append(Double(bitPattern: try readFixed64()))
        } else {
            throw WireError(message: "double field with wire type \(type)", offset: offset)
        }
    }

    /// Reads a repeated varint field given packed or unpacked.
    public mutating func appendVarints(_ type: WireType, to out: inout [UInt64]) throws {
        if type == .lengthDelimited {
            let r = try readLengthDelimited()
            var sub = self.sub(r)
            while !sub.atEnd { out.append(try sub.readVarint()) }
        } else if type == .varint {
            out.append(try readVarint())
        } else {
            throw WireError(message: "integer field with wire type \(type)", offset: offset)
        }
    }
}

/// Appends fields in the wire format.
public struct WireWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }

    public mutating func tag(_ field: Int, _ type: WireType) { varint(UInt64(field) << 3 | UInt64(type.rawValue)) }

    public mutating func varintField(_ field: Int, _ v: UInt64) { tag(field, .varint); varint(v) }

    /// int32/int64 fields encode negative values as 10-byte two's complement varints.
    public mutating func int64Field(_ field: Int, _ v: Int64) { varintField(field, UInt64(bitPattern: v)) }

    public mutating func boolField(_ field: Int, _ v: Bool) { varintField(field, v ? 1 : 0) }

    public mutating func bytesField(_ field: Int, _ payload: [UInt8]) {
        tag(field, .lengthDelimited); varint(UInt64(payload.count)); bytes.append(contentsOf: payload)
    }

    public mutating func stringField(_ field: Int, _ s: String) { bytesField(field, Array(s.utf8)) }

    public mutating func floatField(_ field: Int, _ v: Float) {
        tag(field, .fixed32)
        withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func doubleField(_ field: Int, _ v: Double) {
        tag(field, .fixed64)
        withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func packedFloats(_ field: Int, _ values: UnsafeBufferPointer<Float>) {
        tag(field, .lengthDelimited); varint(UInt64(values.count * 4))
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
    }

    public mutating func packedVarints(_ field: Int, _ values: [UInt64]) {
        var inner = WireWriter()
        for v in values { inner.varint(v) }
        bytesField(field, inner.bytes)
    }
}
