import InitDiagCore
/// How a layer (or blob) name becomes an HDF5 link name in a trace (docs/trace-format.md).
///
/// HDF5 cannot hold, as one link name, a name that contains `/` (the path separator), is `.`
/// alone (the current group), is empty, or (for tools printing it) contains control characters.
/// Such names are percent-escaped:
/// * `%` → `%25`, `/` → `%2F`, every byte 0x00–0x1F and 0x7F → `%XX` (two upper-case hex digits);
/// * the name `.` → `%2E`; the empty name → `%` (unambiguous: every other `%` is followed by two
///   hex digits).
/// Names without `%`, `/` and control characters (all real Caffe names but a few) are kept exactly
/// as written. `%` itself is always escaped so that the mapping stays one-to-one: otherwise a layer
/// literally named `a%2Fb` and a layer named `a/b` would collide. The original name is also stored
/// in the group's attribute `name`, which readers should prefer.
public enum TraceNames {
    /// Whether `name` can be used as an HDF5 link name unchanged.
    public static func isPlain(_ name: String) -> Bool {
        if name.isEmpty || name == "." { return false }
        for b in name.utf8 where b == UInt8(ascii: "/") || b == UInt8(ascii: "%") || b < 0x20 || b == 0x7F {
            return false
        }
        return true
    }

    /// The link name used for `name`.
    public static func escape(_ name: String) -> String {
        if isPlain(name) { return name }
        if name.isEmpty { return "%" }
        if name == "." { return "%2E" }
        var out: [UInt8] = []
        out.reserveCapacity(name.utf8.count + 8)
        let hex = Array("0123456789ABCDEF".utf8)
        for b in name.utf8 {
            if b == UInt8(ascii: "/") || b == UInt8(ascii: "%") || b < 0x20 || b == 0x7F {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Inverse of `escape` (for traces whose groups lack the `name` attribute). Malformed escapes
    /// are kept literally.
    public static func unescape(_ link: String) -> String {
        if link == "%" { return "" }
        let bytes = Array(link.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        func hexValue(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count,
               let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The statistic names of a trace's series (docs/trace-format.md), in the order a step vector holds them:
/// the probes compute them (`BlobStats`), the writer lays the series out by them.
public enum TraceStatisticNames {
    /// Every recorded blob: `backward/<name>`, `param<i>/data/<name>`, `param<i>/grad/<name>`.
    public static let blob = ["mean", "std", "mean_abs", "l2", "min", "max", "zero_fraction", "nonfinite_count"]
    /// A layer's first top after its forward: `forward/<name>`.
    public static let forward = blob + ["between_sample_std", "dead_fraction", "input_dependence"]
    /// The top of a bounded nonlinearity (sigmoid, tanh): `forward/saturated_fraction`, after the
    /// `forward` series.
    public static let saturatedFraction = "saturated_fraction"
    /// Quantiles from the histogram (`TraceHistogramBins.quantileProbabilities`): `forward/<name>`
    /// and `backward/<name>` where the layer records histograms, after the other series of each.
    public static let quantiles = ["q01", "q05", "q50", "q95", "q99"]
    /// The 2-D dataset (steps × `TraceHistogramBins.slotCount`) `forward/histogram`, `backward/histogram`.
    public static let histogram = "histogram"
}
