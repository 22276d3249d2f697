import InitDiagCore
import InitDiagTrace

extension CaffeSnapshot {
    /// Writes a `.caffemodel.h5` straight from the net's blobs (their `data`, and with
    /// `writeDiff` their `diff` in a `diff` group), without copying them.
    public static func writeWeights(to path: String, netLayers layers: [(name: String, blobs: [Blob])], writeDiff: Bool = false) throws {
        try atomically(path) { file in
            let data = try file.createGroup("data")
            let diff = writeDiff ? try file.createGroup("diff") : nil
            for (name, blobs) in layers {
                let dataLayer = try layerGroup(data, name)
                let diffLayer = try diff.map { try layerGroup($0, name) }
                for (i, blob) in blobs.enumerated() {
                    try dataLayer.createFloatDataset(String(i), shape: blob.shape,
                                                     values: UnsafeBufferPointer(blob.dataBuffer))
                    try diffLayer?.createFloatDataset(String(i), shape: blob.shape,
                                                      values: UnsafeBufferPointer(blob.diffBuffer))
                }
            }
        }
    }

}
