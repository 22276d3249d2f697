// HDF5 (Debian's serial build). The type and property-list ids are macros over global variables
// that Swift cannot import; these inline functions expose them. Call the numbered API names
// (H5Dopen2, H5Acreate2, ...) from Swift: the version-mapped macros do not import either.
#include <hdf5.h>

static inline hid_t initdiag_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t initdiag_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t initdiag_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t initdiag_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t initdiag_H5T_NATIVE_UINT8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t initdiag_H5T_C_S1(void) { return H5T_C_S1; }
static inline hid_t initdiag_H5T_STD_I64LE(void) { return H5T_STD_I64LE; }
static inline hid_t initdiag_H5T_STD_I32LE(void) { return H5T_STD_I32LE; }
static inline hid_t initdiag_H5T_IEEE_F64LE(void) { return H5T_IEEE_F64LE; }
static inline hid_t initdiag_H5T_IEEE_F32LE(void) { return H5T_IEEE_F32LE; }
static inline hid_t initdiag_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t initdiag_H5P_FILE_ACCESS(void) { return H5P_FILE_ACCESS; }
static inline hid_t initdiag_H5P_FILE_CREATE(void) { return H5P_FILE_CREATE; }
static inline hid_t initdiag_H5P_LINK_CREATE(void) { return H5P_LINK_CREATE; }
static inline hsize_t initdiag_H5S_UNLIMITED(void) { return H5S_UNLIMITED; }
static inline size_t initdiag_H5T_VARIABLE(void) { return H5T_VARIABLE; }
static inline unsigned initdiag_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned initdiag_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned initdiag_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline unsigned initdiag_H5F_ACC_SWMR_WRITE(void) { return H5F_ACC_SWMR_WRITE; }
static inline unsigned initdiag_H5F_ACC_SWMR_READ(void) { return H5F_ACC_SWMR_READ; }

// Added for initdiag's Trace/HDF5.swift (the only Swift file that calls HDF5).
static inline hid_t initdiag_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t initdiag_H5S_ALL(void) { return H5S_ALL; }
static inline hid_t initdiag_H5E_DEFAULT(void) { return H5E_DEFAULT; }
static inline hid_t initdiag_H5T_NATIVE_INT(void) { return H5T_NATIVE_INT; }
static inline hid_t initdiag_H5T_NATIVE_CHAR(void) { return H5T_NATIVE_CHAR; }

// Frees the strings HDF5 allocated when reading variable-length data (renamed in HDF5 1.12).
static inline herr_t initdiag_vlen_reclaim(hid_t type, hid_t space, void *buffer) {
#if H5_VERSION_GE(1, 12, 0)
    return H5Treclaim(type, space, H5P_DEFAULT, buffer);
#else
    return H5Dvlen_reclaim(type, space, H5P_DEFAULT, buffer);
#endif
}

// Turns off HDF5's automatic printing of its error stack for the calling thread (the stack is
// per-thread in the thread-safe build); every return code is checked by the Swift wrapper instead.
static inline herr_t initdiag_silence_errors(void) {
    return H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

// Newest file format on a file-access property list (H5F_LIBVER_LATEST is a macro alias).
static inline herr_t initdiag_set_latest_format(hid_t fapl) {
    return H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
}
