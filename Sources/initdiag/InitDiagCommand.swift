import ArgumentParser
import Foundation
import InitDiag

@main
struct InitDiagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "initdiag",
        abstract: "Find out why a deep net will not train.",
        discussion: """
        initdiag runs a Caffe net with Caffe's exact semantics on the CPU, records what every layer \
        does to the signal and to the gradient, sweeps the initialisation schemes that could explain \
        a stuck loss, and writes a report that names the cause.

        Start with `initdiag inspect --net NET.prototxt` (fillers and the variance they give), then \
        `initdiag probe --solver SOLVER.prototxt` (what the initialisation predicts) and \
        `initdiag sweep --solver SOLVER.prototxt` (the full diagnosis).

        Exit codes: 0 success, 2 bad input or usage (one line naming the file and line, or the \
        layer), 1 internal failure, 130 interrupted by SIGINT/SIGTERM (train and sweep keep what \
        they finished). Documentation: docs/cli.md, docs/trace-format.md, docs/verdicts.md, \
        docs/schemes.md, docs/summary-json.md.
        """,
        version: initdiagVersion,
        subcommands: [Inspect.self, ProbeCommand.self, Train.self, SweepCommand.self, CompareCommand.self, Report.self, Diagnose.self, Convert.self, BenchCommand.self])

    /// Exit codes (docs/cli.md): 0 success, 2 bad input or usage, 1 internal failure. Bad input prints
    /// one line, never a stack trace.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as InputError {
            FileHandle.standardError.write(Data("initdiag: error: \(error.message)\n".utf8))
            Foundation.exit(2)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)   // --help, --version
            }
            let message = fullMessage(for: error)
            if code == ExitCode(1) && !(error is ExitCode) {
                FileHandle.standardError.write(Data("initdiag: internal error: \(message)\n".utf8))
                Foundation.exit(1)
            }
            if code == .validationFailure {
                // One line (docs/cli.md). ArgumentParser writes "Error: …", then Help/Usage/See lines.
                FileHandle.standardError.write(Data("initdiag: error: \(oneLineUsageError(message))\n".utf8))
                Foundation.exit(2)
            }
            if !message.isEmpty { FileHandle.standardError.write(Data("\(message)\n".utf8)) }
            // ArgumentParser reports usage errors as 64 (EX_USAGE); the contract says 2.
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

/// ArgumentParser's usage error ("Error: Unknown option '--x'", "Usage: …", "  See 'initdiag train
/// --help' for more information.") as one line: the error, then where the help is.
func oneLineUsageError(_ message: String) -> String {
    let lines = message.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    var first = lines.first ?? "invalid usage"
    if first.hasPrefix("Error: ") { first.removeFirst("Error: ".count) }
    if let see = lines.first(where: { $0.hasPrefix("See '") }), let close = see.dropFirst(5).firstIndex(of: "'") {
        return "\(first) (see '\(see[see.index(see.startIndex, offsetBy: 5)..<close])')"
    }
    return first
}
