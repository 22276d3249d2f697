import InitDiagCore

extension DataMeanFile {
    /// The mean image of every record of `source`, as BVLC/caffe tools/compute_image_mean.cpp
    /// computes it: a float sum per element (sum[i] += pixel byte, or float_data when the record
    /// has no bytes), in record order, then sum[i] / count in float; the shape is the records'
    /// 1 × C × H × W (compute_image_mean sets num 1 and the first datum's channels, height,
    /// width, and CHECKs every record has the same size). `path` names the mean file the result
    /// stands in for. The source is read from its first record once and left rewound.
    ///
    /// Throws `InputError` naming the record when the records differ in shape, and when the
    /// source is empty or cannot tell how many records it has.
    public static func compute(from source: DataSource, standingInFor path: String) throws -> DataMeanBlob {
        guard let count = source.recordCount else {
            throw InputError("\(source.description): cannot tell how many records it holds, so its mean cannot be computed for mean_file \(path)")
        }
        guard count > 0 else {
            throw InputError("\(source.description): holds no records, so no mean can be computed for mean_file \(path)")
        }
        try source.rewind()
        let record = DataRecord()
        try source.next(into: record)
        let (c, h, w) = (record.channels, record.height, record.width)
        let n = c * h * w
        guard n > 0 else { throw InputError("\(record.name): record shape \(c)×\(h)×\(w) is empty; no mean can be computed for mean_file \(path)") }
        var sum = [Float](repeating: 0, count: n)
        for k in 0..<count {
            if k > 0 { try source.next(into: record) }
            guard record.channels == c, record.height == h, record.width == w else {
                throw InputError("\(record.name): record is \(record.channels)×\(record.height)×\(record.width) but the first is \(c)×\(h)×\(w); compute_image_mean needs one shape (mean_file \(path))")
            }
            try sum.withUnsafeMutableBufferPointer { s in
                if record.holdsFloats {
                    guard record.floats.count >= n else { throw InputError("\(record.name): holds \(record.floats.count) values, expected \(n)") }
                    record.floats.withUnsafeBufferPointer { f in for i in 0..<n { s[i] += f[i] } }
                } else {
                    guard record.bytes.count >= n else { throw InputError("\(record.name): holds \(record.bytes.count) values, expected \(n)") }
                    record.bytes.withUnsafeBufferPointer { b in for i in 0..<n { s[i] += Float(b[i]) } }
                }
            }
        }
        try source.rewind()
        let divisor = Float(count)
        for i in 0..<n { sum[i] /= divisor }
        return DataMeanBlob(path: path, shape: [1, c, h, w], values: sum)
    }
}
