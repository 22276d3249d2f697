import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Binary .caffemodel reading: a model written field by field with WireWriter (as Caffe's
/// protobuf would write it), legacy V1 layers, packed and unpacked floats, and truncation.
@Suite struct CaffeModelTests {
    static func message(_ build: (inout WireWriter) -> Void) -> [UInt8] {
        var w = WireWriter()
        build(&w)
        return w.bytes
    }

    static func floatBytes(_ values: [Float]) -> [UInt8] {
        var w = WireWriter()
        values.withUnsafeBufferPointer { w.packedFloats(1, $0) }
        return Array(w.bytes.dropFirst(2))  // drop the tag and the one-byte length
    }

    /// A V1 net: conv with a packed 2×3 weight (BlobShape) and legacy-dim bias given as unpacked
    /// floats; inner product with double_data; blobs_lr / weight_decay unpacked; an unknown field.
    /// Returns the bytes and the offsets where top-level fields end.
    static func v1Model() -> (bytes: [UInt8], boundaries: [Int]) {
        let weight = message { b in
            b.bytesField(7, message { s in s.packedVarints(1, [2, 3]) })             // shape { dim: 2 dim: 3 }
            [Float](arrayLiteral: 1, -2, 3.5, 0.25, -0.125, 8).withUnsafeBufferPointer { b.packedFloats(5, $0) }
        }
        let bias = message { b in
            b.varintField(1, 1); b.varintField(2, 1); b.varintField(3, 1); b.varintField(4, 2)  // legacy 1×1×1×2
            b.floatField(5, 0.5); b.floatField(5, -0.5)                              // unpacked data
        }
        let conv = message { l in
            l.stringField(4, "conv1")
            l.varintField(5, 4)                                                      // type: CONVOLUTION
            l.stringField(2, "data"); l.stringField(3, "conv1")
            l.bytesField(6, weight); l.bytesField(6, bias)
            l.floatField(7, 1); l.floatField(7, 2)                                   // blobs_lr
            l.floatField(8, 1); l.floatField(8, 0)                                   // weight_decay
            l.bytesField(10, message { c in c.varintField(1, 2); c.packedVarints(4, [3]) })  // num_output 2, kernel_size 3 (packed)
        }
        let ipBlob = message { b in
            b.bytesField(7, message { s in s.packedVarints(1, [2]) })
            var payload: [UInt8] = []
            for d in [1.0, -3.0] as [Double] { withUnsafeBytes(of: d.bitPattern.littleEndian) { payload.append(contentsOf: $0) } }
            b.bytesField(8, payload)                                                 // double_data packed
        }
        let ip = message { l in
            l.stringField(4, "ip")
            l.varintField(5, 14)                                                     // INNER_PRODUCT
            l.bytesField(6, ipBlob)
            l.varintField(999, 7)                                                    // unknown: skipped
            l.bytesField(17, message { p in p.varintField(1, 2) })
        }
        var w = WireWriter()
        var boundaries = [0]
        w.stringField(1, "tiny"); boundaries.append(w.bytes.count)
        w.bytesField(2, conv); boundaries.append(w.bytes.count)
        w.bytesField(2, ip); boundaries.append(w.bytes.count)
        return (w.bytes, boundaries)
    }

    @Test func decodesHandWrittenV1Model() throws {
        let net = try CaffeModel.decode(Self.v1Model().bytes, path: "tiny.caffemodel")
        #expect(net.name == "tiny" && net.layers.isEmpty && net.sourcePath == "tiny.caffemodel")
        #expect(net.layer.map(\.name) == ["conv1", "ip"])
        #expect(net.layer.map(\.type) == ["Convolution", "InnerProduct"])
        let conv = net.layer[0]
        #expect(conv.bottom == ["data"] && conv.top == ["conv1"])
        #expect(conv.blobs.count == 2)
        #expect(conv.blobs[0].resolvedShape == [2, 3] && conv.blobs[0].values == [1, -2, 3.5, 0.25, -0.125, 8])
        #expect(conv.blobs[1].resolvedShape == [1, 1, 1, 2] && conv.blobs[1].values == [0.5, -0.5])
        #expect(conv.param.map(\.lrMult) == [1, 2] && conv.param.map(\.decayMult) == [1, 0])
        #expect(conv.convolutionParam?.numOutput == 2 && conv.convolutionParam?.kernelSize == [3])
        #expect(net.layer[1].blobs[0].values == [1, -3] && net.layer[1].blobs[0].doubleData == [1, -3])
        #expect(net.layer[1].innerProductParam?.numOutput == 2)
    }

    @Test func everyTruncationFailsCleanlyOrEndsOnAFieldBoundary() throws {
        let (bytes, boundaries) = Self.v1Model()
        var failures = 0
        for length in 0..<bytes.count {
            let prefix = Array(bytes[0..<length])
            if let k = boundaries.firstIndex(of: length) {
                // A prefix that ends between top-level fields is a valid, shorter message.
                let net = try CaffeModel.decode(prefix, path: "t.caffemodel")
                #expect(net.layer.count == max(0, k - 1), "prefix \(length)")
            } else {
                let message = PrototxtFixtures.inputErrorMessage { _ = try CaffeModel.decode(prefix, path: "t.caffemodel") }
                #expect(message?.hasPrefix("t.caffemodel: corrupt or truncated caffemodel: ") == true, "prefix \(length): \(message ?? "decoded")")
                #expect(message?.contains(" at byte ") == true)
                failures += 1
            }
        }
        #expect(failures == bytes.count - (boundaries.count - 1))
    }

    @Test func corruptDataNamesTheOffset() {
        // Field 1 (name) as a varint: wrong wire type for a string.
        #expect(PrototxtFixtures.inputErrorMessage { _ = try CaffeModel.decode([0x08, 0x01], path: "m.caffemodel") }
                == "m.caffemodel: corrupt or truncated caffemodel: field 'name' (1) has the wrong wire type 0 at byte 1")
        // Length running past the end.
        #expect(PrototxtFixtures.inputErrorMessage { _ = try CaffeModel.decode([0x0A, 0x7F, 0x41], path: "m.caffemodel") }
                == "m.caffemodel: corrupt or truncated caffemodel: length 127 runs past the end of the data at byte 1")
        // Field number 0 is invalid.
        #expect(PrototxtFixtures.inputErrorMessage { _ = try CaffeModel.decode([0x00], path: "m.caffemodel") }
                == "m.caffemodel: corrupt or truncated caffemodel: invalid field tag 0 at byte 0")
        // A V1 type number outside the enum.
        let badType = CaffeModelTests.message { w in w.bytesField(2, CaffeModelTests.message { l in l.varintField(5, 77) }) }
        #expect(PrototxtFixtures.inputErrorMessage { _ = try CaffeModel.decode(badType, path: "m.caffemodel") }
                == "m.caffemodel: corrupt or truncated caffemodel: unknown value 77 of enum LayerType in field 'type' at byte 3")
        // HDF5 snapshots are recognised by their signature.
        #expect(PrototxtFixtures.inputErrorMessage { _ = try CaffeModel.decode([0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A, 0], path: "m.caffemodel.h5") }
                == "m.caffemodel.h5: is an HDF5 snapshot (.caffemodel.h5), not a binary .caffemodel")
    }

    @Test func encodeDecodeRoundTrip() throws {
        var net = NetParameter()
        net.name = "enc"
        var layer = LayerParameter(name: "conv", type: "Convolution")
        var blob = BlobProto()
        blob.shape = BlobShape(dim: [2, 1, 1, 3])
        blob.data = (0..<6).map { Float($0) * 0.5 - 1 }
        layer.blobs = [blob]
        var c = ConvolutionParameter()
        c.numOutput = 2; c.kernelSize = [1]; c.axis = -1
        layer.convolutionParam = c
        layer.lossWeight = [1, 0]
        net.layer = [layer]
        let bytes = CaffeModel.encode(net)
        #expect(try CaffeModel.decode(bytes, path: "e.caffemodel").layer == net.layer)
        // axis -1 (int32) goes out as a 10-byte two's-complement varint, as protobuf writes it.
        let axis: [UInt8] = [0x80, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        #expect(bytes.indices.contains { bytes[$0...].starts(with: axis) })
    }

    @Test func meanFileBlobProto() throws {
        var blob = BlobProto()
        blob.num = 1; blob.channels = 3; blob.height = 2; blob.width = 2
        blob.data = (0..<12).map { Float($0) + 0.5 }
        let decoded = try BlobProto.decode(blob.encode())
        #expect(decoded == blob && decoded.resolvedShape == [1, 3, 2, 2])
        // Unpacked floats (older writers) are accepted too.
        let unpacked = CaffeModelTests.message { w in w.floatField(5, 1.25); w.floatField(5, 2.5); w.varintField(1, 2) }
        let u = try BlobProto.decode(unpacked)
        #expect(u.data == [1.25, 2.5] && u.num == 2)
        #expect(PrototxtFixtures.inputErrorMessage { _ = try BlobProto.decode([0x2A, 0x05, 0, 0, 0, 0, 0]) }
                == "corrupt or truncated BlobProto: packed float run of 5 bytes at byte 2")
    }

    @Test func datumAndSolverStateRoundTrip() throws {
        var d = Datum()
        d.channels = 3; d.height = 1; d.width = 2; d.label = 7
        d.data = [0, 255, 128, 1, 2, 3]
        #expect(try Datum.decode(d.encode()) == d)
        var s = SolverState()
        s.iter = 100; s.learnedNet = "snap_iter_100.caffemodel"; s.currentStep = 2
        var h = BlobProto(); h.data = [1, 2]; h.shape = BlobShape(dim: [2])
        s.history = [h, h]
        #expect(try SolverState.decode(s.encode(), path: "s.solverstate") == s)
    }

    @Test func missingFileIsAnInputError() {
        #expect(PrototxtFixtures.inputErrorMessage { _ = try CaffeModel.load(path: "/nonexistent/x.caffemodel") }
                == "/nonexistent/x.caffemodel: cannot open the caffemodel file: No such file or directory")
        #expect(PrototxtFixtures.inputErrorMessage { _ = try Prototxt.loadNet(path: "/nonexistent/n.prototxt") }
                == "/nonexistent/n.prototxt: cannot open the net file: No such file or directory")
        #expect(PrototxtFixtures.inputErrorMessage { _ = try Prototxt.loadSolver(path: "/tmp") }
                == "/tmp: is a directory, not a solver file")
    }
}
