// libFuzzer target: bytes → ONNXImport.importModel (protobuf decoding, graph checks, topological
// order, constant evaluation, op conversion). Every refusal must be an InputError of one line
// naming the file; an accepted model must print as a prototxt that parses back to the same layers.
import InitDiag

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let imported: ONNXImportedNet
    do {
        imported = try ONNXImport.importModel(bytes: bytes, path: "fuzz.onnx")
    } catch let e as InputError {
        if e.message.contains("\n") { fatalError("multi-line error: \(e.message)") }
        if !e.message.hasPrefix("fuzz.onnx") { fatalError("error does not name the file: \(e.message)") }
        return 0
    } catch {
        fatalError("ONNXImport threw \(type(of: error)), not InputError: \(error)")
    }
    for w in imported.warnings where w.contains("\n") { fatalError("multi-line warning: \(w)") }
    let text = Prototxt.format(imported.net)
    do {
        let back = try Prototxt.parseNet(text, path: "fuzz.prototxt")
        if back.layer.map({ $0.type }) != imported.net.layer.map({ $0.type }) { fatalError("the printed net parses to other layers") }
    } catch {
        fatalError("the imported net's prototxt does not parse: \(error)")
    }
    return 0
}
