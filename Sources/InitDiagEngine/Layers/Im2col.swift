import InitDiagCore
import InitDiagTrace
import Foundation

/// The 2-D geometry of one convolution: input plane, kernel, padding, stride, dilation and the
/// output plane they give.
public struct ConvGeometry: Sendable, Equatable {
    public var channels: Int
    public var height: Int, width: Int
    public var kernelH: Int, kernelW: Int
    public var padH: Int, padW: Int
    public var strideH: Int, strideW: Int
    public var dilationH: Int, dilationW: Int

    public init(channels: Int, height: Int, width: Int, kernelH: Int, kernelW: Int,
                padH: Int = 0, padW: Int = 0, strideH: Int = 1, strideW: Int = 1,
                dilationH: Int = 1, dilationW: Int = 1) {
        self.channels = channels; self.height = height; self.width = width
        self.kernelH = kernelH; self.kernelW = kernelW; self.padH = padH; self.padW = padW
        self.strideH = strideH; self.strideW = strideW
        self.dilationH = dilationH; self.dilationW = dilationW
    }

    /// Caffe base_conv_layer.cpp compute_output_shape / conv_layer.cpp:
    /// out = (in + 2·pad − (dilation·(k − 1) + 1)) / stride + 1 (C++ integer division; callers
    /// make sure the numerator is not negative, so this is the floor rule).
    public static func outputSize(input: Int, kernel: Int, pad: Int, stride: Int, dilation: Int) -> Int {
        let extent = dilation * (kernel - 1) + 1
        return (input + 2 * pad - extent) / stride + 1
    }

    public var outH: Int { Self.outputSize(input: height, kernel: kernelH, pad: padH, stride: strideH, dilation: dilationH) }
    public var outW: Int { Self.outputSize(input: width, kernel: kernelW, pad: padW, stride: strideW, dilation: dilationW) }
    /// Rows of the column matrix: (c, ki, kj), Caffe's im2col order.
    public var colRows: Int { channels * kernelH * kernelW }
    public var inSpatial: Int { height * width }
    public var outSpatial: Int { outH * outW }

    /// Output columns ow whose input column ow·s − pad + kj·d lies inside [0, width): [lo, hi).
    @inline(__always)
    func validColumns(kj: Int, outW: Int) -> (Int, Int) {
        let offset = kj * dilationW - padW            // iw = ow·s + offset
        let lo = offset >= 0 ? 0 : (-offset + strideW - 1) / strideW
        let last = width - 1 - offset                 // need ow·s ≤ last
        let hi = last < 0 ? 0 : min(outW, last / strideW + 1)
        return (min(lo, hi), hi)
    }
}

/// im2col over a block of images (Caffe src/caffe/util/im2col.cpp, extended to several images).
///
/// `input` points at image `first` of an NCHW batch; `count` images are lowered into `col`, a
/// row-major (C·kh·kw) × (count·OH·OW) matrix: row (c, ki, kj), column img·OH·OW + oh·OW + ow holds
/// input[img, c, oh·s − pad + ki·d, ow·s − pad + kj·d], or 0 where that falls into the padding.
/// Folding the batch into the column index makes one large GEMM per block instead of one small
/// GEMM per image. Work is split over (image, channel) pairs, whose outputs are disjoint.
public func im2colBlock(_ g: ConvGeometry, input: UnsafePointer<Float>, count: Int,
                        col: UnsafeMutablePointer<Float>) {
    let oh = g.outH, ow = g.outW, outSpatial = oh * ow
    let ldc = count * outSpatial
    let kernelArea = g.kernelH * g.kernelW
    let inSpatial = g.inSpatial
    let pairs = count * g.channels
    // Pairs run channel-major (c, img): consecutive pairs write consecutive segments of the same
    // kh·kw rows, so the column matrix (tens of MiB) is written as a few sequential streams instead
    // of one 64-byte piece per 4 KiB page (which thrashes the TLB on small maps). Threads get
    // disjoint channel ranges, hence disjoint rows.
    // Split only when each thread gets at least ~32k floats to write.
    parallelChunks(pairs, minChunk: max(1, 32_768 / max(1, kernelArea * outSpatial))) { range in
        for pair in range {
            let c = pair / count, img = pair % count
            let plane = input + (img * g.channels + c) * inSpatial
            for ki in 0..<g.kernelH {
                for kj in 0..<g.kernelW {
                    let row = (c * g.kernelH + ki) * g.kernelW + kj
                    let dst = col + row * ldc + img * outSpatial
                    let (lo, hi) = g.validColumns(kj: kj, outW: ow)
                    let colOffset = kj * g.dilationW - g.padW
                    for y in 0..<oh {
                        // Rows are short (a few to a few dozen floats): plain loops, no memcpy calls.
                        let d = dst + y * ow
                        let ih = y * g.strideH - g.padH + ki * g.dilationH
                        var x = 0
                        if ih < 0 || ih >= g.height {
                            while x < ow { d[x] = 0; x += 1 }
                            continue
                        }
                        let src = plane + ih * g.width + colOffset
                        while x < lo { d[x] = 0; x += 1 }
                        if g.strideW == 1 {
                            while x < hi { d[x] = src[x]; x += 1 }
                        } else {
                            while x < hi { d[x] = src[x * g.strideW]; x += 1 }
                        }
                        while x < ow { d[x] = 0; x += 1 }
                    }
                }
            }
        }
    }
}

