import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

@Suite struct DataTransformerTests {
    static func byteRecord(_ c: Int, _ h: Int, _ w: Int, _ value: (Int) -> UInt8) -> DataRecord {
        let r = DataRecord()
        r.prepareBytes(channels: c, height: h, width: w)
        for i in 0..<(c * h * w) { r.bytes[i] = value(i) }
        r.origin = "test"
        return r
    }

    static func run(_ t: DataTransformer, _ r: DataRecord) throws -> [Float] {
        let shape = try t.outputShape(channels: r.channels, height: r.height, width: r.width, what: "test")
        var out = [Float](repeating: .nan, count: shape.channels * shape.height * shape.width)
        try out.withUnsafeMutableBufferPointer { try t.transform(r, into: $0.baseAddress!) }
        return out
    }

    static func param(scale: Float = 1, mirror: Bool = false, crop: UInt32 = 0, meanValue: [Float] = [], meanFile: String? = nil) -> TransformationParameter {
        var p = TransformationParameter()
        p.scale = scale; p.mirror = mirror; p.cropSize = crop; p.meanValue = meanValue; p.meanFile = meanFile
        return p
    }

    @Test func scaleOnly() throws {
        // bytes 0, 10, …, 170 (3×2×3); out = byte·0.5.
        let r = Self.byteRecord(3, 2, 3) { UInt8($0 * 10) }
        let t = try DataTransformer(param: Self.param(scale: 0.5), phase: .TRAIN)
        #expect(!t.needsRandom)
        #expect(try Self.run(t, r) == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85])
        // The seed net's scale 0.00392156862745 (1/255) on byte 255: float(255)·float(0.00392156862745).
        let s: Float = 0.00392156862745
        let r255 = Self.byteRecord(1, 1, 2) { $0 == 0 ? 255 : 1 }
        #expect(try Self.run(try DataTransformer(param: Self.param(scale: s), phase: .TEST), r255) == [Float(255) * s, s])
    }

    @Test func meanValueSingleAndPerChannel() throws {
        // 3×1×2 bytes [50, 60, 70, 80, 90, 100].
        let r = Self.byteRecord(3, 1, 2) { UInt8(50 + 10 * $0) }
        let one = try DataTransformer(param: Self.param(scale: 2, meanValue: [100]), phase: .TRAIN)
        #expect(try Self.run(one, r) == [-100, -80, -60, -40, -20, 0])     // (v − 100)·2
        let three = try DataTransformer(param: Self.param(scale: 1, meanValue: [10, 20, 30]), phase: .TEST)
        #expect(try Self.run(three, r) == [40, 50, 50, 60, 60, 70])         // v − mean[c]
        // Mean first, then scale: (v − 0.5)·0.1 in float, not v·0.1 − 0.05.
        let order = try DataTransformer(param: Self.param(scale: 0.1, meanValue: [0.5]), phase: .TEST)
        #expect(try Self.run(order, Self.byteRecord(1, 1, 1) { _ in 3 }) == [(Float(3) - 0.5) * Float(0.1)])
        // Two values for three channels: Caffe's "Specify either 1 mean_value or as many as channels".
        let two = try DataTransformer(param: Self.param(meanValue: [1, 2]), phase: .TEST)
        let e = DataTestSupport.inputError { _ = try Self.run(two, r) }
        #expect(e?.message.contains("2 mean_value") == true)
    }

