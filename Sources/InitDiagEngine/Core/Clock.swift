import InitDiagCore
import InitDiagTrace
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Seconds on the monotonic clock (for timing; not wall time).
@inline(__always)
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// The process's peak resident set size in bytes (getrusage; ru_maxrss is in KiB on Linux).
public func peakResidentBytes() -> Int {
    var u = rusage()
    #if os(Linux)
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Int(u.ru_maxrss) * 1024
    #else
    getrusage(RUSAGE_SELF, &u)
    return Int(u.ru_maxrss)
    #endif
}

/// The process's resource counters that a benchmark compares before and after a run: minor and
/// major page faults, user and system CPU seconds, voluntary and involuntary context switches.
public struct ResourceUsage: Sendable {
    public var minorFaults: Int
    public var majorFaults: Int
    public var userSeconds: Double
    public var systemSeconds: Double
    public var voluntarySwitches: Int
    public var involuntarySwitches: Int

    /// getrusage(RUSAGE_SELF) now.
    public static func now() -> ResourceUsage {
        var u = rusage()
        #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
        #else
        getrusage(RUSAGE_SELF, &u)
        #endif
        func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
        return ResourceUsage(minorFaults: Int(u.ru_minflt), majorFaults: Int(u.ru_majflt),
                             userSeconds: s(u.ru_utime), systemSeconds: s(u.ru_stime),
                             voluntarySwitches: Int(u.ru_nvcsw), involuntarySwitches: Int(u.ru_nivcsw))
    }

    public static func - (a: ResourceUsage, b: ResourceUsage) -> ResourceUsage {
        ResourceUsage(minorFaults: a.minorFaults - b.minorFaults, majorFaults: a.majorFaults - b.majorFaults,
                      userSeconds: a.userSeconds - b.userSeconds, systemSeconds: a.systemSeconds - b.systemSeconds,
                      voluntarySwitches: a.voluntarySwitches - b.voluntarySwitches,
                      involuntarySwitches: a.involuntarySwitches - b.involuntarySwitches)
    }
}
