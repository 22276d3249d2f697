// See include/image_codecs.h. PNG decoding follows OpenCV's PngDecoder (modules/imgcodecs/src/
// grfmt_png.cpp): 16-bit stripped to 8, palette and low bit depths expanded, tRNS and alpha
// dropped (not composited), gray expanded to BGR for colour output, colour converted to gray with
// png_set_rgb_to_gray(1, 0.299, 0.587) for gray output; no gamma handling.
#include "image_codecs.h"
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

typedef struct { const unsigned char *data; size_t size, pos; } mem_reader;

static void read_mem(png_structp png, png_bytep out, png_size_t n) {
    mem_reader *r = (mem_reader *)png_get_io_ptr(png);
    if (r->pos + n > r->size) png_error(png, "the file ends early (truncated PNG)");
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
}

typedef struct { char *msg; size_t len; } err_sink;

static void on_error(png_structp png, png_const_charp text) {
    err_sink *e = (err_sink *)png_get_error_ptr(png);
    if (e && e->msg) snprintf(e->msg, e->len, "%s", text);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp text) { (void)png; (void)text; }

int initdiag_png_decode(const unsigned char *data, size_t size, int channels,
                        unsigned char **out, int *width, int *height, char *msg, size_t msglen) {
    *out = NULL;
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        snprintf(msg, msglen, "not a PNG file (bad signature)");
        return -1;
    }
    err_sink sink = { msg, msglen };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &sink, on_error, on_warning);
    if (!png) { snprintf(msg, msglen, "out of memory"); return -1; }
    png_infop info = png_create_info_struct(png);
    unsigned char *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        free(pixels); free(rows);
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        if (!info) snprintf(msg, msglen, "out of memory");
        return -1;
    }
    mem_reader reader = { data, size, 0 };
    png_set_read_fn(png, &reader, read_mem);
    png_read_info(png, info);
    png_uint_32 w = 0, h = 0;
    int bit_depth = 0, color_type = 0;
    png_get_IHDR(png, info, &w, &h, &bit_depth, &color_type, NULL, NULL, NULL);
    if (w == 0 || h == 0 || (unsigned long long)w * h > (1ull << 28)) png_error(png, "image size out of range");
    if (bit_depth == 16) png_set_strip_16(png);
    if (bit_depth < 8) png_set_packing(png);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0 && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    png_set_strip_alpha(png);
    int is_color_input = (color_type & PNG_COLOR_MASK_COLOR) != 0 || color_type == PNG_COLOR_TYPE_PALETTE;
    if (channels == 3) {
        png_set_bgr(png);
        if (!is_color_input) png_set_gray_to_rgb(png);
    } else if (is_color_input) {
        png_set_rgb_to_gray(png, 1, 0.299, 0.587);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)w * channels) png_error(png, "unexpected row layout after conversion");
    pixels = (unsigned char *)malloc(rowbytes * h);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * h);
    if (!pixels || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = pixels + y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *out = pixels;
    *width = (int)w;
    *height = (int)h;
    return 0;
}

int initdiag_png_write(const char *path, const unsigned char *pixels, int width, int height, int channels,
                       char *msg, size_t msglen) {
    FILE *f = fopen(path, "wb");
    if (!f) { snprintf(msg, msglen, "cannot create %s", path); return -1; }
    err_sink sink = { msg, msglen };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        if (png) png_destroy_write_struct(&png, info ? &info : NULL);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    if (channels == 3) png_set_bgr(png);
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(pixels + (size_t)y * width * channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    return 0;
}

int initdiag_jpeg_decode(const unsigned char *data, size_t size, int channels,
                         unsigned char **out, int *width, int *height, char *msg, size_t msglen) {
    *out = NULL;
    tjhandle tj = tjInitDecompress();
    if (!tj) { snprintf(msg, msglen, "cannot start the JPEG decoder"); return -1; }
    int w = 0, h = 0, subsamp = 0, colorspace = 0;
    if (tjDecompressHeader3(tj, data, (unsigned long)size, &w, &h, &subsamp, &colorspace) != 0) {
        snprintf(msg, msglen, "%s", tjGetErrorStr2(tj));
        tjDestroy(tj);
        return -1;
    }
    if (w <= 0 || h <= 0 || (unsigned long long)w * h > (1ull << 28)) {
        snprintf(msg, msglen, "image size %dx%d out of range", w, h);
        tjDestroy(tj);
        return -1;
    }
    unsigned char *pixels = (unsigned char *)malloc((size_t)w * h * channels);
    if (!pixels) { snprintf(msg, msglen, "out of memory"); tjDestroy(tj); return -1; }
    if (tjDecompress2(tj, data, (unsigned long)size, pixels, w, 0, h, channels == 3 ? TJPF_BGR : TJPF_GRAY, 0) != 0
        && tjGetErrorCode(tj) == TJERR_FATAL) {
        snprintf(msg, msglen, "%s", tjGetErrorStr2(tj));
        free(pixels);
        tjDestroy(tj);
        return -1;
    }
    tjDestroy(tj);
    *out = pixels;
    *width = w;
    *height = h;
    return 0;
}

int initdiag_jpeg_write(const char *path, const unsigned char *pixels, int width, int height, int channels,
                        int quality, char *msg, size_t msglen) {
    tjhandle tj = tjInitCompress();
    if (!tj) { snprintf(msg, msglen, "cannot start the JPEG encoder"); return -1; }
    unsigned char *jpeg = NULL;
    unsigned long jpegSize = 0;
    if (tjCompress2(tj, pixels, width, 0, height, channels == 3 ? TJPF_BGR : TJPF_GRAY, &jpeg, &jpegSize,
                    channels == 3 ? TJSAMP_444 : TJSAMP_GRAY, quality, 0) != 0) {
        snprintf(msg, msglen, "%s", tjGetErrorStr2(tj));
        tjDestroy(tj);
        return -1;
    }
    tjDestroy(tj);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(jpeg, 1, jpegSize, f) == jpegSize;
    if (f) fclose(f);
    tjFree(jpeg);
    if (!ok) { snprintf(msg, msglen, "cannot write %s", path); return -1; }
    return 0;
}

void initdiag_image_free(unsigned char *p) { free(p); }
