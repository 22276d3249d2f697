import Testing
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Builds a pooling layer from a parameter edit and sets it up on `bottom`.
func makePooling(_ edit: (inout PoolingParameter) -> Void, bottom: Blob, tops: Int = 1,
                 name: String = "pool") throws -> (PoolingLayer, [Blob]) {
    var lp = LayerParameter(name: name, type: "Pooling")
    var p = PoolingParameter()
    edit(&p)
    lp.poolingParam = p
    let layer = try PoolingLayer(param: lp, context: LayerContext(phase: .TRAIN, rng: RandomSource(seed: 1)))
    let top = (0..<tops).map { Blob(name: "top\($0)") }
    try layer.setUp(bottom: [bottom], top: top)
    return (layer, top)
}

/// A blob whose values are k·0.05 for a random permutation of k: distinct values 0.05 apart, so a
/// ±0.01 finite-difference step never changes which element of a window is the maximum.
func distinctValues(_ shape: [Int], seed: UInt32 = 13) -> Blob {
    let b = Blob(name: "in", shape: shape)
    var values = (0..<b.count).map { Float($0) * 0.05 - Float(b.count) * 0.025 }
    var g = MT19937(seed: seed)
    for i in stride(from: values.count - 1, to: 0, by: -1) {
        values.swapAt(i, Int(g.next() % UInt32(i + 1)))
    }
    b.setData(values)
    return b
}

/// v[h, w] = h·W + w on a single plane.
func rampPlane(_ h: Int, _ w: Int) -> Blob {
    let b = Blob(name: "ramp", shape: [1, 1, h, w])
    b.setData((0..<(h * w)).map(Float.init))
    return b
}

@Suite struct PoolingTests {
    // MARK: output sizes

    @Test func ceilDiffersFromFloor() throws {
        // 7, k2 s2: (7 − 2)/2 = 2.5 → CEIL 4, FLOOR 3. 8, k3 s2: 2.5 → 4 vs 3.
        // (7, k3 s2 divides evenly: (7 − 3)/2 = 2 → 3 either way.)
        let table: [(input: Int, k: Int, s: Int, ceil: Int, floor: Int)] = [
            (7, 2, 2, 4, 3), (8, 3, 2, 4, 3), (7, 3, 2, 3, 3), (32, 3, 2, 16, 15), (6, 2, 2, 3, 3), (5, 3, 3, 2, 1),
        ]
        for r in table {
            #expect(PoolingLayer.pooledSize(input: r.input, kernel: r.k, pad: 0, stride: r.s, roundMode: .CEIL, anyPad: false) == r.ceil)
            #expect(PoolingLayer.pooledSize(input: r.input, kernel: r.k, pad: 0, stride: r.s, roundMode: .FLOOR, anyPad: false) == r.floor)
        }
    }

    @Test func maxCeilVersusFloorOn7x7() throws {
        // v[h, w] = 7h + w, k2 s2: windows start at 0, 2, 4, 6; the CEIL-only last one is [6, 7).
        // Window max sits at row/col min(start + 1, 6) = 1, 3, 5, 6.
        let bottom = rampPlane(7, 7)
        let (layer, top) = try makePooling({ $0.kernelSize = 2; $0.stride = 2 }, bottom: bottom)
        layer.forward(bottom: [bottom], top: top)
        #expect(top[0].shape == [1, 1, 4, 4])
        #expect(top[0].dataArray == [8, 10, 12, 13, 22, 24, 26, 27, 36, 38, 40, 41, 43, 45, 47, 48])
        let (floorLayer, floorTop) = try makePooling({ $0.kernelSize = 2; $0.stride = 2; $0.roundMode = .FLOOR }, bottom: bottom)
        floorLayer.forward(bottom: [bottom], top: floorTop)
        #expect(floorTop[0].shape == [1, 1, 3, 3])
        #expect(floorTop[0].dataArray == [8, 10, 12, 22, 24, 26, 36, 38, 40])
    }

