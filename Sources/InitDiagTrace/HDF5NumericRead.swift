import InitDiagCore
import CHDF5

// Reading numeric datasets of any rank for data layers (HDF5Data): a small extension of the
// wrapper in HDF5.swift, which stays the only place that owns ids.

extension HDF5Group {
    /// The dataset `name` as floats with its shape: float or double (or integer) elements of any
    /// rank, converted by HDF5 as Caffe's hdf5_load_nd_dataset does (H5LTread_dataset_float).
    /// Throws `HDF5Error` naming the file and dataset if it is missing, not numeric, or unreadable.
    public func readNumericDataset(_ name: String) throws -> (shape: [Int], values: [Float]) {
        hdf5Silence()
        guard try childNames().contains(name) else {
            throw HDF5Error(file: filePath, path: childPath(name), operation: "find the dataset",
                            reason: "the file has no dataset '\(name)' (datasets are named after the layer's tops)")
        }
        let dataset = try openDataset(name)
        let type = H5Dget_type(dataset.id)
        if type < 0 { throw dataset.error("read the dataset's type") }
        let typeClass = H5Tget_class(type)
        H5Tclose(type)
        guard typeClass == H5T_FLOAT || typeClass == H5T_INTEGER else {
            throw HDF5Error(file: filePath, path: childPath(name), operation: "read the dataset",
                            reason: "its elements are not numbers (HDF5Data reads float, double or integer datasets)")
        }
        return try dataset.readFloats()
    }
}
