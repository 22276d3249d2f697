import InitDiagCore
import Foundation

// `DIR/report.html`: the README as one self-contained page, every figure's SVG inline, no
// script, no style sheet or font fetched from anywhere — readable offline in any browser. The
// Markdown is the report's own (SweepReport.swift), so only the constructs it writes are
// translated: ATX headings, paragraphs, pipe tables with an alignment row, "-" lists (one nested
// level by two spaces), fenced code, inline code, **bold**, links and images (an image of
// `figures/NAME.svg` becomes that SVG, inline).

/// HTML-escapes text (element content and attribute values).
func htmlEscape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.count)
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(c)
        }
    }
    return out
}

/// Inline Markdown: `code`, **bold** (which may hold code), [text](href) (whose text may hold
/// code); `\|` (a table cell's escaped bar) becomes `|`. Nothing inside a code span is markup.
func htmlInline(_ text: String) -> String {
    let t = Array(text.replacingOccurrences(of: "\\|", with: "|"))
    /// The index of the next unescaped `**` at or after `from`, outside code spans.
    func nextBold(_ from: Int) -> Int? {
        var k = from
        while k + 1 < t.count {
            if t[k] == "`", let j = t[(k + 1)...].firstIndex(of: "`") { k = j + 1; continue }
            if t[k] == "*" && t[k + 1] == "*" { return k }
            k += 1
        }
        return nil
    }
    /// `[text](url)` at `i`: the text's range and the url, and the index after the `)`.
    func link(_ i: Int) -> (text: Range<Int>, url: String, next: Int)? {
        var k = i + 1
        while k < t.count && t[k] != "]" {
            if t[k] == "`", let j = t[(k + 1)...].firstIndex(of: "`") { k = j + 1 } else { k += 1 }
        }
        guard k + 1 < t.count, t[k] == "]", t[k + 1] == "(" else { return nil }
        guard let close = t[(k + 2)...].firstIndex(of: ")") else { return nil }
        let url = String(t[(k + 2)..<close])
        guard !url.contains(where: { $0.isWhitespace }) else { return nil }
        return ((i + 1)..<k, url, close + 1)
    }
    var out = "", i = 0, bold = false
    while i < t.count {
        let c = t[i]
        if c == "`", let j = t[(i + 1)...].firstIndex(of: "`") {
            out += "<code>" + htmlEscape(String(t[(i + 1)..<j])) + "</code>"
            i = j + 1
            continue
        }
        if c == "*", i + 1 < t.count, t[i + 1] == "*", bold || nextBold(i + 2) != nil {
            out += bold ? "</strong>" : "<strong>"
            bold.toggle()
            i += 2
            continue
        }
        if c == "[", let l = link(i) {
            out += "<a href=\"\(htmlEscape(l.url))\">" + htmlInline(String(t[l.text])) + "</a>"
            i = l.next
            continue
        }
        out += htmlEscape(String(c))
        i += 1
    }
    if bold { out += "</strong>" }
    return out
}

/// Replaces each match of `pattern` by `make(groups)`.
func htmlReplace(_ s: String, _ pattern: String, _ make: ([String]) -> String) -> String {
    guard let re = try? NSRegularExpression(pattern: pattern) else { return s }
    let ns = s as NSString
    var out = "", last = 0
    for m in re.matches(in: s, range: NSRange(location: 0, length: ns.length)) {
        out += ns.substring(with: NSRange(location: last, length: m.range.location - last))
        out += make((0..<m.numberOfRanges).map { m.range(at: $0).location == NSNotFound ? "" : ns.substring(with: m.range(at: $0)) })
        last = m.range.location + m.range.length
    }
    return out + ns.substring(from: last)
}

/// A figure's SVG for inlining: without its XML declaration (not allowed inside HTML), with
/// `role="img"` and its caption as the accessible name.
func htmlInlineSVG(_ svg: String, label: String) -> String {
    var s = svg
    if s.hasPrefix("<?xml"), let end = s.range(of: "?>") { s = String(s[end.upperBound...]) }
    s = s.trimmingCharacters(in: .whitespacesAndNewlines)
    if s.hasPrefix("<svg ") {
        s = "<svg role=\"img\" aria-label=\"\(htmlEscape(label))\" " + s.dropFirst(5)
    }
    return s
}

func htmlSplitRow(_ line: String) -> [String] {
    var t = line.trimmingCharacters(in: .whitespaces)
    if t.hasPrefix("|") { t.removeFirst() }
    if t.hasSuffix("|") && !t.hasSuffix("\\|") { t.removeLast() }
    // Split on bars not escaped as \|.
    var cells: [String] = [], cur = "", prev: Character = " "
    for c in t {
        if c == "|" && prev != "\\" { cells.append(cur); cur = "" } else { cur.append(c) }
        prev = c
    }
    cells.append(cur)
    return cells.map { $0.trimmingCharacters(in: .whitespaces) }
}

