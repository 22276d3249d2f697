import InitDiagCore
import Foundation

/// One file of the fixed copy: the user's text and the edited text.
public struct FixedCopyFile: Sendable {
    /// The file name under `DIR/fixed/` (the user's file name).
    public var name: String
    /// The user's file, as given to the sweep (for the diff header); empty for a new file.
    public var originalPath: String
    public var original: String
    public var fixed: String
    public init(name: String, originalPath: String, original: String, fixed: String) {
        self.name = name; self.originalPath = originalPath; self.original = original; self.fixed = fixed
    }
}

/// `DIR/fixed/`: the user's net and solver with exactly the edits of the variant the sweep showed
/// to train (made by the engine's `PrototxtFix`), and what to know about them.
public struct FixedCopy: Sendable {
    /// The variant the edits come from, e.g. "w=caffe-msra,b=zero".
    public var scheme: String
    public var files: [FixedCopyFile]
    /// One line per edit.
    public var edits: [String]
    public var notes: [String]
    public init(scheme: String, files: [FixedCopyFile], edits: [String], notes: [String]) {
        self.scheme = scheme; self.files = files; self.edits = edits; self.notes = notes
    }
}

/// What the report says about the fixed copy: written, or why not.
public enum FixedCopyOutcome: Sendable {
    case written(FixedCopy)
    case notWritten(String)
}

// MARK: - Unified diff

/// A unified diff (`diff -u` format, `context` lines around each change) of two texts, by Myers'
/// O(ND) shortest edit script (E. Myers, "An O(ND) Difference Algorithm and Its Variations",
/// Algorithmica 1986). Empty when the texts are equal.
public func unifiedDiff(_ old: String, _ new: String, oldName: String, newName: String, context: Int = 3) -> String {
    let a = diffLines(old), b = diffLines(new)
    let ops = myersScript(a, b)
    guard ops.contains(where: { $0.kind != .same }) else { return "" }
    var out = "--- \(oldName)\n+++ \(newName)\n"
    // Positions (0-based) in a and b before each op.
    var ai = [Int](), bi = [Int]()
    var x = 0, y = 0
    for op in ops {
        ai.append(x); bi.append(y)
        switch op.kind { case .same: x += 1; y += 1; case .delete: x += 1; case .insert: y += 1 }
    }
    let changed = ops.indices.filter { ops[$0].kind != .same }
    var i = 0
    while i < changed.count {
        var lo = max(0, changed[i] - context), hi = min(ops.count - 1, changed[i] + context)
        var j = i
        while j + 1 < changed.count && changed[j + 1] - context <= hi + 1 {
            j += 1
            hi = min(ops.count - 1, changed[j] + context)
        }
        lo = max(0, lo)
        let slice = ops[lo...hi]
        let oldCount = slice.filter { $0.kind != .insert }.count, newCount = slice.filter { $0.kind != .delete }.count
        let oldStart = oldCount == 0 ? ai[lo] : ai[lo] + 1, newStart = newCount == 0 ? bi[lo] : bi[lo] + 1
        out += "@@ -\(oldStart),\(oldCount) +\(newStart),\(newCount) @@\n"
        for op in slice {
            out += (op.kind == .same ? " " : op.kind == .delete ? "-" : "+") + op.line + "\n"
        }
        i = j + 1
    }
    return out
}

struct DiffOp {
    enum Kind { case same, delete, insert }
    var kind: Kind
    var line: String
}

func diffLines(_ text: String) -> [String] {
    var lines = text.components(separatedBy: "\n")
    if lines.last == "" { lines.removeLast() }
    return lines
}

/// The shortest edit script from a to b (deletions before insertions within a change).
func myersScript(_ a: [String], _ b: [String]) -> [DiffOp] {
    let n = a.count, m = b.count, limit = n + m
    if limit == 0 { return [] }
    let off = limit + 1
    var v = [Int](repeating: 0, count: 2 * limit + 3)
    // trace[d]: v before round d, for k in -d...d (stored at k + d).
    var trace: [[Int]] = []
    var final = -1
    outer: for d in 0...limit {
        trace.append((-d...d).map { v[$0 + off] })
        for k in stride(from: -d, through: d, by: 2) {
            var x = (k == -d || (k != d && v[k - 1 + off] < v[k + 1 + off])) ? v[k + 1 + off] : v[k - 1 + off] + 1
            var y = x - k
            while x < n && y < m && a[x] == b[y] { x += 1; y += 1 }
            v[k + off] = x
            if x >= n && y >= m { final = d; break outer }
        }
    }
    var ops: [DiffOp] = []
    var x = n, y = m
    var d = final
    while d > 0 {
        let t = trace[d]
        func at(_ k: Int) -> Int { t[k + d] }
        let k = x - y
        let prevK = (k == -d || (k != d && at(k - 1) < at(k + 1))) ? k + 1 : k - 1
        let prevX = at(prevK), prevY = prevX - prevK
        while x > prevX && y > prevY { ops.append(DiffOp(kind: .same, line: a[x - 1])); x -= 1; y -= 1 }
        if x == prevX { ops.append(DiffOp(kind: .insert, line: b[y - 1])); y -= 1 } else { ops.append(DiffOp(kind: .delete, line: a[x - 1])); x -= 1 }
        d -= 1
    }
    while x > 0 && y > 0 { ops.append(DiffOp(kind: .same, line: a[x - 1])); x -= 1; y -= 1 }
    return ops.reversed()
}

