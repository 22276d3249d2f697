// libFuzzer target: the same bytes → BlobProto.decode, Datum.decode and SolverState.decode (three
// wire-format messages sharing one reader). Whatever decodes must re-encode to a fixed point, and
// the derived views (resolved shape, values) must not trap.
import InitDiag

func requireFixedPoint<T>(_ value: T, encode: (T) -> [UInt8], decode: ([UInt8]) throws -> T, _ what: String) {
    let encoded = encode(value)
    do {
        if encode(try decode(encoded)) != encoded { fatalError("\(what): encode ∘ decode is not a fixed point") }
    } catch {
        fatalError("\(what): re-encoded value does not decode: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBlobProtoDatum(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do {
        let blob = try BlobProto.decode(bytes)
        _ = blob.resolvedShape
        _ = blob.values
        requireFixedPoint(blob, encode: { $0.encode() }, decode: BlobProto.decode, "BlobProto")
    } catch is InputError {
    } catch {
        fatalError("BlobProto.decode threw \(type(of: error)), not InputError: \(error)")
    }
    do {
        let datum = try Datum.decode(bytes)
        requireFixedPoint(datum, encode: { $0.encode() }, decode: Datum.decode, "Datum")
    } catch is InputError {
    } catch {
        fatalError("Datum.decode threw \(type(of: error)), not InputError: \(error)")
    }
    do {
        let state = try SolverState.decode(bytes, path: "fuzz.solverstate")
        requireFixedPoint(state, encode: { $0.encode() }, decode: { try SolverState.decode($0, path: "fuzz.solverstate") },
                          "SolverState")
    } catch is InputError {
    } catch {
        fatalError("SolverState.decode threw \(type(of: error)), not InputError: \(error)")
    }
    return 0
}