    static func writeMean(_ dir: String, num: Int = 1, c: Int, h: Int, w: Int, values: [Float]) throws -> String {
        let path = dir + "/mean.binaryproto"
        try Data(DataMeanFile.encodeLegacy(num: num, channels: c, height: h, width: w, values: values)).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func meanFileAtTheUncroppedSourceIndex() throws {
        let dir = try DataTestSupport.makeTempDir("mean")
        defer { DataTestSupport.remove(dir) }
        // 2×3×4 bytes b[i] = 3i + 1, mean m[i] = i, scale 0.5 ⇒ (b − m)·0.5 = i + 0.5 at source index i.
        let path = try Self.writeMean(dir, c: 2, h: 3, w: 4, values: (0..<24).map { Float($0) })
        let r = Self.byteRecord(2, 3, 4) { UInt8(3 * $0 + 1) }
        let full = try DataTransformer(param: Self.param(scale: 0.5, meanFile: path), phase: .TRAIN)
        #expect(full.mean?.shape == [1, 2, 3, 4])
        #expect(try Self.run(full, r) == (0..<24).map { Float($0) + 0.5 })
        // TEST crop 2: h_off = (3 − 2)/2 = 0, w_off = (4 − 2)/2 = 1; source indices 1, 2, 5, 6 | 13, 14, 17, 18.
        let cropped = try DataTransformer(param: Self.param(scale: 0.5, crop: 2, meanFile: path), phase: .TEST)
        #expect(try Self.run(cropped, r) == [1.5, 2.5, 5.5, 6.5, 13.5, 14.5, 17.5, 18.5])
    }

    @Test func meanFileProblems() throws {
        let dir = try DataTestSupport.makeTempDir("mean-bad")
        defer { DataTestSupport.remove(dir) }
        let r = Self.byteRecord(2, 3, 4) { UInt8($0) }
        // Both mean_file and mean_value.
        let both = Self.param(meanValue: [1], meanFile: dir + "/x")
        #expect(DataTestSupport.inputError { _ = try DataTransformer(param: both, phase: .TRAIN) }?.message.contains("mean_file and mean_value") == true)
        // Missing file.
        #expect(DataTestSupport.inputError { _ = try DataTransformer(param: Self.param(meanFile: dir + "/none"), phase: .TRAIN) }?.message.contains(dir + "/none") == true)
        // Shape differs from the image.
        let other = try Self.writeMean(dir, c: 2, h: 4, w: 3, values: [Float](repeating: 1, count: 24))
        let t = try DataTransformer(param: Self.param(meanFile: other), phase: .TRAIN)
        #expect(DataTestSupport.inputError { _ = try Self.run(t, r) }?.message.contains("mean_file") == true)
        // Value count differs from the shape's count.
        let short = try Self.writeMean(dir, c: 2, h: 3, w: 4, values: [Float](repeating: 1, count: 23))
        #expect(DataTestSupport.inputError { _ = try DataTransformer(param: Self.param(meanFile: short), phase: .TRAIN) }?.message.contains("23 values") == true)
        // Truncated bytes.
        let good = DataMeanFile.encodeLegacy(num: 1, channels: 2, height: 3, width: 4, values: [Float](repeating: 1, count: 24))
        try Data(good.prefix(good.count - 3)).write(to: URL(fileURLWithPath: dir + "/trunc"))
        #expect(DataTestSupport.inputError { _ = try DataTransformer(param: Self.param(meanFile: dir + "/trunc"), phase: .TRAIN) }?.message.contains("not a binary BlobProto") == true)
        // A 3-axis shape C×H×W: Caffe's legacy channels() is then shape[1] = H, so it does not match.
        var w = WireWriter()
        w.bytesField(7, { var s = WireWriter(); s.packedVarints(1, [2, 3, 4]); return s.bytes }())
        [Float](repeating: 0, count: 24).withUnsafeBufferPointer { w.packedFloats(5, $0) }
        try Data(w.bytes).write(to: URL(fileURLWithPath: dir + "/axes3"))
        let t3 = try DataTransformer(param: Self.param(meanFile: dir + "/axes3"), phase: .TRAIN)
        #expect(t3.mean?.shape == [2, 3, 4] && t3.mean?.channels == 3 && t3.mean?.width == 1)
        #expect(DataTestSupport.inputError { _ = try Self.run(t3, r) } != nil)
        // The same values as a 4-axis shape (1, 2, 3, 4) in shape.dim, double_data: accepted.
        var w4 = WireWriter()
        w4.bytesField(7, { var s = WireWriter(); s.packedVarints(1, [1, 2, 3, 4]); return s.bytes }())
        for i in 0..<24 { w4.doubleField(8, Double(i) * 0.25) }
        try Data(w4.bytes).write(to: URL(fileURLWithPath: dir + "/axes4"))
        let t4 = try DataTransformer(param: Self.param(meanFile: dir + "/axes4"), phase: .TRAIN)
        #expect(try Self.run(t4, r) == (0..<24).map { Float($0) - Float(Double($0) * 0.25) })
    }

    @Test func testPhaseCenterCrop() throws {
        // 1×5×6 bytes b[i] = i, crop 3: h_off = (5 − 3)/2 = 1, w_off = (6 − 3)/2 = 1.
        let r = Self.byteRecord(1, 5, 6) { UInt8($0) }
        let t = try DataTransformer(param: Self.param(crop: 3), phase: .TEST)
        #expect(!t.needsRandom)
        #expect(try Self.run(t, r) == [7, 8, 9, 13, 14, 15, 19, 20, 21])
        // crop larger than the image.
        let big = try DataTransformer(param: Self.param(crop: 6), phase: .TEST)
        #expect(DataTestSupport.inputError { _ = try Self.run(big, r) }?.message.contains("crop_size 6") == true)
    }

    @Test func trainMirrorAndCropFromSeededGenerator() throws {
        // MT19937(1234) outputs: 822569775, 2137449171, 2671936806, 3512589365, 1880026316,
        // 2629000564, 3373089432, 3312965625, 3349970575. Per record: mirror = o mod 2, then
        // h_off = o mod (4 − 3 + 1), w_off = o mod (5 − 3 + 1):
        //   record 1: mirror 1, h_off 1, w_off 0;  record 2: mirror 1, h_off 0, w_off 1;
        //   record 3: mirror 0, h_off 1, w_off 1.
        let r = Self.byteRecord(2, 4, 5) { UInt8($0) }
        let t = try DataTransformer(param: Self.param(mirror: true, crop: 3), phase: .TRAIN)
        #expect(t.needsRandom)
        t.setSeed(1234)
        #expect(try Self.run(t, r) == [7, 6, 5, 12, 11, 10, 17, 16, 15, 27, 26, 25, 32, 31, 30, 37, 36, 35])
        #expect(try Self.run(t, r) == [3, 2, 1, 8, 7, 6, 13, 12, 11, 23, 22, 21, 28, 27, 26, 33, 32, 31])
        #expect(try Self.run(t, r) == [6, 7, 8, 11, 12, 13, 16, 17, 18, 26, 27, 28, 31, 32, 33, 36, 37, 38])

        // Many more records against offsets derived from the same generator here.
        var mt = MT19937(seed: 77)
        t.setSeed(77)
        let big = Self.byteRecord(3, 9, 7) { UInt8(($0 * 13) % 256) }
        let bigT = try DataTransformer(param: Self.param(scale: 0.5, mirror: true, crop: 4), phase: .TRAIN)
        bigT.setSeed(77)
        for _ in 0..<50 {
            let mirror = mt.next() % 2 == 1
            let hOff = Int(mt.next() % 6), wOff = Int(mt.next() % 4)
            var expected = [Float](repeating: 0, count: 3 * 4 * 4)
            for c in 0..<3 { for h in 0..<4 { for w in 0..<4 {
                let column = mirror ? 3 - w : w
                expected[(c * 4 + h) * 4 + column] = Float(big.bytes[(c * 9 + hOff + h) * 7 + wOff + w]) * 0.5
            } } }
            #expect(try Self.run(bigT, big) == expected)
        }
    }

    @Test func testPhaseMirrorDrawsOnlyTheMirrorBit() throws {
        // TEST with mirror and crop: one Rand(2) per record, the crop is centred (no draws).
        // MT19937(99): 2887414401 odd, 3103284259 odd, 2096280761 odd, 3573189800 even. Were crop
        // offsets drawn too, record 2's bit would come from the 4th output (even: not mirrored).
        // 1×3×4 bytes b[i] = i, crop 2: h_off = 0, w_off = 1 ⇒ source row 0, columns 1–2 = [1, 2].
        let r = Self.byteRecord(1, 3, 4) { UInt8($0) }
        let t = try DataTransformer(param: Self.param(mirror: true, crop: 2), phase: .TEST)
        t.setSeed(99)
        #expect(try Self.run(t, r) == [2, 1, 6, 5])
        #expect(try Self.run(t, r) == [2, 1, 6, 5])
        #expect(try Self.run(t, r) == [2, 1, 6, 5])
        #expect(try Self.run(t, r) == [1, 2, 5, 6])
        // Without crop: 1×1×3, seed 1234: 822569775 odd, 2137449171 odd, 2671936806 even.
        let wide = Self.byteRecord(1, 1, 3) { UInt8($0 + 1) }
        let t2 = try DataTransformer(param: Self.param(mirror: true), phase: .TEST)
        t2.setSeed(1234)
        #expect(try Self.run(t2, wide) == [3, 2, 1])
        #expect(try Self.run(t2, wide) == [3, 2, 1])
        #expect(try Self.run(t2, wide) == [1, 2, 3])
    }

    @Test func unseededGeneratorStartsFromTheDefaultSeed() throws {
        // MT19937(5489): 3499211612, 581869302, 3890346734 even, 3586334585 odd.
        let t = try DataTransformer(param: Self.param(mirror: true), phase: .TRAIN)
        #expect(t.seed == nil)
        let r = Self.byteRecord(1, 1, 2) { UInt8($0) }
        for _ in 0..<3 { #expect(try Self.run(t, r) == [0, 1]) }
        #expect(try Self.run(t, r) == [1, 0])
    }

    @Test func seedDrawsFollowCaffesPrefetchingDataLayer() throws {
        // MT19937(99): 2887414401, 3103284259, 2096280761, 3573189800.
        let withRandom = try DataTransformer(param: Self.param(mirror: true), phase: .TEST)
        let rng = RandomSource(seed: 99)
        withRandom.seedLikePrefetchingDataLayer(from: rng)
        #expect(withRandom.seed == 3_103_284_259)       // the second InitRand's draw
        #expect(rng.next() == 3_573_189_800)             // three draws were taken
        let cropTrain = try DataTransformer(param: Self.param(crop: 2), phase: .TRAIN)
        let rng2 = RandomSource(seed: 99)
        cropTrain.seedLikePrefetchingDataLayer(from: rng2)
        #expect(cropTrain.seed == 3_103_284_259 && rng2.next() == 3_573_189_800)
        // No randomness needed (TEST crop, or plain): only the prefetch thread's draw.
        for p in [Self.param(crop: 2), Self.param(scale: 0.5)] {
            let t = try DataTransformer(param: p, phase: .TEST)
            let rng3 = RandomSource(seed: 99)
            t.seedLikePrefetchingDataLayer(from: rng3)
            #expect(t.seed == nil)
            #expect(rng3.next() == 3_103_284_259)
        }
    }

    @Test func floatDataRecords() throws {
        let r = DataRecord()
        r.channels = 2; r.height = 1; r.width = 2
        r.floats = [1.5, -2, 0.25, 100]
        let t = try DataTransformer(param: Self.param(scale: 2, mirror: false, meanValue: [0.5, 1]), phase: .TEST)
        #expect(try Self.run(t, r) == [2, -5, -1.5, 198])
        r.floats.removeLast()
        #expect(DataTestSupport.inputError { _ = try Self.run(t, r) }?.message.contains("holds 3 values") == true)
    }

    @Test func forceColorIsIgnoredWithANotice() throws {
        var p = Self.param(scale: 1)
        p.forceColor = true
        let t = try DataTransformer(param: p, phase: .TRAIN)
        #expect(t.notices.count == 1 && t.notices[0].message.contains("force_color"))
        #expect(try Self.run(t, Self.byteRecord(1, 1, 2) { UInt8($0 + 5) }) == [5, 6])
        #expect(try DataTransformer(param: Self.param(), phase: .TRAIN).notices.isEmpty)
    }
}
