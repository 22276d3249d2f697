// libFuzzer target: bytes → Prototxt.parseSolver (including inline net_param/test_net_param,
// which go through the net upgrades). Failures must be InputError.
import InitDiag

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSolver(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do {
        let (solver, _) = try Prototxt.parseSolver(bytes, path: "fuzz.solver.prototxt")
        // Printing must not trap either (it walks every field, including inline nets).
        _ = Prototxt.format(solver)
    } catch is InputError {
    } catch {
        fatalError("parseSolver threw \(type(of: error)), not InputError: \(error)")
    }
    return 0
}
