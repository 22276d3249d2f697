import InitDiagCore
import InitDiagTrace
// The protobuf text format, as protobuf's TextFormat::Parser and io::Tokenizer read it
// (protocolbuffers/protobuf src/google/protobuf/text_format.cc, io/tokenizer.cc): a lexer and a
// recursive-descent parser that produce a syntax tree in which every field and value carries its
// line and column. The tree knows nothing of Caffe; CaffeSchema.swift gives it types.

/// A position in a text file. Both 1-based; columns count Unicode scalars (a tab is one column).
public struct TextLocation: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
    public var description: String { "\(line):\(column)" }
}

/// One scalar token as written: the decoder decides what it means for the field's type.
public enum TextScalar: Sendable, Equatable {
    /// `MAX`, `true`, `inf`, …
    case identifier(String)
    /// The number's source text (`0x1F`, `017`, `1.5f`, `1e-3`); `isFloat` as the tokenizer
    /// classifies it (a '.', an exponent or an `f` suffix).
    case number(String, isFloat: Bool)
    /// Adjacent string literals concatenated, escapes resolved (raw bytes: `\xFF` is allowed).
    case string([UInt8])
}

public struct TextValue: Sendable {
    public enum Kind: Sendable {
        /// `negative` is a leading '-' token (protobuf's tokenizer has no negative numbers).
        case scalar(TextScalar, negative: Bool)
        case message([TextField])
        /// `name: [a, b]` / `name: [{…}, {…}]`.
        case list([TextValue])
    }
    public var kind: Kind
    public var location: TextLocation
}

public struct TextField: Sendable {
    public var name: String
    public var location: TextLocation
    /// Whether a ':' followed the name (required before scalars, optional before messages).
    public var hasColon: Bool
    public var value: TextValue
}

/// An error at a place in a text file; the public API turns it into `InputError`.
struct PrototxtError: Error {
    let location: TextLocation
    let message: String
    init(_ location: TextLocation, _ message: String) { self.location = location; self.message = message }
}

/// Limits of the reader. protobuf's TextFormat::Parser uses the same default recursion limit.
enum TextSyntaxLimits {
    static let maxNesting = 100
}

// MARK: - Lexer

struct TextToken {
    enum Kind: Equatable {
        case identifier(String)
        case number(String, isFloat: Bool)
        case string([UInt8])
        case symbol(UInt8)
        case end
    }
    var kind: Kind
    var location: TextLocation
}

private extension UInt8 {
    var isDigit: Bool { self >= 0x30 && self <= 0x39 }
    var isOctalDigit: Bool { self >= 0x30 && self <= 0x37 }
    var isHexDigit: Bool { isDigit || (self >= 0x41 && self <= 0x46) || (self >= 0x61 && self <= 0x66) }
    var isLetter: Bool { (self >= 0x41 && self <= 0x5A) || (self >= 0x61 && self <= 0x7A) || self == 0x5F }
    var hexValue: UInt32 {
        if isDigit { return UInt32(self - 0x30) }
        if self >= 0x61 { return UInt32(self - 0x61 + 10) }
        return UInt32(self - 0x41 + 10)
    }
}

struct TextLexer {
    private let bytes: [UInt8]
    private var pos = 0
    private var line = 1
    private var column = 1

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    private var location: TextLocation { TextLocation(line: line, column: column) }

    private func peek(_ offset: Int = 0) -> UInt8? {
        let i = pos + offset
        return i < bytes.count ? bytes[i] : nil
    }