    @Test func cifarQuickAndSeedVGG19ShapeTables() throws {
        // CIFAR-10 quick: k3 s2 pools after pad-2 5×5 convs: 32 → 16 → 8 → 4 (FLOOR: 15 → 7 → 3).
        var ceil = 32
        var ceilSizes: [Int] = [], floorSizes: [Int] = []
        for _ in 0..<3 {
            ceil = PoolingLayer.pooledSize(input: ceil, kernel: 3, pad: 0, stride: 2, roundMode: .CEIL, anyPad: false)
            ceilSizes.append(ceil)
        }
        for input in [32, 16, 8] {
            floorSizes.append(PoolingLayer.pooledSize(input: input, kernel: 3, pad: 0, stride: 2, roundMode: .FLOOR, anyPad: false))
        }
        #expect(ceilSizes == [16, 8, 4])
        #expect(floorSizes == [15, 7, 3])
        // Seed VGG19: five k2 s2 MAX pools, 32 → 16 → 8 → 4 → 2 → 1, through the layer itself.
        var size = 32
        var sizes: [Int] = []
        for _ in 0..<5 {
            let (_, top) = try makePooling({ $0.kernelSize = 2; $0.stride = 2 }, bottom: Blob(shape: [2, 3, size, size]))
            size = top[0].shape[2]
            #expect(top[0].shape == [2, 3, size, size])
            sizes.append(size)
        }
        #expect(sizes == [16, 8, 4, 2, 1])
    }

    @Test func padClipRule() {
        // 5, k2 s2 pad1: ceil(5/2) + 1 = 4, but window 3 would start at 3·2 = 6 ≥ 5 + 1: clipped to 3.
        #expect(PoolingLayer.pooledSize(input: 5, kernel: 2, pad: 1, stride: 2, roundMode: .CEIL, anyPad: true) == 3)
        // Without any pad the rule does not apply (the same arithmetic with pad 0 keeps its size).
        #expect(PoolingLayer.pooledSize(input: 6, kernel: 2, pad: 0, stride: 2, roundMode: .CEIL, anyPad: false) == 3)
        // The rule applies to a dimension with pad 0 when the other dimension is padded.
        #expect(PoolingLayer.pooledSize(input: 5, kernel: 1, pad: 0, stride: 2, roundMode: .CEIL, anyPad: true) == 3)
        #expect(PoolingLayer.pooledSize(input: 4, kernel: 3, pad: 1, stride: 2, roundMode: .CEIL, anyPad: true) == 3)
    }

    // MARK: hand-computed outputs

    @Test func maxCeilVersusFloorOn8x8() throws {
        // v[h, w] = 8h + w; windows start at 0, 2, 4, 6 (CEIL keeps the partial one at 6..7).
        // Window max is v at (min(start + 2, 7), min(start + 2, 7)).
        let (layer, top) = try makePooling({ $0.kernelSize = 3; $0.stride = 2 }, bottom: rampPlane(8, 8), tops: 2)
        let expectedCeil: [Float] = [18, 20, 22, 23,
                                     34, 36, 38, 39,
                                     50, 52, 54, 55,
                                     58, 60, 62, 63]
        let bottom = rampPlane(8, 8)
        layer.forward(bottom: [bottom], top: top)
        #expect(top[0].shape == [1, 1, 4, 4])
        #expect(top[0].dataArray == expectedCeil)
        // The mask holds the flat index of the maximum, which on a ramp equals its value.
        #expect(top[1].dataArray == expectedCeil)
        let (floorLayer, floorTop) = try makePooling({ $0.kernelSize = 3; $0.stride = 2; $0.roundMode = .FLOOR }, bottom: bottom)
        floorLayer.forward(bottom: [bottom], top: floorTop)
        #expect(floorTop[0].dataArray == [18, 20, 22, 34, 36, 38, 50, 52, 54])
    }

    @Test func averageCeilOn8x8PartialWindow() throws {
        // 8×8 k3 s2 pad 0 CEIL → 4×4; window rows {0,1,2}, {2,3,4}, {4,5,6}, {6,7}: row means 1, 3, 5, 6.5 (pool_size = 3·2 for the last,
        // since hend = min(6 + 3, 8 + 0) = 8).
        let bottom = rampPlane(8, 8)
        let (layer, top) = try makePooling({ $0.pool = .AVE; $0.kernelSize = 3; $0.stride = 2 }, bottom: bottom)
        layer.forward(bottom: [bottom], top: top)
        let means: [Float] = [1, 3, 5, 6.5]
        let expected = means.flatMap { r in means.map { c in 8 * r + c } }
        #expect(zip(top[0].dataArray, expected).allSatisfy { abs($0 - $1) <= 1e-5 })
    }

