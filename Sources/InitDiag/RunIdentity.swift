import InitDiagCore
import InitDiagTrace
import InitDiagEngine
import InitDiagDiagnosis
import Foundation

/// What defines an experiment: two runs with equal identities are the same experiment, so one
/// may resume or stand in for the other; runs whose identities differ must never be mixed (a
/// sweep folder holding another sweep's traces, a resume onto another net's trace).
///
/// Entries, in order (key — how the user sets it):
/// - `net` — the net in effect (scheme's `bn=on` and `--batch-size` applied), a 64-bit FNV-1a
///   hash of its canonical text (`Prototxt.format`: comments and layout do not count) with the
///   batch sizes set to 0 (they are the `batch_size` entry);
/// - `solver` — the solver in effect (the scheme's lr factor applied), hashed the same way with
///   `max_iter`, `display`, `snapshot` and `snapshot_prefix` cleared (they say how long and how
///   verbosely to run, not what is run; the iteration ceiling is its own entry);
/// - `data` (`--data`), `batch_size` (`--batch-size`), `scheme` (`--scheme`), `seed` (`--seed`);
/// - `iterations` (`--iterations`: the ceiling), `test_iter`, `test_interval`, `record_every`;
/// - `threads` (`--threads`): the thread count decides bit-identity of a run's floats;
/// - `momentum_style` (`--momentum-style`, PyTorch's by default for an ONNX net without a solver
///   file): only when it is not Caffe's.
///
/// Stored in every trace as the root attribute `run_identity` (a JSON object of these strings).
/// Which entries a comparison checks depends on what is compared (`Sweep` and `train --resume`
/// each document theirs).
public struct RunIdentity: Sendable, Equatable {
    public var entries: [(key: String, value: String)]

    public static func == (a: RunIdentity, b: RunIdentity) -> Bool {
        a.entries.map(\.key) == b.entries.map(\.key) && a.entries.map(\.value) == b.entries.map(\.value)
    }

    public init(entries: [(key: String, value: String)]) { self.entries = entries }

    public subscript(key: String) -> String? { entries.first { $0.key == key }?.value }

    /// The identity of a run of `setup` driven by `options` (the test_iter/test_interval in
    /// effect: the options' overrides, else the solver's).
    public init(setup: RunSetup, options: TrainingOptions) {
        var solver = setup.solver
        solver.maxIter = 0; solver.display = 0; solver.snapshot = 0; solver.snapshotPrefix = nil
        entries = [
            // Batch sizes are their own entry: hashed out of the net so a changed --batch-size is
            // named as such.
            ("net", RunIdentity.hash(Prototxt.format(setup.net.withBatchSize(0)))),
            ("solver", RunIdentity.hash(Prototxt.format(solver))),
            ("data", setup.data?.description ?? "prototxt data_param.source"),
            ("batch_size", String(setup.batchSize)),
            ("scheme", setup.scheme.description),
            ("seed", String(setup.seed)),
            ("iterations", String(options.iterations ?? Int(setup.solver.maxIter))),
            ("test_iter", String(options.testIterations ?? Int(setup.solver.testIter.first ?? 0))),
            ("test_interval", String(options.testInterval ?? Int(setup.solver.testInterval))),
            ("record_every", String(options.recordEvery)),
            ("histogram_every", String(options.histogramEvery)),
            ("threads", String(options.threads)),
        ]
        // PyTorch's momentum style is another experiment than Caffe's (only named when used, so
        // the identities of Caffe-style runs are those they always were).
        let style = options.momentumStyle ?? setup.momentumStyle
        if style != .caffe { entries.append(("momentum_style", style.rawValue)) }
    }

    /// 64-bit FNV-1a of the UTF-8 text, 16 hex digits.
    public static func hash(_ text: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { h ^= UInt64(b); h &*= 0x0000_0100_0000_01b3 }
        return String(format: "%016llx", h)
    }