/// col2im over a block of images: the adjoint of `im2colBlock`. Each input element of images
/// [0, count) is **overwritten** with the sum of the column entries that read it, accumulated in
/// Caffe's order (c, ki, kj, oh, ow) (Caffe src/caffe/util/im2col.cpp col2im_cpu: zero, then +=).
public func col2imBlock(_ g: ConvGeometry, col: UnsafePointer<Float>, count: Int,
                        output: UnsafeMutablePointer<Float>) {
    let oh = g.outH, ow = g.outW, outSpatial = oh * ow
    let ldc = count * outSpatial
    let kernelArea = g.kernelH * g.kernelW
    let inSpatial = g.inSpatial
    let pairs = count * g.channels
    // Split only when each thread gets at least ~32k floats to write.
    parallelChunks(pairs, minChunk: max(1, 32_768 / max(1, kernelArea * outSpatial))) { range in
        for pair in range {
            // Channel-major pair order, as in im2colBlock: the column matrix is read sequentially.
            let c = pair / count, img = pair % count
            let plane = output + (img * g.channels + c) * inSpatial
            plane.update(repeating: 0, count: inSpatial)
            for ki in 0..<g.kernelH {
                for kj in 0..<g.kernelW {
                    let row = (c * g.kernelH + ki) * g.kernelW + kj
                    let srcRow = col + row * ldc + img * outSpatial
                    let (lo, hi) = g.validColumns(kj: kj, outW: ow)
                    if hi <= lo { continue }
                    let colOffset = kj * g.dilationW - g.padW
                    for y in 0..<oh {
                        let ih = y * g.strideH - g.padH + ki * g.dilationH
                        if ih < 0 || ih >= g.height { continue }
                        let s = srcRow + y * ow
                        let d = plane + ih * g.width + colOffset
                        var x = lo
                        if g.strideW == 1 {
                            while x < hi { d[x] += s[x]; x += 1 }
                        } else {
                            while x < hi { d[x * g.strideW] += s[x]; x += 1 }
                        }
                    }
                }
            }
        }
    }
}

/// Reorders a block of NCHW images into channel-major (C × count·S) layout — the column matrix of a
/// 1×1 stride-1 unpadded convolution, or the GEMM layout of a top diff — and back.
/// `toChannelMajor`: dst[c, img·S + p] = src[img, c, p]; otherwise the reverse.
public func reorderBlock(channels: Int, spatial: Int, count: Int, toChannelMajor: Bool,
                         src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>) {
    let ld = count * spatial
    parallelChunks(channels * count, minChunk: max(1, 32_768 / max(1, spatial))) { range in
        for pair in range {
            let c = pair / count, img = pair % count
            let nchw = (img * channels + c) * spatial
            let cm = c * ld + img * spatial
            if toChannelMajor {
                (dst + cm).update(from: src + nchw, count: spatial)
            } else {
                (dst + nchw).update(from: src + cm, count: spatial)
            }
        }
    }
}

/// Raw 64-byte aligned float storage for convolution scratch.
final class ConvScratch: @unchecked Sendable {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    init(_ n: Int) {
        capacity = max(n, 1)
        pointer = Blob.allocate(capacity)
    }

    func grow(_ n: Int) {
        guard n > capacity else { return }
        free(pointer)
        capacity = n
        pointer = Blob.allocate(capacity)
    }

    deinit { free(pointer) }
}

/// Scratch memory for the GEMM lowering of convolution (column matrix and GEMM output), shared by
/// all convolution layers of the process. Layers inside a net run one at a time, so one buffer of
/// the largest size any layer needs suffices (the sum over the 16 convolutions of VGG19 at batch
/// 128 would be ~300 MiB). A layer declares its size at setUp/reshape (`reserve`), checks a buffer
/// out for one forward or backward and returns it. A concurrent user (another net on another
/// thread) finds no idle buffer and gets one of its own, so sharing never races. In steady state
/// nothing is allocated during forward/backward.
public final class ConvScratchPool: @unchecked Sendable {
    public static let shared = ConvScratchPool()
    private let lock = NSLock()
    private var idle: [ConvScratch] = []
    private var required = 0

    /// Makes sure an idle buffer of at least `floats` floats exists.
    func reserve(floats: Int) {
        lock.lock(); defer { lock.unlock() }
        required = max(required, floats)
        if idle.isEmpty { idle.append(ConvScratch(required)) }
        for b in idle { b.grow(required) }
    }

    func acquire(floats: Int) -> ConvScratch {
        lock.lock(); defer { lock.unlock() }
        required = max(required, floats)
        let b = idle.popLast() ?? ConvScratch(required)
        b.grow(required)
        return b
    }

    func release(_ b: ConvScratch) {
        lock.lock(); defer { lock.unlock() }
        idle.append(b)
    }

    /// Floats held by idle buffers (for tests and memory reports).
    public var idleFloats: Int {
        lock.lock(); defer { lock.unlock() }
        return idle.reduce(0) { $0 + $1.capacity }
    }
}