    @Test func averageWithPadCountsPaddingInTheWindowSize() throws {
        // 4×4, k3 s2 pad1: windows [-1,2), [1,4), [3,5) → sizes 3, 3, 2; clipped [0,2), [1,4), [3,4).
        let bottom = rampPlane(4, 4)
        let (layer, top) = try makePooling({ $0.pool = .AVE; $0.kernelSize = 3; $0.stride = 2; $0.pad = 1 }, bottom: bottom)
        layer.forward(bottom: [bottom], top: top)
        #expect(top[0].shape == [1, 1, 3, 3])
        let y = top[0].dataArray
        #expect(abs(y[0] - 10.0 / 9) <= 1e-6)      // {0, 1, 4, 5} / 9
        #expect(abs(y[1] - 24.0 / 9) <= 1e-6)      // {1, 2, 3, 5, 6, 7} / 9
        #expect(abs(y[2] - 10.0 / 6) <= 1e-6)      // {3, 7} / (3·2)
        #expect(abs(y[8] - 15.0 / 4) <= 1e-6)      // {15} / (2·2)
        // MAX with the same geometry: plain window maxima.
        let (maxLayer, maxTop) = try makePooling({ $0.kernelSize = 3; $0.stride = 2; $0.pad = 1 }, bottom: bottom)
        maxLayer.forward(bottom: [bottom], top: maxTop)
        #expect(maxTop[0].dataArray == [5, 7, 7, 13, 15, 15, 13, 15, 15])
    }

    @Test func firstMaximumInRowMajorOrderWins() throws {
        let b = Blob(name: "ties", shape: [1, 1, 2, 3])
        b.setData([1, 4, 4,
                   4, 2, 4])
        let (layer, top) = try makePooling({ $0.kernelSize = 2; $0.stride = 1 }, bottom: b, tops: 2)
        layer.forward(bottom: [b], top: top)
        #expect(top[0].dataArray == [4, 4])
        #expect(top[1].dataArray == [1, 1])
        top[0].setDiff([1, 10])
        layer.backward(top: top, propagateDown: [true], bottom: [b])
        #expect(b.diffArray == [0, 11, 0, 0, 0, 0])
    }

    @Test func emptyWindowWhenStrideExceedsKernel() throws {
        // 5 wide, k1 s3 CEIL: ceil(4/3) + 1 = 3 windows starting at 0, 3, 6: the last holds nothing.
        let b = Blob(name: "x", shape: [1, 1, 1, 5])
        b.setData([1, 2, 3, 4, 5])
        let (layer, top) = try makePooling({ $0.kernelH = 1; $0.kernelW = 1; $0.strideH = 1; $0.strideW = 3 }, bottom: b, tops: 2)
        layer.forward(bottom: [b], top: top)
        #expect(top[0].dataArray == [1, 4, -Float.greatestFiniteMagnitude])
        #expect(top[1].dataArray == [0, 3, -1])
        top[0].setDiff([1, 2, 3])
        b.setDiff([9, 9, 9, 9, 9])
        layer.backward(top: top, propagateDown: [true], bottom: [b])
        #expect(b.diffArray == [1, 0, 0, 2, 0])
        // The same with the internal mask (one top).
        let (one, oneTop) = try makePooling({ $0.kernelH = 1; $0.kernelW = 1; $0.strideH = 1; $0.strideW = 3 }, bottom: b)
        one.forward(bottom: [b], top: oneTop)
        oneTop[0].setDiff([1, 2, 3])
        one.backward(top: oneTop, propagateDown: [true], bottom: [b])
        #expect(b.diffArray == [1, 0, 0, 2, 0])
    }

    @Test func globalPooling() throws {
        let b = distinctValues([2, 3, 3, 5])
        let (maxL, maxT) = try makePooling({ $0.globalPooling = true }, bottom: b)
        let (aveL, aveT) = try makePooling({ $0.globalPooling = true; $0.pool = .AVE }, bottom: b)
        maxL.forward(bottom: [b], top: maxT)
        aveL.forward(bottom: [b], top: aveT)
        #expect(maxT[0].shape == [2, 3, 1, 1])
        let x = b.dataArray
        for plane in 0..<6 {
            let values = x[(plane * 15)..<(plane * 15 + 15)]
            #expect(maxT[0].data[plane] == values.max()!)
            #expect(abs(aveT[0].data[plane] - values.reduce(0, +) / 15) <= 1e-5)
        }
    }

    // MARK: gradients

    struct GradCase: CustomStringConvertible, Sendable {
        var name: String
        var shape: [Int]
        var edit: @Sendable (inout PoolingParameter) -> Void
        var description: String { name }
    }

