import Foundation
import Testing

/// Runs the built `initdiag` executable as a subprocess, the way a user or a script does.
/// The binary is `<package root>/.build/debug/initdiag`; `swift build` must have run first.
enum CLIHarness {
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath)
    }()

    static var binaryPath: String { packageRoot.appendingPathComponent(".build/debug/initdiag").path }

    /// The binary, or a test failure that says how to get it.
    static func binary(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let path = binaryPath
        guard FileManager.default.isExecutableFile(atPath: path) else {
            Issue.record("\(path) is missing: run `swift build` (debug) in \(packageRoot.path) before these tests", sourceLocation: sourceLocation)
            throw CLIHarnessError.missingBinary
        }
        return path
    }

    static func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("initdiag-cli-\(label)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    struct Outcome {
        var status: Int32
        /// True when the process ended by a signal (a crash or a kill), not by exit().
        var signaled: Bool
        var stdout: String
        var stderr: String
        var seconds: Double
        /// stderr without `initdiag: note:` lines.
        var errorLines: [String] {
            stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
                .filter { !$0.hasPrefix("initdiag: note:") }
        }
    }

    /// A started subprocess whose stdout and stderr go to files (no pipe can fill up and block it).
    final class Running: @unchecked Sendable {
        let process = Process()
        let stdoutURL: URL, stderrURL: URL
        let started = Date()

        init(_ args: [String], in directory: URL) throws {
            let id = UUID().uuidString.prefix(8)
            stdoutURL = directory.appendingPathComponent(".stdout-\(id)")
            stderrURL = directory.appendingPathComponent(".stderr-\(id)")
            _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
            _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
            process.executableURL = URL(fileURLWithPath: try CLIHarness.binary())
            process.arguments = args
            process.currentDirectoryURL = directory
            process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
            process.standardError = try FileHandle(forWritingTo: stderrURL)
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
        var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

        /// Polls stdout until `predicate` holds; false on timeout or when the process ended first.
        func waitForOutput(timeout: Double, _ predicate: (String) -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if predicate(stdout) { return true }
                if !process.isRunning { return predicate(stdout) }
                usleep(20_000)
            }
            return false
        }

        func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

        /// Waits for the end (killing it after `timeout` seconds) and collects the outcome.
        func finish(timeout: Double) -> Outcome {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                Issue.record("initdiag \(process.arguments ?? []) did not end within \(timeout) s")
            }
            process.waitUntilExit()
            return Outcome(status: process.terminationStatus,
                           signaled: process.terminationReason == .uncaughtSignal,
                           stdout: stdout, stderr: stderr, seconds: Date().timeIntervalSince(started))
        }
    }

    static func run(_ args: [String], in directory: URL, timeout: Double = 60) throws -> Outcome {
        try Running(args, in: directory).finish(timeout: timeout)
    }

    /// A tiny trainable net (Input 2×3×32×32 → conv → ReLU → IP 10 → softmax loss) and a solver
    /// displaying every 10 iterations, written into `directory`.
    static func writeTinyNet(in directory: URL, layerName conv: String = "conv1") throws -> (net: String, solver: String) {
        let net = """
        name: "tiny"
        layer { name: "data" type: "Input" top: "data" top: "label"
          input_param { shape { dim: 2 dim: 3 dim: 32 dim: 32 } shape { dim: 2 } } }
        layer { name: "\(conv)" type: "Convolution" bottom: "data" top: "conv1"
          convolution_param { num_output: 4 kernel_size: 3 stride: 2 weight_filler { type: "xavier" } } }
        layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
        layer { name: "ip1" type: "InnerProduct" bottom: "conv1" top: "ip1"
          inner_product_param { num_output: 10 weight_filler { type: "xavier" } } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip1" bottom: "label" top: "loss" }

        """
        let solver = """
        net: "net.prototxt"
        base_lr: 0.01
        lr_policy: "fixed"
        max_iter: 100000
        momentum: 0.9
        display: 10
        snapshot_prefix: "tiny"

        """
        let netPath = directory.appendingPathComponent("net.prototxt").path
        let solverPath = directory.appendingPathComponent("solver.prototxt").path
        try net.write(toFile: netPath, atomically: true, encoding: .utf8)
        try solver.write(toFile: solverPath, atomically: true, encoding: .utf8)
        return (netPath, solverPath)
    }

    /// Every regular file under `directory`, as paths relative to it.
    static func files(under directory: URL) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: directory.path) else { return [] }
        var out: [String] = []
        while let rel = e.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent(rel).path, isDirectory: &isDir), !isDir.boolValue {
                out.append(rel)
            }
        }
        return out.sorted()
    }

    /// `h5dump -H FILE` succeeds (the file opens with the HDF5 tools, not only with our reader).
    static func h5dumpOpens(_ path: String) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["h5dump", "-H", path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return false }
        p.waitUntilExit()
        return p.terminationReason == .exit && p.terminationStatus == 0
    }
}

enum CLIHarnessError: Error { case missingBinary }
