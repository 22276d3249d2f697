import InitDiagCore
import InitDiagTrace
import Foundation

/// A compact, locale-independent rendering of a number with `digits` significant digits:
/// plain notation for 1e-3 ≤ |v| < 1e5 (trailing zeros dropped), else "1.5e-5"; "NaN", "inf".
public func diagFormat(_ value: Double, digits: Int = 3) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value > 0 ? "inf" : "-inf" }
    if value == 0 { return "0" }
    let digits = max(1, digits)
    let magnitude = abs(value)
    if magnitude >= 1e-3 && magnitude < 1e5 {
        let decimals = max(0, digits - 1 - Int(floor(log10(magnitude))))
        var text = String(format: "%.\(decimals)f", value)
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text == "-0" ? "0" : text
    }
    // "%.{d}e" gives "1.50e-05": trim the mantissa's zeros and the exponent's padding.
    let raw = String(format: "%.\(digits - 1)e", value)
    guard let e = raw.firstIndex(of: "e") else { return raw }
    var mantissa = String(raw[..<e])
    if mantissa.contains(".") {
        while mantissa.hasSuffix("0") { mantissa.removeLast() }
        if mantissa.hasSuffix(".") { mantissa.removeLast() }
    }
    let exponent = Int(raw[raw.index(after: e)...]) ?? 0
    return "\(mantissa)e\(exponent)"
}

/// A share as a percentage with two significant digits ("97%", "3.2%", "0.31%").
public func diagPercent(_ share: Double) -> String {
    if !share.isFinite { return diagFormat(share) }
    let pct = share * 100
    return (abs(pct) >= 10 ? String(format: "%.0f", pct) : diagFormat(pct, digits: 2)) + "%"
}

/// A share close to 1 as a percentage with enough digits to show how close: 0.99993 → "99.993%"
/// (two significant digits of 1 − share, trailing zeros dropped), 0.97 → "97%".
public func diagPercentFine(_ share: Double) -> String {
    guard share.isFinite, share < 1, share > 0.99 else { return diagPercent(share) }
    let gap = 1 - share
    // Eight decimals would round to "100": say how far below it is instead.
    if gap < 1e-8 { return "100% − \(diagFormat(gap * 100, digits: 2))%" }
    let decimals = min(8, max(1, Int(-floor(log10(gap * 100))) + 1))
    var text = String(format: "%.\(decimals)f", share * 100)
    while text.hasSuffix("0") { text.removeLast() }
    if text.hasSuffix(".") { text.removeLast() }
    return text + "%"
}
