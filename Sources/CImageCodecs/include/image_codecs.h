// PNG and JPEG decoding (and encoding, for tests) the way OpenCV's imread does it for Caffe's
// ImageData layer: 8-bit BGR or grayscale, interleaved. See Sources/InitDiag/Data/ImageDecoding.swift.
#ifndef INITDIAG_IMAGE_CODECS_H
#define INITDIAG_IMAGE_CODECS_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Decodes PNG bytes into 8-bit interleaved pixels: BGR (channels 3) or gray (channels 1).
/// On success returns 0, sets *out (free with initdiag_image_free), *width, *height. On failure
/// returns -1 and writes a message into msg.
int initdiag_png_decode(const unsigned char *data, size_t size, int channels,
                        unsigned char **out, int *width, int *height, char *msg, size_t msglen);

/// Writes 8-bit interleaved gray (1), BGR (3) pixels as an 8-bit PNG file. 0 on success.
int initdiag_png_write(const char *path, const unsigned char *pixels, int width, int height, int channels,
                       char *msg, size_t msglen);

/// Decodes JPEG bytes (libjpeg-turbo's TurboJPEG: accurate integer DCT, fancy upsampling — the
/// libjpeg defaults OpenCV uses) into BGR (channels 3) or gray (channels 1). As above.
int initdiag_jpeg_decode(const unsigned char *data, size_t size, int channels,
                         unsigned char **out, int *width, int *height, char *msg, size_t msglen);

/// Writes BGR (3) or gray (1) pixels as a baseline JPEG of the given quality (4:4:4). 0 on success.
int initdiag_jpeg_write(const char *path, const unsigned char *pixels, int width, int height, int channels,
                        int quality, char *msg, size_t msglen);

void initdiag_image_free(unsigned char *p);

#ifdef __cplusplus
}
#endif
#endif