    /// Advances one byte, keeping line and column: a UTF-8 continuation byte does not start a
    /// new column.
    private mutating func advance() {
        let b = bytes[pos]
        pos += 1
        if b == 0x0A { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
    }

    private mutating func skipSpaceAndComments() {
        while let b = peek() {
            switch b {
            case 0x20, 0x09, 0x0A, 0x0D, 0x0B, 0x0C: advance()
            case 0x23: // '#' comment to the end of the line
                while let c = peek(), c != 0x0A { advance() }
            default: return
            }
        }
    }

    mutating func next() throws(PrototxtError) -> TextToken {
        skipSpaceAndComments()
        let start = location
        guard let b = peek() else { return TextToken(kind: .end, location: start) }
        if b.isLetter {
            let s = pos
            while let c = peek(), c.isLetter || c.isDigit { advance() }
            return TextToken(kind: .identifier(String(decoding: bytes[s..<pos], as: UTF8.self)), location: start)
        }
        if b.isDigit || (b == 0x2E && (peek(1)?.isDigit ?? false)) {
            return try lexNumber(start)
        }
        if b == 0x22 || b == 0x27 {
            return TextToken(kind: .string(try lexString(quote: b, start: start)), location: start)
        }
        switch b {
        case 0x7B, 0x7D, 0x3C, 0x3E, 0x5B, 0x5D, 0x3A, 0x2C, 0x3B, 0x2D: // { } < > [ ] : , ; -
            advance()
            return TextToken(kind: .symbol(b), location: start)
        default:
            let hint = b < 0x20 || b == 0x7F ? " (is this a binary file?)" : ""
            throw PrototxtError(start, "unexpected character \(Self.describeByte(at: pos, in: bytes))\(hint)")
        }
    }

    /// Numbers as io::Tokenizer::ConsumeNumber reads them: `0x…` hex, a leading 0 followed by
    /// digits is octal, otherwise decimal with optional fraction, exponent and `f` suffix.
    private mutating func lexNumber(_ start: TextLocation) throws(PrototxtError) -> TextToken {
        let s = pos
        var isFloat = false
        var radixInteger = false
        if peek() == 0x30, let x = peek(1), x == 0x78 || x == 0x58 {
            advance(); advance()
            guard peek()?.isHexDigit ?? false else {
                throw PrototxtError(start, "'0x' must be followed by hex digits")
            }
            while let c = peek(), c.isHexDigit { advance() }
            radixInteger = true
        } else if peek() == 0x30, peek(1)?.isDigit ?? false {
            advance()
            while let c = peek(), c.isDigit {
                guard c.isOctalDigit else {
                    throw PrototxtError(start, "numbers starting with a leading zero must be octal: \(text(s))\(Character(Unicode.Scalar(c)))")
                }
                advance()
            }
            radixInteger = true
        } else {
            while let c = peek(), c.isDigit { advance() }
            if peek() == 0x2E {
                isFloat = true
                advance()
                while let c = peek(), c.isDigit { advance() }
            }
            if let e = peek(), e == 0x65 || e == 0x45 {
                isFloat = true
                advance()
                if let sign = peek(), sign == 0x2B || sign == 0x2D { advance() }
                guard peek()?.isDigit ?? false else {
                    throw PrototxtError(start, "exponent of \(text(s)) has no digits")
                }
                while let c = peek(), c.isDigit { advance() }
            }
            // TextFormat sets allow_f_after_float: `1f` and `1.5f` are floats.
            if let f = peek(), f == 0x66 || f == 0x46 {
                isFloat = true
                advance()
            }
        }
        if let c = peek() {
            if c.isLetter || c.isDigit {
                var e = pos
                while e < bytes.count, bytes[e].isLetter || bytes[e].isDigit { e += 1 }
                throw PrototxtError(start, "malformed number '\(String(decoding: bytes[s..<e], as: UTF8.self))' (a number must be followed by a space or a separator)")
            }
            if c == 0x2E {
                throw PrototxtError(start, radixInteger
                    ? "hex and octal numbers must be integers: \(text(s))."
                    : "malformed number: a second '.' after \(text(s))")
            }
        }
        return TextToken(kind: .number(text(s), isFloat: isFloat), location: start)
    }

    private func text(_ from: Int) -> String { String(decoding: bytes[from..<pos], as: UTF8.self) }

    /// A quoted string with C escapes (io::Tokenizer::ConsumeString / ParseStringAppend):
    /// \a \b \f \n \r \t \v \\ \? \' \", octal \ooo (1–3 digits), \xHH (1–2 digits), \uXXXX and
    /// \UXXXXXXXX (encoded as UTF-8). A string may not cross a line.
    private mutating func lexString(quote: UInt8, start: TextLocation) throws(PrototxtError) -> [UInt8] {
        advance()
        var out: [UInt8] = []
        while true {
            guard let b = peek() else { throw PrototxtError(start, "unterminated string (end of file)") }
            if b == quote { advance(); return out }
            if b == 0x0A { throw PrototxtError(start, "unterminated string (strings cannot cross lines)") }
            if b != 0x5C { out.append(b); advance(); continue }
            let escapeAt = location
            advance()
            guard let e = peek() else { throw PrototxtError(start, "unterminated string (end of file)") }
            switch e {
            case 0x61: out.append(0x07); advance()  // \a
            case 0x62: out.append(0x08); advance()  // \b
            case 0x66: out.append(0x0C); advance()  // \f
            case 0x6E: out.append(0x0A); advance()  // \n
            case 0x72: out.append(0x0D); advance()  // \r
            case 0x74: out.append(0x09); advance()  // \t
            case 0x76: out.append(0x0B); advance()  // \v
            case 0x5C, 0x3F, 0x27, 0x22: out.append(e); advance()
            case 0x30...0x37:
                var v: UInt32 = 0
                var n = 0
                while n < 3, let d = peek(), d.isOctalDigit { v = v * 8 + UInt32(d - 0x30); advance(); n += 1 }
                out.append(UInt8(truncatingIfNeeded: v))  // \777 wraps to a byte, as in C++
            case 0x78, 0x58:
                advance()
                guard peek()?.isHexDigit ?? false else {
                    throw PrototxtError(escapeAt, "invalid escape '\\x' in string: hex digits expected")
                }
                var v: UInt32 = 0
                var n = 0
                while n < 2, let d = peek(), d.isHexDigit { v = v * 16 + d.hexValue; advance(); n += 1 }
                out.append(UInt8(v))
            case 0x75, 0x55:
                let digits = e == 0x75 ? 4 : 8
                advance()
                var v: UInt32 = 0
                for _ in 0..<digits {
                    guard let d = peek(), d.isHexDigit else {
                        throw PrototxtError(escapeAt, "invalid escape '\\\(Character(Unicode.Scalar(e)))' in string: \(digits) hex digits expected")
                    }
                    v = v &* 16 &+ d.hexValue
                    advance()
                }
                guard let scalar = Unicode.Scalar(v) else {
                    throw PrototxtError(escapeAt, "invalid escape in string: U+\(String(v, radix: 16, uppercase: true)) is not a Unicode scalar")
                }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw PrototxtError(escapeAt, "invalid escape '\\\(Self.describeByte(at: pos, in: bytes, quoted: false))' in string")
            }
        }
    }

    /// A byte for an error message: the character if printable, else its code.
    static func describeByte(at i: Int, in bytes: [UInt8], quoted: Bool = true) -> String {
        let b = bytes[i]
        if b >= 0x21 && b < 0x7F {
            let c = String(Character(Unicode.Scalar(b)))
            return quoted ? "'\(c)'" : c
        }
        if b < 0x80 { return "U+" + hex4(UInt32(b)) }
        // A multi-byte scalar: decode it for the message (the text was validated as UTF-8).
        var end = i + 1
        while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
        let s = String(decoding: bytes[i..<end], as: UTF8.self)
        if let u = s.unicodeScalars.first { return quoted ? "'\(s)' (U+\(hex4(u.value)))" : s }
        return "byte 0x" + String(b, radix: 16, uppercase: true)
    }

    private static func hex4(_ v: UInt32) -> String {
        let h = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - h.count)) + h
    }
}

