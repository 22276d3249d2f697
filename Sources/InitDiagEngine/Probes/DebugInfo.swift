import InitDiagCore
import InitDiagTrace
import Foundation

/// Caffe's `debug_info` log lines (net.cpp ForwardDebugInfo / BackwardDebugInfo and the
/// all-params line at the end of Net::Backward), with the same wording and statistic — the mean
/// absolute value asum/count — so a user can diff initdiag's log against a real Caffe log line by
/// line (after stripping glog's "I1127 …] " prefix). Numbers are printed as C++ streams print a
/// float by default: six significant digits, `%g` style.
public enum DebugInfo {
    public static func format(_ v: Double) -> String { String(format: "%g", v) }

    static func meanAbs(_ p: UnsafeMutablePointer<Float>, _ n: Int) -> Double {
        guard n > 0 else { return 0 }
        var s = 0.0
        for i in 0..<n { s += Double(abs(p[i])) }
        return s / Double(n)
    }

    /// The name Caffe shows for a parameter blob: its ParamSpec name if given, else its index.
    static func paramName(_ lp: LayerParameter, _ i: Int) -> String {
        if i < lp.param.count, let n = lp.param[i].name, !n.isEmpty { return n }
        return String(i)
    }

    public static func forwardLines(net: Net, layer li: Int) -> [String] {
        let lp = net.layerParams[li]
        var lines: [String] = []
        for (j, id) in net.topIDs[li].enumerated() {
            let b = net.topVecs[li][j]
            lines.append("    [Forward] Layer \(lp.name), top blob \(net.blobs[id].name) data: \(format(meanAbs(b.data, b.count)))")
        }
        for (i, b) in net.layers[li].blobs.enumerated() {
            lines.append("    [Forward] Layer \(lp.name), param blob \(paramName(lp, i)) data: \(format(meanAbs(b.data, b.count)))")
        }
        return lines
    }

    public static func backwardLines(net: Net, layer li: Int) -> [String] {
        let lp = net.layerParams[li]
        var lines: [String] = []
        for (j, id) in net.bottomIDs[li].enumerated() where net.bottomNeedsBackward[li][j] {
            let b = net.bottomVecs[li][j]
            lines.append("    [Backward] Layer \(lp.name), bottom blob \(net.blobs[id].name) diff: \(format(meanAbs(b.diff, b.count)))")
        }
        for (i, b) in net.layers[li].blobs.enumerated() where net.paramPropagatesDown(layer: li, blob: i) {
            lines.append("    [Backward] Layer \(lp.name), param blob \(i) diff: \(format(meanAbs(b.diff, b.count)))")
        }
        return lines
    }

    /// "    [Backward] All net params (data, diff): L1 norm = (a, b); L2 norm = (c, d)" over the
    /// learnable (owner) parameters.
    public static func allParamsLine(net: Net) -> String {
        var asumData = 0.0, asumDiff = 0.0, sqData = 0.0, sqDiff = 0.0
        for p in net.params {
            let b = p.blob
            for i in 0..<b.count {
                let d = Double(b.data[i]), g = Double(b.diff[i])
                asumData += abs(d); asumDiff += abs(g); sqData += d * d; sqDiff += g * g
            }
        }
        return "    [Backward] All net params (data, diff): L1 norm = (\(format(asumData)), \(format(asumDiff))); L2 norm = (\(format(sqData.squareRoot())), \(format(sqDiff.squareRoot())))"
    }
}

/// Takes Caffe's debug_info lines while the net runs, right after each layer's forward and
/// backward as Caffe's Net::ForwardFromTo / BackwardFromTo do — so a convolution's line shows its
/// output before the in-place ReLU after it overwrites the blob, and a pooling layer's bottom diff
/// before that ReLU masks it. Passes every call on to `next` (the probe).
public final class DebugInfoObserver: NetObserver {
    public let next: NetObserver?
    /// Whether this pass is printed (Caffe: debug_info on display iterations only).
    public var isActive = false
    /// Lines taken since the last `drain()`.
    public private(set) var lines: [String] = []

    public init(next: NetObserver?) { self.next = next }

    public func netDidForward(layer index: Int, net: Net) {
        if isActive { lines += DebugInfo.forwardLines(net: net, layer: index) }
        next?.netDidForward(layer: index, net: net)
    }

    public func netDidBackward(layer index: Int, net: Net) {
        if isActive { lines += DebugInfo.backwardLines(net: net, layer: index) }
        next?.netDidBackward(layer: index, net: net)
    }

    /// The lines taken so far; clears them.
    public func drain() -> [String] {
        defer { lines.removeAll(keepingCapacity: true) }
        return lines
    }
}