/// The report's Markdown as HTML body content; `svg(path)` gives the SVG of an image link
/// (`figures/x.svg`), nil to keep it as a link.
public func markdownToHTML(_ md: String, svg: (String) -> String?) -> String {
    let lines = md.components(separatedBy: "\n")
    var html = "", i = 0, paragraph: [String] = []
    func flush() {
        if !paragraph.isEmpty { html += "<p>" + htmlInline(paragraph.joined(separator: "\n")) + "</p>\n"; paragraph = [] }
    }
    let image = try! NSRegularExpression(pattern: #"^!\[([^\]]*)\]\(([^)\s]*)\)$"#)
    while i < lines.count {
        let line = lines[i]
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("```") {
            flush()
            let lang = String(trimmed.dropFirst(3))
            var code: [String] = []
            i += 1
            while i < lines.count && !lines[i].hasPrefix("```") { code.append(lines[i]); i += 1 }
            i += 1
            html += "<pre><code\(lang.isEmpty ? "" : " class=\"language-\(htmlEscape(lang))\"")>" + htmlEscape(code.joined(separator: "\n")) + "</code></pre>\n"
            continue
        }
        if trimmed.isEmpty { flush(); i += 1; continue }
        if let level = Optional(trimmed.prefix { $0 == "#" }.count), level > 0, level <= 6, trimmed.dropFirst(level).first == " " {
            flush()
            let text = String(trimmed.dropFirst(level + 1))
            html += "<h\(level)>" + htmlInline(text) + "</h\(level)>\n"
            i += 1
            continue
        }
        if trimmed.hasPrefix("|"), i + 1 < lines.count, lines[i + 1].trimmingCharacters(in: .whitespaces).hasPrefix("|"),
           htmlSplitRow(lines[i + 1]).allSatisfy({ !$0.isEmpty && $0.allSatisfy { "-:".contains($0) } }) {
            flush()
            let head = htmlSplitRow(line)
            let align = htmlSplitRow(lines[i + 1]).map { $0.hasSuffix(":") ? (($0.hasPrefix(":")) ? "center" : "right") : "left" }
            func cell(_ tag: String, _ k: Int, _ text: String) -> String {
                let a = k < align.count && align[k] != "left" ? " style=\"text-align:\(align[k])\"" : ""
                return "<\(tag)\(a)>" + htmlInline(text) + "</\(tag)>"
            }
            html += "<table>\n<thead><tr>" + head.enumerated().map { cell("th", $0, $1) }.joined() + "</tr></thead>\n<tbody>\n"
            i += 2
            while i < lines.count && lines[i].trimmingCharacters(in: .whitespaces).hasPrefix("|") {
                html += "<tr>" + htmlSplitRow(lines[i]).enumerated().map { cell("td", $0, $1) }.joined() + "</tr>\n"
                i += 1
            }
            html += "</tbody>\n</table>\n"
            continue
        }
        if trimmed.hasPrefix("- ") && !line.hasPrefix(" ") {
            flush()
            html += "<ul>\n"
            while i < lines.count, lines[i].hasPrefix("- ") {
                html += "<li>" + htmlInline(String(lines[i].dropFirst(2)))
                i += 1
                if i < lines.count && lines[i].hasPrefix("  - ") {
                    html += "\n<ul>\n"
                    while i < lines.count && lines[i].hasPrefix("  - ") {
                        html += "<li>" + htmlInline(String(lines[i].dropFirst(4))) + "</li>\n"
                        i += 1
                    }
                    html += "</ul>\n"
                }
                html += "</li>\n"
            }
            html += "</ul>\n"
            continue
        }
        let ns = trimmed as NSString
        if let m = image.firstMatch(in: trimmed, range: NSRange(location: 0, length: ns.length)) {
            flush()
            let alt = ns.substring(with: m.range(at: 1)), src = ns.substring(with: m.range(at: 2))
            if let s = svg(src) {
                html += "<figure>\n" + htmlInlineSVG(s, label: alt) + "\n</figure>\n"
            } else {
                html += "<p><a href=\"\(htmlEscape(src))\">\(htmlEscape(alt))</a></p>\n"
            }
            i += 1
            continue
        }
        paragraph.append(trimmed)
        i += 1
    }
    flush()
    return html
}

/// The whole page: the README's content with its figures inline.
public func sweepReportHTML(readme: String, figures: [ReportFigure], title: String) -> String {
    let byPath = Dictionary(figures.map { ("figures/" + $0.file, $0.svg) }, uniquingKeysWith: { a, _ in a })
    let body = markdownToHTML(readme) { byPath[$0] }
    return """
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>\(htmlEscape(title))</title>
    <style>
    body { font-family: Helvetica, Arial, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; color: #222; }
    table { border-collapse: collapse; margin: 1rem 0; }
    th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; }
    th { background: #f3f3f3; }
    code { background: #f3f3f3; padding: 0 0.2rem; border-radius: 3px; }
    pre { background: #f6f6f6; padding: 0.75rem; overflow-x: auto; }
    pre code { background: none; padding: 0; }
    figure { margin: 1rem 0; }
    figure svg { max-width: 100%; height: auto; }
    </style>
    </head>
    <body>
    \(body)</body>
    </html>

    """
}