// MARK: - Parser

/// Parses a whole file into its top-level fields.
struct TextParser {
    private var lexer: TextLexer
    private var token: TextToken

    static func parse(_ bytes: [UInt8]) throws(PrototxtError) -> [TextField] {
        try checkEncoding(bytes)
        var p = try TextParser(bytes)
        return try p.fieldList(closer: nil, opener: nil, depth: 0)
    }

    private init(_ bytes: [UInt8]) throws(PrototxtError) {
        lexer = TextLexer(bytes)
        token = try lexer.next()
    }

    private mutating func advance() throws(PrototxtError) { token = try lexer.next() }

    private func isSymbol(_ s: UInt8) -> Bool { token.kind == .symbol(s) }

    private func describe(_ t: TextToken) -> String {
        switch t.kind {
        case .identifier(let s): return "'\(s)'"
        case .number(let s, _): return s
        case .string(let b): return "the string " + TextFormatting.quote(b, limit: 40)
        case .symbol(let b): return "'\(Character(Unicode.Scalar(b)))'"
        case .end: return "the end of the file"
        }
    }

    /// Fields until `closer` (or the end of the file at the top level).
    private mutating func fieldList(closer: UInt8?, opener: (TextLocation, String)?, depth: Int) throws(PrototxtError) -> [TextField] {
        var fields: [TextField] = []
        while true {
            switch token.kind {
            case .end:
                if let (at, name) = opener {
                    throw PrototxtError(at, "'\(Character(Unicode.Scalar(closer == 0x3E ? 0x3C : 0x7B)))' of '\(name)' is never closed")
                }
                return fields
            case .symbol(let s) where s == closer:
                try advance()
                return fields
            case .symbol(let s) where s == 0x7D || s == 0x3E:
                let found = Character(Unicode.Scalar(s))
                if let (_, name) = opener {
                    throw PrototxtError(token.location, "'\(found)' does not match the '\(closer == 0x3E ? "<" : "{")' of '\(name)'")
                }
                throw PrototxtError(token.location, "unexpected '\(found)' with no open message")
            case .identifier(let name):
                fields.append(try field(name: name, depth: depth))
            default:
                throw PrototxtError(token.location, "expected a field name, got \(describe(token))")
            }
        }
    }

    private mutating func field(name: String, depth: Int) throws(PrototxtError) -> TextField {
        let nameAt = token.location
        try advance()
        var hasColon = false
        if isSymbol(0x3A) { hasColon = true; try advance() }
        let value: TextValue
        if isSymbol(0x7B) || isSymbol(0x3C) {
            value = try message(name: name, depth: depth)
        } else if isSymbol(0x5B) {
            value = try list(name: name, depth: depth)
        } else if hasColon {
            value = try scalar(after: name)
        } else {
            throw PrototxtError(token.location, "expected ':' or '{' after '\(name)', got \(describe(token))")
        }
        // Fields may be followed by ';' or ',' "for historical reasons" (text_format.cc).
        if isSymbol(0x3B) || isSymbol(0x2C) { try advance() }
        return TextField(name: name, location: nameAt, hasColon: hasColon, value: value)
    }

    private mutating func message(name: String, depth: Int) throws(PrototxtError) -> TextValue {
        let at = token.location
        guard depth < TextSyntaxLimits.maxNesting else {
            throw PrototxtError(at, "messages nested more than \(TextSyntaxLimits.maxNesting) levels deep")
        }
        let closer: UInt8 = isSymbol(0x3C) ? 0x3E : 0x7D
        try advance()
        let fields = try fieldList(closer: closer, opener: (at, name), depth: depth + 1)
        return TextValue(kind: .message(fields), location: at)
    }

    private mutating func list(name: String, depth: Int) throws(PrototxtError) -> TextValue {
        let at = token.location
        try advance()
        var items: [TextValue] = []
        if isSymbol(0x5D) { try advance(); return TextValue(kind: .list(items), location: at) }
        while true {
            if isSymbol(0x7B) || isSymbol(0x3C) {
                items.append(try message(name: name, depth: depth))
            } else {
                items.append(try scalar(after: name))
            }
            if isSymbol(0x5D) { try advance(); break }
            guard isSymbol(0x2C) else {
                if token.kind == .end { throw PrototxtError(at, "'[' of '\(name)' is never closed") }
                throw PrototxtError(token.location, "expected ',' or ']' in the list of '\(name)', got \(describe(token))")
            }
            try advance()
        }
        return TextValue(kind: .list(items), location: at)
    }

    private mutating func scalar(after name: String) throws(PrototxtError) -> TextValue {
        let at = token.location
        var negative = false
        if isSymbol(0x2D) {
            negative = true
            try advance()
        }
        switch token.kind {
        case .number(let text, let isFloat):
            try advance()
            return TextValue(kind: .scalar(.number(text, isFloat: isFloat), negative: negative), location: at)
        case .identifier(let s):
            if negative, !["inf", "infinity", "nan"].contains(s.lowercased()) {
                throw PrototxtError(at, "invalid number '-\(s)'")
            }
            try advance()
            return TextValue(kind: .scalar(.identifier(s), negative: negative), location: at)
        case .string(var bytes) where !negative:
            try advance()
            // Adjacent string literals are one value (ConsumeString appends while it sees strings).
            while case .string(let more) = token.kind {
                bytes.append(contentsOf: more)
                try advance()
            }
            return TextValue(kind: .scalar(.string(bytes), negative: false), location: at)
        default:
            throw PrototxtError(token.location, negative
                ? "expected a number after '-', got \(describe(token))"
                : "expected a value for '\(name)', got \(describe(token))")
        }
    }

    /// Rejects NUL bytes and invalid UTF-8 up front, with the place of the first bad byte.
    static func checkEncoding(_ bytes: [UInt8]) throws(PrototxtError) {
        var line = 1, column = 1
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b < 0x80 {
                if b == 0 {
                    throw PrototxtError(TextLocation(line: line, column: column), "NUL byte in text (is this a binary file?)")
                }
                if b == 0x0A { line += 1; column = 1 } else { column += 1 }
                i += 1
                continue
            }
            // RFC 3629 well-formed sequences: no overlongs, no surrogates, nothing above U+10FFFF.
            let length: Int
            var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
            switch b {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; lo = 0xA0
            case 0xE1...0xEC, 0xEE, 0xEF: length = 3
            case 0xED: length = 3; hi = 0x9F
            case 0xF0: length = 4; lo = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; hi = 0x8F
            default: length = 0
            }
            var ok = length > 0 && i + length <= n
            if ok {
                for k in 1..<length {
                    let c = bytes[i + k]
                    let (l, h) = k == 1 ? (lo, hi) : (UInt8(0x80), UInt8(0xBF))
                    if c < l || c > h { ok = false; break }
                }
            }
            guard ok else {
                throw PrototxtError(TextLocation(line: line, column: column),
                                    "invalid UTF-8 (byte 0x\(String(b, radix: 16, uppercase: true)))")
            }
            column += 1
            i += length
        }
    }
}
