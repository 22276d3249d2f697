// libFuzzer target: bytes → Prototxt.parseNet. A net that parses must also (1) print with
// Prototxt.format and parse back to the same value, and (2) build through NetInspection for TRAIN
// and TEST, and for TRAIN under a bn=on torch scheme (filtering, split insertion, every layer's
// set-up and shape inference, the BatchNorm rewrite, filler resolution, the table and JSON).
// Every failure must be an InputError; anything else (another error, a Swift trap, an ASan
// report) is a crash.
import InitDiag

/// A machine-independent memory budget, so the same input behaves the same everywhere and a huge
/// declared shape is refused by the guard instead of being allocated.
let fuzzMemory = MemoryGuard(availableBytes: 1 << 30)

/// The net without the source line of each layer (kept for error messages; the printed text puts
/// layers on other lines than the input did).
func withoutLines(_ net: NetParameter) -> NetParameter {
    var n = net
    for i in n.layer.indices { n.layer[i].line = 0 }
    return n
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPrototxt(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let net: NetParameter
    do {
        net = try Prototxt.parseNet(bytes, path: "fuzz.prototxt")
    } catch is InputError {
        return 0
    } catch {
        fatalError("parseNet threw \(type(of: error)), not InputError: \(error)")
    }

    // The canonical text parses back to an equal value, source lines aside (NaN values compare unequal to themselves,
    // so a net holding one is compared by its printed text only).
    let text = Prototxt.format(net)
    do {
        let again = try Prototxt.parseNet(text, path: "fuzz.prototxt")
        let againText = Prototxt.format(again)
        if againText != text {
            fatalError("format is not a fixed point:\n--- first\n\(text)\n--- second\n\(againText)")
        }
        if withoutLines(again) != withoutLines(net) && !text.lowercased().contains("nan") {
            fatalError("formatted net parses back to a different value:\n\(text)")
        }
    } catch {
        fatalError("formatted net does not parse back: \(error)\n\(text)")
    }

    // Both phases as declared, and TRAIN under a scheme that rewrites the net (BatchNorm + Scale
    // after every Convolution) and resolves PyTorch fillers from the blob shapes.
    let builds: [(Phase, Scheme)] = [(.TRAIN, Scheme()), (.TEST, Scheme()),
                                     (.TRAIN, Scheme(weights: .torchDefault, biases: .torchDefault, batchNorm: true))]
    for (phase, scheme) in builds {
        do {
            let inspection = try NetInspection(param: net, phase: phase, scheme: scheme, memory: fuzzMemory)
            _ = inspection.table()
            _ = inspection.json()
        } catch is InputError {
        } catch {
            fatalError("NetInspection(\(phase), \(scheme)) threw \(type(of: error)), not InputError: \(error)")
        }
    }
    return 0
}
