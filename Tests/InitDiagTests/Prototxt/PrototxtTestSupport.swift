#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@testable import InitDiag
@testable import InitDiagCore
@testable import InitDiagTrace
@testable import InitDiagEngine
@testable import InitDiagDiagnosis
@testable import InitDiagBench

/// Fixture paths and small helpers shared by the prototxt suites.
enum PrototxtFixtures {
    /// The package root, found by walking up from this file to Package.swift.
    static let root: String = {
        var dir = String(#filePath)
        while let slash = dir.lastIndex(of: "/") {
            dir = String(dir[..<slash])
            if access(dir + "/Package.swift", F_OK) == 0 { return dir }
        }
        return "."
    }()

    static func path(_ relative: String) -> String { root + "/Fixtures/" + relative }

    static func bytes(_ relative: String) throws -> [UInt8] {
        try Prototxt.readFile(path(relative), what: "fixture")
    }

    /// File names in a fixture folder, sorted.
    static func list(_ relative: String) -> [String] {
        guard let d = opendir(path(relative)) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// The message of the InputError `body` throws, or nil if it throws nothing.
    static func inputErrorMessage(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let e as InputError {
            return e.message
        } catch {
            return "not an InputError: \(error)"
        }
    }

    /// A net with layer lines and the source path cleared, for comparing re-parsed values.
    static func normalized(_ net: NetParameter) -> NetParameter {
        var n = net
        n.sourcePath = ""
        for i in n.layer.indices { n.layer[i].line = 0 }
        return n
    }

    static func normalized(_ solver: SolverParameter) -> SolverParameter {
        var s = solver
        s.sourcePath = ""
        if let n = s.netParam { s.netParam = normalized(n) }
        if let n = s.trainNetParam { s.trainNetParam = normalized(n) }
        s.testNetParam = s.testNetParam.map(normalized)
        return s
    }
}