    /// The same identity without `keys`.
    public func removing(_ keys: Set<String>) -> RunIdentity {
        RunIdentity(entries: entries.filter { !keys.contains($0.key) })
    }

    /// With `key` set to `value` (appended when absent).
    public func setting(_ key: String, _ value: String) -> RunIdentity {
        var out = self
        if let i = out.entries.firstIndex(where: { $0.key == key }) { out.entries[i].value = value } else { out.entries.append((key, value)) }
        return out
    }

    /// `{"net":"…","solver":"…",…}` in entry order.
    public var json: String {
        func quote(_ s: String) -> String {
            var out = "\""
            for c in s.unicodeScalars {
                switch c {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                default:
                    if c.value < 0x20 { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
                }
            }
            return out + "\""
        }
        return "{" + entries.map { "\(quote($0.key)):\(quote($0.value))" }.joined(separator: ",") + "}"
    }

    /// Parses `json` (keys in the order written); nil when it is not such an object.
    public init?(json: String) {
        guard let data = json.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        // JSONSerialization loses the order: restore it from the text.
        var order: [(Int, String, String)] = []
        for (k, v) in object {
            guard let s = v as? String else { return nil }
            let pos = json.range(of: "\"\(k)\":").map { json.distance(from: json.startIndex, to: $0.lowerBound) } ?? Int.max
            order.append((pos, k, s))
        }
        entries = order.sorted { $0.0 < $1.0 }.map { ($0.1, $0.2) }
    }

    /// The identity recorded in a trace's root attributes (nil for a trace written before
    /// identities were recorded).
    public init?(trace: TraceReader) {
        guard let s = trace.attributes["run_identity"]?.stringValue, let id = RunIdentity(json: s) else { return nil }
        self = id
    }

    /// How the user sees entry `key` with `value`: "--data synthetic:1", "net 1a2b… (content hash)".
    public static func describe(_ key: String, _ value: String) -> String {
        switch key {
        case "net": return "a net whose content hash is \(value)"
        case "solver": return "a solver whose content hash is \(value)"
        default: return "--\(key.replacingOccurrences(of: "_", with: "-")) \(value)"
        }
    }

    /// The entries where `other` (the recorded run) differs from this one (the run asked for),
    /// as (recorded, asked) descriptions; entries missing on one side count as differing.
    public func differences(recorded other: RunIdentity) -> [(recorded: String, asked: String)] {
        var out: [(String, String)] = []
        var keys = entries.map(\.key)
        for k in other.entries.map(\.key) where !keys.contains(k) { keys.append(k) }
        for k in keys {
            let mine = self[k], theirs = other[k]
            guard mine != theirs else { continue }
            let asked = mine.map { RunIdentity.describe(k, $0) } ?? "no \(k)"
            let recorded = theirs.map { RunIdentity.describe(k, $0) } ?? "no \(k)"
            out.append((recorded, asked))
        }
        return out
    }

    /// One line: "DIR holds a sweep with --data synthetic:1, this one is cifar10:x" (one
    /// difference) or "… with --data a and --seed 1, this one has --data b and --seed 2".
    public static func mismatchLine(_ what: String, _ diffs: [(recorded: String, asked: String)]) -> String {
        if diffs.count == 1 {
            let d = diffs[0]
            // "--data synthetic:1" vs "--data cifar10:x": name the flag once.
            if let space = d.recorded.firstIndex(of: " "), d.asked.hasPrefix(d.recorded[..<space] + " "), d.recorded.hasPrefix("--") {
                return "\(what) \(d.recorded), this one is \(d.asked[d.asked.index(after: d.asked.firstIndex(of: " ")!)...])"
            }
            return "\(what) \(d.recorded), this one has \(d.asked)"
        }
        func list(_ xs: [String]) -> String { xs.count <= 1 ? xs.joined() : xs.dropLast().joined(separator: ", ") + " and " + xs.last! }
        return "\(what) \(list(diffs.map(\.recorded))), this one has \(list(diffs.map(\.asked)))"
    }
}
