import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// The lexer and the scalar rules of the text format (protobuf io/tokenizer.cc, text_format.cc).
@Suite struct PrototxtSyntaxTests {
    static func filler(_ text: String) throws -> FillerParameter {
        try TextDecoder.decode(FillerParameter.self, try TextParser.parse(Array(text.utf8)), context: "f",
                               at: TextLocation(line: 1, column: 1)).message
    }

    static func error(_ text: String) -> String? {
        PrototxtFixtures.inputErrorMessage { _ = try Prototxt.parseNet(text, path: "t") }
    }

    @Test func stringEscapesAndConcatenation() throws {
        let net = try Prototxt.parseNet(#"name: "\a\b\f\n\r\t\v\\\?\'\"" '\101\x41\x4a\u00e9' "\U0001F600" 'x' "\0""#, path: "t")
        let expected: [UInt8] = [7, 8, 12, 10, 13, 9, 11, 92, 63, 39, 34, 65, 65, 0x4A, 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80, 0x78, 0]
        #expect(Array(net.name.utf8) == expected)
        #expect(try Prototxt.parseNet("name: \"caf\u{e9} \u{1F600}\"", path: "t").name == "caf\u{e9} \u{1F600}")
    }

    @Test func numbers() throws {
        #expect(try Self.filler("value: 1.5f").value == 1.5)
        #expect(try Self.filler("value: 1f").value == 1)
        #expect(try Self.filler("value: .25").value == 0.25)
        #expect(try Self.filler("value: 5.").value == 5)
        #expect(try Self.filler("value: -2.5e-3").value == -0.0025)
        #expect(try Self.filler("value: 1E+2").value == 100)
        #expect(try Self.filler("value: inf").value == .infinity)
        #expect(try Self.filler("value: -Infinity").value == -.infinity)
        #expect(try Self.filler("value: NaN").value.isNaN)
        #expect(try Self.filler("value: 1e39").value == .infinity)  // SafeDoubleToFloat
        #expect(try Self.filler("value: 18446744073709551616").value == 18446744073709551616)  // beyond uint64: as a double
        #expect(try Self.filler("sparse: 0x7fffffff").sparse == Int32.max)
        #expect(try Self.filler("sparse: -0x80000000").sparse == Int32.min)
        #expect(try Self.filler("sparse: 017").sparse == 15)
        #expect(try Self.filler("sparse: 0").sparse == 0)
        #expect(try Self.filler("variance_norm: 2").varianceNorm == .AVERAGE)
        let (s, _) = try Prototxt.parseSolver("random_seed: -9223372036854775808 device_id: -0", path: "s")
        #expect(s.randomSeed == Int64.min && s.deviceId == 0)
    }

    @Test func booleans() throws {
        for (text, value) in [("true", true), ("True", true), ("t", true), ("1", true), ("0x1", true),
                              ("false", false), ("False", false), ("f", false), ("0", false)] {
            #expect(try Prototxt.parseNet("force_backward: \(text)", path: "t").forceBackward == value, "\(text)")
        }
        #expect(Self.error("force_backward: TRUE") == "t:1:17: 'force_backward' expects true or false (bool), got 'TRUE'")
        #expect(Self.error("force_backward: -1") == "t:1:17: 'force_backward' expects true or false (bool), got -1")
    }

    @Test func separatorsCommentsAndBrackets() throws {
        let net = try Prototxt.parseNet("""
            # comment
            name: "n";   # trailing comment
            layer: { name: "a", bottom: [], top: ["x", 'y'] ; }
            layer < name: "b" >
            layer [ { name: "c" }, < name: "d" > ]
            """, path: "t")
        #expect(net.name == "n")
        #expect(net.layer.map(\.name) == ["a", "b", "c", "d"])
        #expect(net.layer[0].bottom.isEmpty && net.layer[0].top == ["x", "y"])
        #expect(net.layer.map(\.line) == [3, 4, 5, 5])
    }

    @Test func emptyFileIsAnEmptyNet() throws {
        let path = PrototxtFixtures.path("prototxt/empty.prototxt")
        let net = try Prototxt.loadNet(path: path)
        #expect(net.layer.isEmpty && net.name.isEmpty && net.sourcePath == path)
        var d = Datum()
        d.data = [0, 0x80, 0xFF, 0x22, 0x5C, 0x0A, 0x41]
        // bytes fields print octal escapes and read back to the same bytes.
        let text = TextPrinter.print(d)
        #expect(text == "data: \"\\000\\200\\377\\\"\\\\\\nA\"\n")
        let back = try TextDecoder.decode(Datum.self, try TextParser.parse(Array(text.utf8)), context: "Datum",
                                          at: TextLocation(line: 1, column: 1)).message
        #expect(back == d)
        #expect(Self.error("name: 1.5.2") == "t:1:7: malformed number: a second '.' after 1.5")
    }

    @Test func emptyInputIsAnEmptyNet() throws {
        for text in ["", "   \n\t\n", "# only a comment", "# a\n# b\n"] {
            let net = try Prototxt.parseNet(text, path: "empty.prototxt")
            #expect(net.layer.isEmpty && net.name.isEmpty && net.sourcePath == "empty.prototxt")
        }
    }

    @Test func columnsCountCharactersNotBytes() {
        // "é" is two UTF-8 bytes but one column: 'bogus' starts at column 13 (byte 16).
        #expect(Self.error("name: \"\u{e9}\u{e9}\u{e9}\" bogus: 1") == "t:1:13: unknown field 'bogus' in NetParameter")
        #expect(Self.error("\n\tname: \"a\" \u{2603}") == "t:2:12: unexpected character '\u{2603}' (U+2603)")
    }

    @Test func scalarColonIsRequired() {
        #expect(Self.error("layer { bottom [\"a\"] }") == "t:1:9: expected ':' after 'bottom'")
        #expect(Self.error("name \"n\"") == "t:1:6: expected ':' or '{' after 'name', got the string \"n\"")
    }

    @Test func nestingLimitIsOneHundred() throws {
        // 100 nested messages are allowed by the syntax (the schema then rejects the field).
        let ok = String(repeating: "layer { ", count: 100) + String(repeating: "} ", count: 100)
        #expect(Self.error(ok) == "t:1:9: unknown field 'layer' in layer")
        let deep = String(repeating: "a { ", count: 100_000)
        #expect(Self.error(deep) == "t:1:403: messages nested more than 100 levels deep")
    }

    @Test func editDistanceSuggestions() {
        #expect(closestName(to: "num_ouput", in: ["num_output", "bias_term"]) == "num_output")
        #expect(closestName(to: "base_rl", in: ["base_lr", "display"]) == "base_lr")
        #expect(closestName(to: "frobnicate", in: ["num_output", "bias_term"]) == nil)
        #expect(closestName(to: "ab", in: ["xy"]) == nil)
        #expect(editDistance(Array("kitten".utf8), Array("sitting".utf8)) == 3)
        #expect(editDistance(Array("ab".utf8), Array("ba".utf8)) == 1)
    }
}
