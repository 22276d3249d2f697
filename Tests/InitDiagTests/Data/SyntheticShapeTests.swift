import Foundation
import Testing
@testable import InitDiag

@Suite struct SyntheticShapeTests {
    /// FNV-1a over the bytes and labels of the first `n` records.
    static func digest(_ s: SyntheticSource, _ n: Int) throws -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let r = DataRecord()
        for _ in 0..<n {
            try s.next(into: r)
            for b in r.bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            h = (h ^ UInt64(UInt32(bitPattern: r.label))) &* 0x100_0000_01b3
        }
        return h
    }

    @Test func printDigest() throws {
        print("DIGEST train \(try Self.digest(SyntheticSource(seed: 1, phase: .TRAIN), 200)) test \(try Self.digest(SyntheticSource(seed: 7, phase: .TEST), 200))")
    }
}
