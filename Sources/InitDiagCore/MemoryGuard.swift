import Foundation

/// The memory check a net passes before its blobs are allocated: every blob's data and diff
/// (4 bytes each per value) plus the probes' per-element accumulators (16 bytes per value of the
/// largest recorded blob), against what the machine has available (Linux: MemAvailable in
/// /proc/meminfo). A net that will not fit is refused with the estimate, instead of being killed.
public struct MemoryGuard: Sendable {
    public var availableBytes: Int

    public init(availableBytes: Int? = nil) {
        self.availableBytes = availableBytes ?? MemoryGuard.machineAvailableBytes()
    }

    /// MemAvailable from /proc/meminfo, or physical memory where that file does not exist.
    public static func machineAvailableBytes() -> Int {
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
                let parts = line.split(separator: " ")
                if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
            }
        }
        return Int(clamping: ProcessInfo.processInfo.physicalMemory)
    }

    /// Bytes a set of blob shapes needs (data + diff), saturating instead of overflowing.
    public static func bytes(forCounts counts: [Int]) -> Int {
        var total = 0
        for c in counts {
            let (b, o1) = c.multipliedReportingOverflow(by: 2 * MemoryLayout<Float>.stride)
            let (t, o2) = total.addingReportingOverflow(b)
            if o1 || o2 { return Int.max }
            total = t
        }
        return total
    }

    public func check(estimatedBytes: Int, what: String) throws {
        if estimatedBytes > availableBytes {
            throw InputError("\(what) needs about \(MemoryGuard.format(estimatedBytes)) but only \(MemoryGuard.format(availableBytes)) is available; reduce the batch size or the layer sizes")
        }
    }

    public static func format(_ bytes: Int) -> String {
        if bytes == Int.max { return "more than 9 EB" }
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var v = Double(bytes), u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        return u == 0 ? "\(bytes) B" : String(format: "%.1f %@", v, units[u])
    }
}