    static let gradCases: [GradCase] = {
        var cases: [GradCase] = []
        for method in [PoolingParameter.PoolMethod.MAX, .AVE] {
            let m = "\(method)"
            cases += [
                GradCase(name: "\(m)_ceil_partial", shape: [2, 2, 8, 7]) { $0.pool = method; $0.kernelSize = 3; $0.stride = 2 },
                GradCase(name: "\(m)_pad_clip", shape: [1, 2, 5, 5]) { $0.pool = method; $0.kernelSize = 2; $0.stride = 2; $0.pad = 1 },
                GradCase(name: "\(m)_floor", shape: [2, 2, 8, 7]) { $0.pool = method; $0.kernelSize = 3; $0.stride = 2; $0.roundMode = .FLOOR },
                GradCase(name: "\(m)_global", shape: [2, 3, 4, 3]) { $0.pool = method; $0.globalPooling = true },
                GradCase(name: "\(m)_stride_gt_kernel", shape: [1, 2, 7, 8]) { $0.pool = method; $0.kernelSize = 2; $0.stride = 3 },
                GradCase(name: "\(m)_rect_hw", shape: [1, 2, 7, 6]) {
                    $0.pool = method; $0.kernelH = 3; $0.kernelW = 2; $0.strideH = 2; $0.strideW = 1; $0.padH = 1; $0.padW = 0
                },
                GradCase(name: "\(m)_overlap_s1", shape: [1, 2, 5, 5]) { $0.pool = method; $0.kernelSize = 3; $0.stride = 1; $0.pad = 1 },
            ]
        }
        return cases
    }()

    @Test(arguments: gradCases)
    func gradientsMatchFiniteDifferences(_ gc: GradCase) throws {
        let bottom = distinctValues(gc.shape)
        let (layer, top) = try makePooling(gc.edit, bottom: bottom, name: gc.name)
        let checked = GradientChecker().check(layer, bottom: [bottom], top: top)
        #expect(checked == bottom.count)
    }

    @Test func bottomDiffIsOverwritten() throws {
        let b = distinctValues([1, 2, 6, 6])
        for method in [PoolingParameter.PoolMethod.MAX, .AVE] {
            let (layer, top) = try makePooling({ $0.pool = method; $0.kernelSize = 3; $0.stride = 2 }, bottom: b)
            layer.forward(bottom: [b], top: top)
            top[0].setDiff((0..<top[0].count).map { Float($0) })
            layer.backward(top: top, propagateDown: [true], bottom: [b])
            let first = b.diffArray
            b.setDiff([Float](repeating: 100, count: b.count))
            layer.backward(top: top, propagateDown: [true], bottom: [b])
            #expect(b.diffArray == first)
            // Gradient mass is conserved for MAX (each output routes to one input).
            if method == .MAX { #expect(first.reduce(0, +) == top[0].diffArray.reduce(0, +)) }
        }
    }

    // MARK: errors

    func expectError(_ edit: (inout PoolingParameter) -> Void, bottom: [Int] = [1, 1, 6, 6], tops: Int = 1,
                     _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try makePooling(edit, bottom: Blob(name: "x", shape: bottom), tops: tops, name: "bad_pool")
            Issue.record("no error", sourceLocation: sourceLocation)
        } catch let e as InputError {
            #expect(e.message.contains("'bad_pool'") && e.message.contains(fragment), "\(e.message)",
                    sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func badParametersThrowNamingTheLayer() {
        expectError({ $0.pool = .STOCHASTIC; $0.kernelSize = 2 }, "STOCHASTIC")
        expectError({ $0.kernelSize = 2; $0.pad = 2 }, "smaller than the kernel")
        expectError({ $0.globalPooling = true; $0.kernelSize = 2 }, "global_pooling")
        expectError({ $0.globalPooling = true; $0.stride = 2 }, "global_pooling")
        expectError({ $0.kernelSize = 2; $0.kernelH = 2; $0.kernelW = 2 }, "not both")
        expectError({ $0.kernelH = 2 }, "kernel_h and kernel_w")
        expectError({ _ in }, "kernel_h and kernel_w")
        expectError({ $0.kernelSize = 2; $0.padH = 1 }, "pad_h and pad_w")
        expectError({ $0.kernelSize = 2; $0.stride = 2; $0.strideH = 1; $0.strideW = 1 }, "stride_h and stride_w")
        expectError({ $0.kernelSize = 0 }, "zero")
        expectError({ $0.kernelSize = 2; $0.stride = 0 }, "stride")
        expectError({ $0.pool = .AVE; $0.kernelSize = 2 }, tops: 2, "mask")
        expectError({ $0.kernelSize = 2 }, bottom: [1, 6, 6], "4 axes")
        expectError({ $0.kernelSize = 4; $0.stride = 1 }, bottom: [1, 1, 2, 2], "empty output")
    }
}
