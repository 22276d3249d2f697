import Foundation
import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// The ImageData layer: images written here through libpng and libjpeg-turbo, decoded back (PNG
/// exactly, JPEG within a tolerance), resized with OpenCV's bilinear convention, fed through the
/// transformer, and broken lists / images refused with the file named.
@Suite struct ImageDataTests {
    /// A smooth BGR test pattern (JPEG-friendly), interleaved HWC.
    static func pattern(width: Int, height: Int, channels: Int, seed: Int = 0) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height * channels)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<channels {
                    out[(y * width + x) * channels + c] = UInt8((x * 9 + y * 5 + c * 60 + seed * 17) % 200 + 20)
                }
            }
        }
        return out
    }

    /// A smooth gradient (no edges) for the JPEG round trip.
    static func smooth(width: Int, height: Int, channels: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height * channels)
        for y in 0..<height { for x in 0..<width { for c in 0..<channels {
            out[(y * width + x) * channels + c] = UInt8(min(235, 40 + 4 * x + 6 * y + 50 * c))
        } } }
        return out
    }

    static func planar(_ hwc: [UInt8], width: Int, height: Int, channels: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: hwc.count)
        for y in 0..<height { for x in 0..<width { for c in 0..<channels {
            out[(c * height + y) * width + x] = hwc[(y * width + x) * channels + c]
        } } }
        return out
    }

    @Test func pngIsExactJpegIsClose() throws {
        let dir = try DataTestSupport.makeTempDir("images")
        defer { DataTestSupport.remove(dir) }
        let (w, h) = (13, 7)
        let bgr = Self.pattern(width: w, height: h, channels: 3)
        try ImageDecoding.writePNG(dir + "/a.png", pixels: bgr, width: w, height: h, channels: 3)
        let soft = Self.smooth(width: w, height: h, channels: 3)
        try ImageDecoding.writeJPEG(dir + "/a.jpg", pixels: soft, width: w, height: h, channels: 3, quality: 95)
        let r = DataRecord()
        try ImageDecoding.load(path: dir + "/a.png", color: true, newHeight: 0, newWidth: 0, into: r)
        #expect(r.channels == 3 && r.height == h && r.width == w)
        #expect(r.bytes == Self.planar(bgr, width: w, height: h, channels: 3))
        try ImageDecoding.load(path: dir + "/a.jpg", color: true, newHeight: 0, newWidth: 0, into: r)
        let expected = Self.planar(soft, width: w, height: h, channels: 3)
        let maxError = zip(r.bytes, expected).map { abs(Int($0) - Int($1)) }.max() ?? 999
        print("JPEG q95 4:4:4 13×7 round trip: max error \(maxError) levels")
        #expect(r.bytes.count == expected.count && maxError <= 4)
        // Gray PNG, read as colour (replicated) and as gray; colour PNG read as gray uses
        // 0.299/0.587/0.114 (libpng's fixed point: 9798, 19235, 3735 of 32768).
        let gray = Self.pattern(width: w, height: h, channels: 1, seed: 3)
        try ImageDecoding.writePNG(dir + "/g.png", pixels: gray, width: w, height: h, channels: 1)
        try ImageDecoding.load(path: dir + "/g.png", color: true, newHeight: 0, newWidth: 0, into: r)
        #expect(r.channels == 3 && Array(r.bytes[0..<(w * h)]) == gray && Array(r.bytes[(2 * w * h)...]) == gray)
        try ImageDecoding.load(path: dir + "/g.png", color: false, newHeight: 0, newWidth: 0, into: r)
        #expect(r.channels == 1 && r.bytes == gray)
        try ImageDecoding.load(path: dir + "/a.png", color: false, newHeight: 0, newWidth: 0, into: r)
        let luma = (0..<(w * h)).map { i -> UInt8 in
            let (b, g, rr) = (Int(bgr[i * 3]), Int(bgr[i * 3 + 1]), Int(bgr[i * 3 + 2]))
            return UInt8((rr * 9798 + g * 19235 + b * 3735 + 16384) >> 15)
        }
        let lumaError = zip(r.bytes, luma).map { abs(Int($0) - Int($1)) }.max() ?? 999
        #expect(r.channels == 1 && lumaError <= 1)
    }

    /// Resize against an independent float64 bilinear with OpenCV's pixel-centre mapping.
    @Test func resizeIsOpenCVBilinear() throws {
        let dir = try DataTestSupport.makeTempDir("resize")
        defer { DataTestSupport.remove(dir) }
        for (w, h, nw, nh) in [(13, 7, 5, 4), (6, 6, 15, 9), (8, 8, 4, 4), (10, 3, 10, 6)] {
            let bgr = Self.pattern(width: w, height: h, channels: 3, seed: w)
            try ImageDecoding.writePNG(dir + "/r.png", pixels: bgr, width: w, height: h, channels: 3)
            let r = DataRecord()
            try ImageDecoding.load(path: dir + "/r.png", color: true, newHeight: nh, newWidth: nw, into: r)
            #expect(r.channels == 3 && r.height == nh && r.width == nw)
            func coord(_ d: Int, _ n: Int, _ m: Int) -> (Int, Int, Double) {
                var f = (Double(d) + 0.5) * Double(n) / Double(m) - 0.5
                var s = Int(f.rounded(.down))
                f -= Double(s)
                if s < 0 { s = 0; f = 0 }
                if s >= n - 1 { s = n - 1; f = 0 }
                return (s, min(s + 1, n - 1), f)
            }
            var worst = 0.0
            for c in 0..<3 { for y in 0..<nh { for x in 0..<nw {
                let (y0, y1, fy) = coord(y, h, nh), (x0, x1, fx) = coord(x, w, nw)
                func p(_ yy: Int, _ xx: Int) -> Double { Double(bgr[(yy * w + xx) * 3 + c]) }
                let v = (1 - fy) * ((1 - fx) * p(y0, x0) + fx * p(y0, x1)) + fy * ((1 - fx) * p(y1, x0) + fx * p(y1, x1))
                worst = max(worst, abs(Double(r.bytes[(c * nh + y) * nw + x]) - v))
            } } }
            // Fixed point (weights in 1/2048) and the final rounding: within one level.
            #expect(worst <= 1.0, "\(w)×\(h) → \(nw)×\(nh): \(worst)")
        }
    }

    static func writeList(_ dir: String, _ lines: [String]) throws -> String {
        let path = dir + "/list.txt"
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The layer end to end: list order, labels, root_folder, resize, transform (scale, crop).
    @Test func imageDataLayerThroughTheNet() throws {
        let dir = try DataTestSupport.makeTempDir("imagedata")
        defer { DataTestSupport.remove(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/img", withIntermediateDirectories: true)
        for k in 0..<3 {
            try ImageDecoding.writePNG(dir + "/img/\(k).png", pixels: Self.pattern(width: 10, height: 8, channels: 3, seed: k), width: 10, height: 8, channels: 3)
        }
        let list = try Self.writeList(dir, ["0.png 4", "1.png 7", "2.png 1"])
        let text = """
        name: "imgnet"
        layer { name: "data" type: "ImageData" top: "data" top: "label"
          transform_param { scale: 0.5 crop_size: 6 }
          image_data_param { source: "\(list)" root_folder: "\(dir)/img/" batch_size: 2 new_height: 8 new_width: 10 } }
        layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" inner_product_param { num_output: 9 weight_filler { type: "xavier" } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
        """
        let netPath = dir + "/net.prototxt"
        try Data(text.utf8).write(to: URL(fileURLWithPath: netPath))
        let setup = try RunSetup.load(solverPath: nil, netPath: netPath, data: nil, scheme: Scheme(), seed: 1, batchSize: nil)
        #expect(setup.batchSize == 2)
        let rng = RandomSource(seed: 1)
        let net = try Net(setup.net, state: NetState(phase: .TEST),
                          context: LayerContext(phase: .TEST, rng: rng, batchSources: setup.batchSources(phase: .TEST, rng: rng)),
                          initializer: ParameterInitializer(scheme: Scheme()).initialize)
        #expect(net.blob(named: "data")?.shape == [2, 3, 6, 6])
        for batch in 0..<2 {
            _ = try net.forward()
            let d = net.blob(named: "data")!, l = net.blob(named: "label")!
            for item in 0..<2 {
                let k = (batch * 2 + item) % 3
                #expect(l.data[item] == [4, 7, 1][k])
                // TEST crop: offsets (8−6)/2 = 1, (10−6)/2 = 2; value = byte · 0.5.
                let src = Self.pattern(width: 10, height: 8, channels: 3, seed: k)
                for (c, y, x) in [(0, 0, 0), (2, 5, 5), (1, 3, 2)] {
                    let v = d.data[((item * 3 + c) * 6 + y) * 6 + x]
                    #expect(v == Float(src[((y + 1) * 10 + x + 2) * 3 + c]) * 0.5)
                }
            }
        }
        // inspect: the shape from new_height × new_width, the crop after it.
        let i = try NetInspection(param: setup.net, phase: .TRAIN)
        #expect(i.layers[0].topShapes[0] == [2, 3, 6, 6])
        #expect(i.input[0].contains("new_height × new_width"))
    }

    @Test func brokenListsAndImages() throws {
        let dir = try DataTestSupport.makeTempDir("imagedata-bad")
        defer { DataTestSupport.remove(dir) }
        try ImageDecoding.writePNG(dir + "/ok.png", pixels: Self.pattern(width: 4, height: 4, channels: 3), width: 4, height: 4, channels: 3)
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 5, 6, 7, 8]).write(to: URL(fileURLWithPath: dir + "/bad.jpg"))
        try Data("hello".utf8).write(to: URL(fileURLWithPath: dir + "/text.jpg"))
        try ImageDecoding.writeJPEG(dir + "/good.jpg", pixels: Self.pattern(width: 16, height: 16, channels: 3), width: 16, height: 16, channels: 3)
        let good = try Data(contentsOf: URL(fileURLWithPath: dir + "/good.jpg"))
        try good.prefix(good.count - 40).write(to: URL(fileURLWithPath: dir + "/cut.jpg"))
        let r = DataRecord()
        for (file, words) in [("missing.png", "cannot open the image"), ("bad.jpg", "unreadable image"),
                              ("text.jpg", "not a JPEG or PNG image")] {
            let e = DataTestSupport.inputError { try ImageDecoding.load(path: dir + "/" + file, color: true, newHeight: 0, newWidth: 0, into: r) }
            #expect(e?.message.hasPrefix(dir + "/" + file + ":") == true, "\(file): \(e?.message ?? "no error")")
            #expect(e?.message.contains(words) == true, "\(file): \(e?.message ?? "no error")")
        }
        // A JPEG cut short decodes with a warning, as OpenCV's imread does (grey fill at the end).
        try ImageDecoding.load(path: dir + "/cut.jpg", color: true, newHeight: 0, newWidth: 0, into: r)
        #expect(r.height == 16 && r.width == 16)
        // Lists: empty, a line without a label, a non-integer label, a missing list file.
        var p = ImageDataParameter()
        for (lines, words) in [([String](), "the image list is empty"), (["ok.png"], ":1: expected 'path label'"),
                               (["ok.png 1", "ok.png x"], ":2: label 'x' is not an integer")] {
            p.source = try Self.writeList(dir, lines)
            let e = DataTestSupport.inputError { _ = try ImageListSource(param: p, layerName: "data") }
            #expect(e?.message.contains(words) == true, "\(lines): \(e?.message ?? "no error")")
        }
        p.source = dir + "/none.txt"
        #expect(DataTestSupport.inputError { _ = try ImageListSource(param: p, layerName: "data") }?.message.contains("image list '\(dir)/none.txt' cannot be opened") == true)
        // Paths with spaces: split at the last space, as Caffe does.
        try FileManager.default.copyItem(atPath: dir + "/ok.png", toPath: dir + "/with space.png")
        p.source = try Self.writeList(dir, ["with space.png 3"])
        p.rootFolder = dir + "/"
        let s = try ImageListSource(param: p, layerName: "data")
        try s.next(into: r)
        #expect(r.label == 3 && r.origin == dir + "/with space.png")
    }
}
