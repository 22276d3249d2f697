// libFuzzer target: bytes as UTF-8 → Scheme(parsing:) and Scheme.parseList. A scheme that parses
// must print (description, slug) and parse back from its description to an equal scheme.
import InitDiag

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzScheme(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let text = String(decoding: bytes, as: UTF8.self)
    do {
        let scheme = try Scheme(parsing: text)
        _ = scheme.slug
        let again = try Scheme(parsing: scheme.description)
        if again != scheme { fatalError("'\(scheme.description)' parses back to '\(again.description)'") }
        if again.slug != scheme.slug { fatalError("slug differs after a round trip: \(scheme.slug) vs \(again.slug)") }
    } catch is InputError {
    } catch {
        fatalError("Scheme(parsing:) threw \(type(of: error)), not InputError: \(error)")
    }
    do {
        for scheme in try Scheme.parseList(text) { _ = scheme.slug }
    } catch is InputError {
    } catch {
        fatalError("Scheme.parseList threw \(type(of: error)), not InputError: \(error)")
    }
    return 0
}
