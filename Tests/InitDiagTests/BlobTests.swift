import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct BlobTests {
    @Test func reshapeKeepsCapacityAndLegacyDims() {
        let b = Blob(name: "x", shape: [2, 3, 4, 5])
        #expect(b.count == 120)
        #expect(b.count(from: 1) == 60)
        b.reshape([10])
        #expect(b.count == 10 && b.capacity == 120)
        #expect(b.legacyDim(0) == 1 && b.legacyDim(3) == 10)
    }

    @Test func mersenneTwisterCheckValue() {
        // The C++ standard's check: the 10000th output of mt19937 with the default seed 5489.
        var g = MT19937(seed: 5489)
        var v: UInt32 = 0
        for _ in 0..<10000 { v = g.next() }
        #expect(v == 4_123_659_995)
    }

    @Test func wireRoundTrip() throws {
        var w = WireWriter()
        w.varintField(1, 300)
        w.int64Field(2, -5)
        w.floatField(3, 1.5)
        w.stringField(4, "conv1")
        let bytes = w.bytes
        try bytes.withUnsafeBytes { raw in
            var r = WireReader(raw)
            var t = try r.readTag(); #expect(t.field == 1); #expect(try r.readVarint() == 300)
            t = try r.readTag(); #expect(t.field == 2); #expect(Int64(bitPattern: try r.readVarint()) == -5)
            t = try r.readTag(); #expect(t.type == .fixed32); #expect(Float(bitPattern: try r.readFixed32()) == 1.5)
            t = try r.readTag(); let range = try r.readLengthDelimited(); #expect(r.string(range) == "conv1")
            #expect(r.atEnd)
        }
        // A truncated buffer throws instead of reading past the end.
        Array(bytes.prefix(bytes.count - 2)).withUnsafeBytes { raw in
            var r = WireReader(raw)
            #expect(throws: WireError.self) { while !r.atEnd { let t = try r.readTag(); try r.skip(t.type) } }
        }
    }
}