// MARK: - fixed/README.md

/// `DIR/fixed/README.md`: what was changed and why, how to run it, and the diff of each file.
public func fixedReadme(_ fix: FixedCopy) -> String {
    var md = "# The fix: `\(fix.scheme)`, as edits to your files\n\n"
    // w=lsuv and w=orthogonal have no filler (PrototxtFix leaves the weights and says why).
    let weightsApart = fix.scheme.contains("w=lsuv") || fix.scheme.contains("w=orthogonal")
    md += weightsApart
        ? "The sweep showed the variant `\(fix.scheme)` to train. Its weights are not a filler (see the notes): these files are copies of yours with the edits the other parts of the variant need; everything else (comments, order, layout) is as you wrote it.\n\n"
        : "The sweep showed the variant `\(fix.scheme)` to train. These files are copies of yours with exactly the edits that make them, read as declared (`w=as-declared,b=as-declared`), initialise and train like that variant; everything else (comments, order, layout) is as you wrote it.\n\n"
    md += "## Edits\n\n"
    md += fix.edits.isEmpty
        ? (weightsApart ? "None to the files: the variant differs from them in its weights only (see the notes).\n\n" : "None: the variant is the net as declared.\n\n")
        : fix.edits.map { "- \($0)\n" }.joined() + "\n"
    if !fix.notes.isEmpty { md += "## Notes\n\n" + fix.notes.map { "- \($0)\n" }.joined() + "\n" }
    md += "## Run it\n\n```\n"
    if let solver = fix.files.first(where: { $0.name.contains("solver") }) ?? (fix.files.count > 1 ? fix.files.last : nil) {
        md += "initdiag train --solver \(solver.name)\n"
    } else if let net = fix.files.first {
        md += "initdiag train --net \(net.name)\n"
    }
    md += "```\n\n(from this folder; the sweep's own --data, --batch-size and --seed apply as they did to the sweep)\n\n"
    md += "## Diff\n\nWritten by initdiag's own line diff (Myers' algorithm, `diff -u` format).\n\n"
    for f in fix.files {
        let diff = unifiedDiff(f.original, f.fixed, oldName: f.originalPath.isEmpty ? "/dev/null" : f.originalPath, newName: "fixed/" + f.name)
        md += "### \(f.name)\n\n" + (diff.isEmpty ? "Unchanged.\n\n" : "```diff\n" + diff + "```\n\n")
    }
    return md
}

/// Writes the fixed files and their README into `DIR/fixed/` (replacing an earlier fix).
func writeFixedCopy(_ fix: FixedCopy, directory: String) throws {
    let dir = (directory as NSString).appendingPathComponent("fixed")
    if FileManager.default.fileExists(atPath: dir) { try? FileManager.default.removeItem(atPath: dir) }
    do {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    } catch {
        throw InputError("\(dir): cannot create the folder for the fixed prototxt (\(error.localizedDescription))")
    }
    for f in fix.files {
        try reportWriteAtomically(Data(f.fixed.utf8), to: (dir as NSString).appendingPathComponent(f.name))
    }
    try reportWriteAtomically(Data(fixedReadme(fix).utf8), to: (dir as NSString).appendingPathComponent("README.md"))
}

/// The report's first paragraph about the fix.
func fixedParagraph(_ outcome: FixedCopyOutcome?) -> String? {
    switch outcome {
    case nil: return nil
    case .written(let fix)?:
        let names = fix.files.map { "[`fixed/\($0.name)`](fixed/\($0.name))" }.joined(separator: " and ")
        let n = fix.edits.count
        if n == 0 {
            // A data-dependent weight scheme (w=lsuv, w=orthogonal) and nothing else: no filler
            // edit exists; the weights the sweep wrote are the fix (the notes say how to load them).
            return "**What to edit:** nothing in your files: `\(fix.scheme)`, the variant this sweep showed to train, differs from them in its weights only, which no Caffe filler gives; start from the weights it wrote (`--weights`, see [`fixed/README.md`](fixed/README.md))."
        }
        return "**What to edit:** \(names) \(fix.files.count == 1 ? "is a copy" : "are copies") of your files with the \(n) edit\(n == 1 ? "" : "s") of `\(fix.scheme)`, the variant this sweep showed to train; [`fixed/README.md`](fixed/README.md) lists them with a diff."
    case .notWritten(let reason)?:
        return "**What to edit:** no fixed copy was written: \(reason)."
    }
}
