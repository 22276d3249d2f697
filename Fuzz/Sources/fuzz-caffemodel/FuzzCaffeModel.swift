// libFuzzer target: bytes → CaffeModel.decode (wire format, V1 upgrade). A net that decodes must
// encode to bytes that decode again to the same encoding (a fixed point after one round).
import InitDiag

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCaffeModel(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let net: NetParameter
    do {
        net = try CaffeModel.decode(bytes, path: "fuzz.caffemodel")
    } catch is InputError {
        return 0
    } catch {
        fatalError("CaffeModel.decode threw \(type(of: error)), not InputError: \(error)")
    }
    let encoded = CaffeModel.encode(net)
    do {
        let again = try CaffeModel.decode(encoded, path: "fuzz.caffemodel")
        if CaffeModel.encode(again) != encoded { fatalError("encode ∘ decode is not a fixed point") }
    } catch {
        fatalError("re-encoded caffemodel does not decode: \(error)")
    }
    return 0
}
