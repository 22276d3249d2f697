import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Random mutations of real inputs never crash the readers: each either parses or throws
/// InputError (any other error, or a trap, fails the run). Deterministic: MT19937 seeds.
@Suite struct PrototxtFuzzTests {
    /// Bytes that steer mutations into the tokenizer's interesting states.
    static let specials: [UInt8] = Array("{}<>[]:;,-#\"'\\.0123456789eExXfFtn_\n ".utf8) + [0, 0x80, 0xC3, 0xE2, 0xFF]

    static func mutate(_ input: [UInt8], _ g: inout MT19937) -> [UInt8] {
        var b = input
        let edits = 1 + Int(g.next() % 8)
        for _ in 0..<edits {
            let r = g.next()
            let pos = b.isEmpty ? 0 : Int(g.next() % UInt32(b.count))
            let byte = r & 1 == 0 ? specials[Int(g.next() % UInt32(specials.count))] : UInt8(truncatingIfNeeded: g.next())
            switch r % 4 {
            case 0 where !b.isEmpty: b[pos] = byte
            case 1: b.insert(byte, at: pos)
            case 2 where !b.isEmpty: b.remove(at: pos)
            default:  // cut the tail
                if !b.isEmpty { b.removeSubrange(pos...) }
            }
        }
        return b
    }

    @Test func mutatedSeedPrototxtParsesOrFailsCleanly() throws {
        let seedNet = try PrototxtFixtures.bytes("seed/train_val.prototxt")
        let seedSolver = try PrototxtFixtures.bytes("seed/solver.prototxt")
        var g = MT19937(seed: 20180106)
        var parsed = 0, rejected = 0
        for i in 0..<3000 {
            let solver = i % 4 == 3
            let input = Self.mutate(solver ? seedSolver : seedNet, &g)
            do {
                if solver { _ = try Prototxt.parseSolver(input, path: "m") } else { _ = try Prototxt.parseNet(input, path: "m") }
                parsed += 1
            } catch let e as InputError {
                #expect(e.message.hasPrefix("m:") && !e.message.contains("\n"))
                rejected += 1
            }
        }
        // Both outcomes must occur, or the mutations are not exercising the reader.
        #expect(parsed > 50 && rejected > 500, "parsed \(parsed), rejected \(rejected)")
    }

    @Test func mutatedCaffeModelDecodesOrFailsCleanly() throws {
        let net = try Prototxt.loadNet(path: PrototxtFixtures.path("prototxt/every_field.prototxt"))
        let model = CaffeModel.encode(net)
        var g = MT19937(seed: 7)
        var decoded = 0, rejected = 0
        for _ in 0..<2000 {
            let input = Self.mutate(model, &g)
            do {
                _ = try CaffeModel.decode(input, path: "m.caffemodel")
                decoded += 1
            } catch let e as InputError {
                #expect(e.message.hasPrefix("m.caffemodel: "))
                rejected += 1
            }
        }
        #expect(decoded > 20 && rejected > 200, "decoded \(decoded), rejected \(rejected)")
    }
}
