/* test_media_load.c: decoding product photos (media/image_load.c) and
 * downloading them (media/fetch.c).
 *
 * Every input is made here: libvips writes the JPEG, PNG and GIF files in the
 * variants a catalog throws at us (CMYK, 16-bit, greyscale, palette, EXIF
 * orientation, animated), a few are damaged or forged by hand (truncated, a
 * 30000 x 30000 PNG header), and a small HTTP/1.1 server on a local socket
 * answers the downloads with the statuses and types a real server sends.
 * That server is on 127.0.0.1, which downloads refuse unless allowed (the
 * SSRF guard, media/fetch_guard.h): the tests allow it, and check the
 * refusal, by default and after a redirect, too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "media/fetch_guard.h"
#include "media/image_int.h"

/* A w x h RGB test card: red/green ramps and a blue block, so orientation
 * and colour can be checked. */
static VipsImage *test_card(int w, int h)
{
	uint8_t *px = malloc((size_t)w * h * 3);
	VipsImage *vi;

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint8_t *p = px + ((size_t)y * w + x) * 3;

			p[0] = (uint8_t)(x * 255 / (w - 1));
			p[1] = (uint8_t)(y * 255 / (h - 1));
			p[2] = (x < w / 4 && y < h / 4) ? 255 : 40;
		}
	vi = vips_image_new_from_memory_copy(px, (size_t)w * h * 3, w, h, 3, VIPS_FORMAT_UCHAR);
	free(px);
	vi->Type = VIPS_INTERPRETATION_sRGB;
	return vi;
}

static void pixel(const struct media_image *img, int x, int y, uint8_t out[4])
{
	uint8_t *px;
	size_t len;
	int bands = media_image_bands(img);

	assert_int_equal(media_image_pixels(img, &px, &len, NULL), 0);
	memcpy(out, px + ((size_t)y * media_image_width(img) + x) * bands, bands);
	free(px);
}

static void expect_fail(const void *data, size_t len, const char *needle)
{
	struct media_image *img = (void *)1;
	struct err e;

	err_clear(&e);
	assert_int_equal(media_image_load_buffer(data, len, NULL, "sku \"T-1\": field \"image\"",
						 &img, &e), -1);
	assert_null(img);
	assert_int_equal(e.code, ERR_INPUT);
	if (!strstr(e.msg, needle) || strncmp(e.msg, "sku \"T-1\": field \"image\": ",
					       strlen("sku \"T-1\": field \"image\": ")))
		fail_msg("message \"%s\" lacks \"%s\" or the context", e.msg, needle);
}

static void test_jpeg_and_truncated_jpeg(void **state)
{
	VipsImage *card = test_card(64, 48);
	struct media_image *img;
	void *buf;
	size_t len;
	uint8_t p[4];
	struct err e;

	(void)state;
	assert_int_equal(vips_jpegsave_buffer(card, &buf, &len, "Q", 95, NULL), 0);
	assert_int_equal(media_image_load_buffer(buf, len, NULL, "t", &img, &e), 0);
	assert_int_equal(media_image_width(img), 64);
	assert_int_equal(media_image_height(img), 48);
	assert_int_equal(media_image_bands(img), 3);
	pixel(img, 2, 2, p);
	assert_true(p[2] > 200);             /* the blue block, top left */
	media_image_free(img);

	/* Cut at 60%: an error, not an image with a grey bottom half. */
	expect_fail(buf, len * 6 / 10, "cannot decode, truncated or corrupt");
	g_free(buf);
	g_object_unref(card);
}

static void test_not_an_image_and_empty(void **state)
{
	static const char text[] = "sku,name\nA-1,a chair\n";

	(void)state;
	expect_fail(text, sizeof text - 1, "not an image");
	expect_fail("", 0, "empty image (0 bytes)");
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & -(c & 1u));
	}
	return c ^ 0xffffffffu;
}

static size_t png_chunk(uint8_t *out, const char *type, const uint8_t *data, uint32_t n)
{
	uint32_t crc;

	out[0] = n >> 24, out[1] = n >> 16, out[2] = n >> 8, out[3] = n;
	memcpy(out + 4, type, 4);
	if (n)
		memcpy(out + 8, data, n);
	crc = crc32_of(out + 4, n + 4);
	out[8 + n] = crc >> 24, out[9 + n] = crc >> 16, out[10 + n] = crc >> 8;
	out[11 + n] = crc;
	return 12 + n;
}

static void test_decompression_bomb_refused_from_header(void **state)
{
	/* A 30000 x 30000 RGBA PNG is 3.6 GB of pixels; its header is 33
	 * bytes.  No pixel data follows: refusing it needs the header only. */
	static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	static const uint8_t idat[] = { 0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01 };
	uint8_t png[128], ihdr[13] = { 0 };
	size_t n = 0;
	struct media_load_opts small = { .max_pixels = 1000 };
	struct media_image *img;
	VipsImage *card;
	void *buf;
	size_t len;
	struct err e;

	(void)state;
	ihdr[0] = 0, ihdr[1] = 0, ihdr[2] = 0x75, ihdr[3] = 0x30;   /* 30000 */
	ihdr[4] = 0, ihdr[5] = 0, ihdr[6] = 0x75, ihdr[7] = 0x30;
	ihdr[8] = 8;    /* bit depth */
	ihdr[9] = 6;    /* RGBA */
	memcpy(png, sig, 8);
	n = 8;
	n += png_chunk(png + n, "IHDR", ihdr, 13);
	n += png_chunk(png + n, "IDAT", idat, sizeof idat);
	n += png_chunk(png + n, "IEND", NULL, 0);
	expect_fail(png, n, "30000x30000 (900000000 pixels), over the limit");

	/* The limit is the caller's. */
	card = test_card(40, 30);
	assert_int_equal(vips_pngsave_buffer(card, &buf, &len, NULL), 0);
	assert_int_equal(media_image_load_buffer(buf, len, &small, NULL, &img, &e), -1);
	assert_non_null(strstr(e.msg, "over the limit of 1000 pixels"));
	g_free(buf);
	g_object_unref(card);
}

static void test_animated_gif_and_webp_refused_still_gif_loads(void **state)
{
	VipsImage *a = test_card(32, 32), *c = test_card(32, 32), *b, *both, *anim;
	VipsImage *frames[2] = { a, NULL };
	struct media_image *img;
	void *buf;
	size_t len;
	struct err e;

	(void)state;
	/* Two different frames (an encoder may merge identical ones). */
	assert_int_equal(vips_invert(c, &b, NULL), 0);
	frames[1] = b;
	assert_int_equal(vips_arrayjoin(frames, &both, 2, "across", 1, NULL), 0);
	assert_int_equal(vips_copy(both, &anim, NULL), 0);
	vips_image_set_int(anim, "page-height", 32);
	assert_int_equal(vips_gifsave_buffer(anim, &buf, &len, NULL), 0);
	expect_fail(buf, len, "animated image (2 frames)");
	g_free(buf);
	assert_int_equal(vips_webpsave_buffer(anim, &buf, &len, NULL), 0);
	expect_fail(buf, len, "animated image (2 frames)");
	g_free(buf);

	assert_int_equal(vips_gifsave_buffer(a, &buf, &len, NULL), 0);
	assert_int_equal(media_image_load_buffer(buf, len, NULL, NULL, &img, &e), 0);
	assert_int_equal(media_image_width(img), 32);
	assert_true(media_image_bands(img) == 3 || media_image_bands(img) == 4);
	media_image_free(img);
	g_free(buf);
	g_object_unref(anim);
	g_object_unref(both);
	g_object_unref(a);
	g_object_unref(b);
	g_object_unref(c);
}

static void test_cmyk_jpeg_becomes_srgb(void **state)
{
	VipsImage *card = test_card(64, 48), *cmyk;
	struct media_image *img;
	uint8_t p[4];
	void *buf;
	size_t len;
	struct err e;

	(void)state;
	assert_int_equal(vips_colourspace(card, &cmyk, VIPS_INTERPRETATION_CMYK, NULL), 0);
	assert_int_equal(cmyk->Bands, 4);
	assert_int_equal(vips_jpegsave_buffer(cmyk, &buf, &len, "Q", 95, NULL), 0);
	assert_int_equal(media_image_load_buffer(buf, len, NULL, NULL, &img, &e), 0);
	/* Four CMYK bands must not be mistaken for RGBA. */
	assert_int_equal(media_image_bands(img), 3);
	/* The blue block: sRGB blue is outside the CMYK gamut, so it comes
	 * back the dull blue a press would print, but clearly blue. */
	pixel(img, 2, 2, p);
	assert_true(p[2] > p[0] + 50 && p[2] > p[1] + 50);
	pixel(img, 63, 47, p);                  /* bottom right: (255, 255, 40) */
	assert_true(p[0] > 200 && p[1] > 200 && p[2] < 110);
	media_image_free(img);
	g_free(buf);
	g_object_unref(cmyk);
	g_object_unref(card);
}

static void test_16bit_grey_and_palette_png(void **state)
{
	VipsImage *card = test_card(64, 48), *wide, *w16, *grey;
	struct media_image *img;
	uint8_t p[4], q[4];
	void *buf;
	size_t len;
	struct err e;

	(void)state;
	/* 16-bit: the same picture scaled to 0..65535. */
	assert_int_equal(vips_linear1(card, &wide, 257.0, 0.0, NULL), 0);
	assert_int_equal(vips_cast(wide, &w16, VIPS_FORMAT_USHORT, NULL), 0);
	w16->Type = VIPS_INTERPRETATION_RGB16;
	assert_int_equal(vips_pngsave_buffer(w16, &buf, &len, "bitdepth", 16, NULL), 0);
	assert_int_equal(media_image_load_buffer(buf, len, NULL, NULL, &img, &e), 0);
	assert_int_equal(media_image_bands(img), 3);
	pixel(img, 63, 0, p);
	assert_int_equal(p[0], 255);
	assert_int_equal(p[1], 0);
	assert_int_equal(p[2], 40);
	media_image_free(img);
	g_free(buf);

	/* Greyscale: one band becomes three equal ones. */
	assert_int_equal(vips_extract_band(card, &grey, 0, NULL), 0);
	grey->Type = VIPS_INTERPRETATION_B_W;
	assert_int_equal(vips_pngsave_buffer(grey, &buf, &len, NULL), 0);
	assert_int_equal(media_image_load_buffer(buf, len, NULL, NULL, &img, &e), 0);
	assert_int_equal(media_image_bands(img), 3);
	pixel(img, 32, 10, p);
	assert_int_equal(p[0], p[1]);
	assert_int_equal(p[1], p[2]);
	assert_true(abs(p[0] - 32 * 255 / 63) <= 1);
	media_image_free(img);
	g_free(buf);

	/* Palette: 8-bit indexed colour comes back as RGB close to the card. */
	assert_int_equal(vips_pngsave_buffer(card, &buf, &len, "palette", TRUE, "Q", 100, NULL), 0);
	assert_int_equal(media_image_load_buffer(buf, len, NULL, NULL, &img, &e), 0);
	assert_true(media_image_bands(img) >= 3);
	pixel(img, 2, 2, p);
	assert_true(p[2] > 200);
	pixel(img, 40, 30, q);
	assert_true(abs(q[0] - 40 * 255 / 63) < 24 && abs(q[1] - 30 * 255 / 47) < 24);
	media_image_free(img);
	g_free(buf);

	g_object_unref(grey);
	g_object_unref(w16);
	g_object_unref(wide);
	g_object_unref(card);
}

static void test_alpha_kept_and_exif_orientation_applied(void **state)
{
	VipsImage *card = test_card(40, 20), *rgba, *tagged;
	struct media_image *img;
	uint8_t p[4];
	void *buf;
	size_t len;
	struct err e;

	(void)state;
	assert_int_equal(vips_bandjoin_const1(card, &rgba, 77.0, NULL), 0);
	rgba->Type = VIPS_INTERPRETATION_sRGB;
	assert_int_equal(vips_pngsave_buffer(rgba, &buf, &len, NULL), 0);
	assert_int_equal(media_image_load_buffer(buf, len, NULL, NULL, &img, &e), 0);
	assert_true(media_image_has_alpha(img));
	pixel(img, 5, 5, p);
	assert_int_equal(p[3], 77);
	media_image_free(img);
	g_free(buf);

	/* Orientation 6: the camera was turned; the pixels are stored on
	 * their side.  Loaded, the image stands upright: 20 x 40, and the blue
	 * block (stored top left) is now top right. */
	assert_int_equal(vips_copy(card, &tagged, NULL), 0);
	vips_image_set_int(tagged, VIPS_META_ORIENTATION, 6);
	assert_int_equal(vips_jpegsave_buffer(tagged, &buf, &len, "Q", 95, NULL), 0);
	assert_int_equal(media_image_load_buffer(buf, len, NULL, NULL, &img, &e), 0);
	assert_int_equal(media_image_width(img), 20);
	assert_int_equal(media_image_height(img), 40);
	pixel(img, 18, 1, p);
	assert_true(p[2] > 200);
	media_image_free(img);
	g_free(buf);
	g_object_unref(tagged);
	g_object_unref(rgba);
	g_object_unref(card);
}

static void test_file_errors_name_the_file(void **state)
{
	char path[] = "/tmp/skugen-media-XXXXXX";
	int fd = mkstemp(path);
	struct media_image *img;
	struct err e;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(media_image_load(path, NULL, "sku \"Z\"", &img, &e), -1);
	assert_non_null(strstr(e.msg, "empty image (0 bytes)"));
	assert_non_null(strstr(e.msg, path));
	unlink(path);
	assert_int_equal(media_image_load("/nonexistent/p.jpg", NULL, "sku \"Z\"", &img, &e), -1);
	assert_non_null(strstr(e.msg, "cannot open image"));
	assert_int_equal(media_image_load("/tmp", NULL, "sku \"Z\"", &img, &e), -1);
	assert_non_null(strstr(e.msg, "sku \"Z\": /tmp: not a regular file"));
}

/* ---- a small HTTP/1.1 server --------------------------------------------- */

struct server {
	int fd;
	int port;
	pthread_t thread;
	void *png;
	size_t png_len;
	int requests;      /* requests read (atomic) */
};

/* What the tests download with: 127.0.0.1 allowed (the server's). */
static struct media_fetch_policy local_ok;
static const struct media_load_opts local = { .fetch = &local_ok };

static void allow_local(void)
{
	memset(&local_ok, 0, sizeof local_ok);
	assert_int_equal(media_cidr_parse("127.0.0.1", &local_ok.allow[0]), 0);
	local_ok.n_allow = 1;
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

static void respond(struct server *s, int c, const char *path)
{
	char head[512];
	size_t big = 300000;

	if (!strcmp(path, "/ok.png")) {
		snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n", s->png_len);
		send_all(c, head, strlen(head));
		send_all(c, s->png, s->png_len);
	} else if (!strcmp(path, "/empty")) {
		snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
			 "Content-Length: 0\r\nConnection: close\r\n\r\n");
		send_all(c, head, strlen(head));
	} else if (!strcmp(path, "/page")) {
		static const char body[] = "<html>not found, but a page</html>";

		snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n", sizeof body - 1);
		send_all(c, head, strlen(head));
		send_all(c, body, sizeof body - 1);
	} else if (!strcmp(path, "/big")) {
		/* No Content-Length: the limit must hold while the body arrives. */
		char *junk = calloc(1, big);

		snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
			 "Connection: close\r\n\r\n");
		send_all(c, head, strlen(head));
		send_all(c, junk, big);
		free(junk);
	} else if (!strcmp(path, "/moved")) {
		snprintf(head, sizeof head, "HTTP/1.1 301 Moved Permanently\r\nLocation: /ok.png\r\n"
			 "Content-Length: 0\r\nConnection: close\r\n\r\n");
		send_all(c, head, strlen(head));
	} else if (!strcmp(path, "/slow")) {
		/* Headers, then nothing for longer than the caller waits. */
		snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n"
			 "Content-Length: 1000\r\nConnection: close\r\n\r\n");
		send_all(c, head, strlen(head));
		usleep(1500 * 1000);
	} else if (!strcmp(path, "/to-metadata")) {
		snprintf(head, sizeof head, "HTTP/1.1 302 Found\r\n"
			 "Location: http://169.254.169.254/latest/meta-data/iam?token=s3cr3t\r\n"
			 "Content-Length: 0\r\nConnection: close\r\n\r\n");
		send_all(c, head, strlen(head));
	} else if (!strcmp(path, "/to-localhost")) {
		snprintf(head, sizeof head, "HTTP/1.1 302 Found\r\nLocation: http://localhost:1/x.png\r\n"
			 "Content-Length: 0\r\nConnection: close\r\n\r\n");
		send_all(c, head, strlen(head));
	} else if (!strcmp(path, "/to-file")) {
		snprintf(head, sizeof head, "HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\n"
			 "Content-Length: 0\r\nConnection: close\r\n\r\n");
		send_all(c, head, strlen(head));
	} else {
		static const char body[] = "{\"error\": \"no such image\"}";

		snprintf(head, sizeof head, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n", sizeof body - 1);
		send_all(c, head, strlen(head));
		send_all(c, body, sizeof body - 1);
	}
}

static void *serve(void *arg)
{
	struct server *s = arg;

	for (;;) {
		char req[2048], path[256] = "";
		size_t got = 0;
		int c = accept(s->fd, NULL, NULL);

		if (c < 0)
			return NULL;
		/* Read the request head (up to the blank line). */
		while (got < sizeof req - 1) {
			ssize_t r = read(c, req + got, sizeof req - 1 - got);

			if (r <= 0)
				break;
			got += (size_t)r;
			req[got] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[got] = '\0';
		if (sscanf(req, "GET %255s HTTP/1.1", path) == 1) {
			__atomic_fetch_add(&s->requests, 1, __ATOMIC_SEQ_CST);
			if (!strcmp(path, "/quit")) {
				close(c);
				return NULL;
			}
			respond(s, c, path);
		}
		close(c);
	}
}

static void server_start(struct server *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof a;
	VipsImage *card = test_card(24, 16);

	allow_local();
	s->requests = 0;

	assert_int_equal(vips_pngsave_buffer(card, &s->png, &s->png_len, NULL), 0);
	g_object_unref(card);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s->fd, 8), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
	struct buf b = BUF_INIT;
	char url[64];

	snprintf(url, sizeof url, "http://127.0.0.1:%d/quit", s->port);
	media_fetch(url, &local, NULL, &b, NULL);   /* answers nothing: fails */
	buf_free(&b);
	pthread_join(s->thread, NULL);
	close(s->fd);
	g_free(s->png);
}

static void fetch_fails(struct server *s, const char *path, const struct media_load_opts *o,
			const char *needle)
{
	struct media_image *img;
	char url[128];
	struct err e;

	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
	err_clear(&e);
	if (!o)
		o = &local;
	assert_int_equal(media_image_load(url, o, "sku \"U-1\": field \"image_url\"", &img, &e), -1);
	assert_null(img);
	assert_int_equal(e.code, ERR_INPUT);
	if (!strstr(e.msg, needle) || !strstr(e.msg, "sku \"U-1\"") || !strstr(e.msg, url))
		fail_msg("message \"%s\" lacks \"%s\", the context or the URL", e.msg, needle);
}

static void test_fetch(void **state)
{
	struct server s;
	struct media_load_opts small = { .max_bytes = 100000, .fetch = &local_ok };
	struct media_image *img;
	struct buf b = BUF_INIT;
	char url[128];
	struct err e;

	(void)state;
	server_start(&s);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/ok.png", s.port);
	assert_int_equal(media_image_load(url, &local, "t", &img, &e), 0);
	assert_int_equal(media_image_width(img), 24);
	media_image_free(img);

	fetch_fails(&s, "/missing.jpg", NULL, "http status 404");
	fetch_fails(&s, "/empty", NULL, "empty download (0 bytes)");
	fetch_fails(&s, "/page", NULL, "not an image: content-type \"text/html\"");
	fetch_fails(&s, "/big", &small, "over the limit of 100000 bytes");
	fetch_fails(&s, "/to-file", NULL, "not http or https");

	/* Credentials and a presigned query stay out of the message. */
	snprintf(url, sizeof url, "http://shop:hunter2@127.0.0.1:%d/missing.jpg?X-Amz-Signature=c0ffee#x", s.port);
	assert_int_equal(media_image_load(url, &local, "sku \"U-3\"", &img, &e), -1);
	assert_non_null(strstr(e.msg, "http status 404"));
	snprintf(url, sizeof url, "http://127.0.0.1:%d/missing.jpg", s.port);
	if (!strstr(e.msg, url) || strstr(e.msg, "hunter2") || strstr(e.msg, "shop") || strstr(e.msg, "c0ffee"))
		fail_msg("message \"%s\" should name %s and nothing secret", e.msg, url);

	/* A redirect within http is followed. */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/moved", s.port);
	assert_int_equal(media_image_load(url, &local, "t", &img, &e), 0);
	assert_int_equal(media_image_height(img), 16);
	media_image_free(img);

	/* A server that stalls: the caller's time limit, ERR_IO (worth a retry). */
	{
		struct media_load_opts quick = { .timeout_ms = 300, .fetch = &local_ok };

		snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", s.port);
		assert_int_equal(media_fetch(url, &quick, "sku \"U-2\"", &b, &e), -1);
		assert_int_equal(e.code, ERR_IO);
		assert_non_null(strstr(e.msg, "timed out after 300 ms"));
	}

	/* What failed leaves the buffer as it was. */
	assert_int_equal(buf_puts(&b, "kept"), 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/big", s.port);
	assert_int_equal(media_fetch(url, &small, NULL, &b, &e), -1);
	assert_string_equal(buf_str(&b), "kept");
	buf_free(&b);
	assert_int_equal(media_fetch("ftp://127.0.0.1/x.png", NULL, NULL, &b, &e), -1);
	assert_non_null(strstr(e.msg, "only http and https"));
	server_stop(&s);
}

/* Whether msg names the refused address and class, how to allow it, and
 * the context. */
static void refused(const struct err *e, const char *ctx, const char *what)
{
	assert_int_equal(e->code, ERR_INPUT);
	if (!strstr(e->msg, ctx) || !strstr(e->msg, what) ||
	    !strstr(e->msg, "; set media.fetch.allow_private or add it to media.fetch.allow"))
		fail_msg("message \"%s\" lacks \"%s\", the context or how to allow it", e->msg, what);
}

/* The environment variable name's value (free it; NULL if unset), and the
 * variable unset. */
static char *env_take(const char *name)
{
	const char *v = getenv(name);
	char *copy = v ? strdup(v) : NULL;

	assert_true(!v || copy);
	unsetenv(name);
	return copy;
}

/* Put back (and free) what env_take took. */
static void env_put(const char *name, char *v)
{
	if (v)
		setenv(name, v, 1);
	else
		unsetenv(name);
	free(v);
}

/* The SSRF guard: the addresses a download connects to, after DNS and
 * after redirects, must be public or allowed. */
static void test_fetch_refuses_private_addresses(void **state)
{
	static const char *const proxy_env[4] = { "http_proxy", "all_proxy", "no_proxy", "NO_PROXY" };
	char *saved_env[4];
	struct server s;
	struct media_fetch_policy any = { .allow_private = true };
	struct media_load_opts opts = { .fetch = &any };
	struct media_image *img;
	struct buf b = BUF_INIT;
	char url[160];
	struct err e;
	int before;

	(void)state;
	server_start(&s);

	/* By default 127.0.0.1 is refused, before anything is sent. */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/ok.png", s.port);
	before = __atomic_load_n(&s.requests, __ATOMIC_SEQ_CST);
	assert_int_equal(media_image_load(url, NULL, "sku \"S-1\": field \"image\"", &img, &e), -1);
	assert_null(img);
	refused(&e, "sku \"S-1\": field \"image\"", "refusing to connect to 127.0.0.1 (a loopback address)");
	assert_non_null(strstr(e.msg, url));
	assert_int_equal(media_fetch(url, NULL, NULL, &b, &e), -1);
	assert_int_equal(b.len, 0);
	assert_int_equal(__atomic_load_n(&s.requests, __ATOMIC_SEQ_CST), before);

	/* A name that resolves to loopback, the IPv4-mapped form, and a
	 * policy that allows another network: refused alike. */
	snprintf(url, sizeof url, "http://localhost:%d/ok.png", s.port);
	assert_int_equal(media_fetch(url, NULL, "t", &b, &e), -1);
	refused(&e, "t: http://localhost:", "(a loopback address)");
	snprintf(url, sizeof url, "http://[::ffff:127.0.0.1]:%d/ok.png", s.port);
	assert_int_equal(media_fetch(url, NULL, "t", &b, &e), -1);
	refused(&e, "t: http://", "refusing to connect to ::ffff:127.0.0.1 (a loopback address)");
	{
		struct media_fetch_policy other = { .n_allow = 1 };
		struct media_load_opts o = { .fetch = &other };

		assert_int_equal(media_cidr_parse("10.0.0.0/8", &other.allow[0]), 0);
		snprintf(url, sizeof url, "http://127.0.0.1:%d/ok.png", s.port);
		assert_int_equal(media_fetch(url, &o, "t", &b, &e), -1);
		refused(&e, "t: ", "127.0.0.1 (a loopback address)");
	}
	assert_int_equal(__atomic_load_n(&s.requests, __ATOMIC_SEQ_CST), before);

	/* Credentials and a token stay out of the refusal too. */
	snprintf(url, sizeof url, "http://shop:hunter2@127.0.0.1:%d/ok.png?sig=c0ffee", s.port);
	assert_int_equal(media_fetch(url, NULL, "t", &b, &e), -1);
	refused(&e, "t: ", "127.0.0.1");
	if (strstr(e.msg, "hunter2") || strstr(e.msg, "shop") || strstr(e.msg, "c0ffee"))
		fail_msg("message \"%s\" leaks the URL's secrets", e.msg);

	/* Allowed: by the allow-list, or by allow_private. */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/ok.png", s.port);
	assert_int_equal(media_image_load(url, &local, "t", &img, &e), 0);
	assert_int_equal(media_image_width(img), 24);
	media_image_free(img);
	assert_int_equal(media_image_load(url, &opts, "t", &img, &e), 0);
	media_image_free(img);

	/* A host name is judged by the address it resolves to: localhost is
	 * allowed as 127.0.0.1 (where it resolves to ::1 too, that one is
	 * refused and skipped). */
	snprintf(url, sizeof url, "http://localhost:%d/ok.png", s.port);
	assert_int_equal(media_image_load(url, &local, "t", &img, &e), 0);
	media_image_free(img);

	/* A name with an allowed and a refused address whose allowed one
	 * does not answer: a connection failure, worth a retry, not the
	 * refusal of the other.  curl resolves localhost itself, to 127.0.0.1
	 * and ::1 where this host has IPv6, in that order. */
	assert_int_equal(media_fetch("http://localhost:1/x.png", &local, "t", &b, &e), -1);
	print_message("# localhost:1 with 127.0.0.1 allowed: %s\n", e.msg);
	assert_int_equal(e.code, ERR_IO);
	assert_null(strstr(e.msg, "refusing"));
	/* the same after a redirect's hop */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/to-localhost", s.port);
	assert_int_equal(media_fetch(url, &local, "t", &b, &e), -1);
	print_message("# redirected there: %s\n", e.msg);
	assert_int_equal(e.code, ERR_IO);
	assert_null(strstr(e.msg, "refusing"));

	/* A redirect from the allowed host to cloud metadata: refused at
	 * connect, naming where it was sent (without the query). */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/to-metadata", s.port);
	assert_int_equal(media_fetch(url, &local, "sku \"S-2\"", &b, &e), -1);
	refused(&e, "sku \"S-2\"", "redirected to http://169.254.169.254/latest/meta-data/iam: "
		"refusing to connect to 169.254.169.254 (a link-local address)");
	assert_null(strstr(e.msg, "s3cr3t"));
	assert_int_equal(b.len, 0);

	/* A proxy from the environment is not used: the guard sees the
	 * address the photo comes from (this one answers nothing).  The
	 * environment's own proxy settings are set aside for this: a no_proxy
	 * naming 127.0.0.1 would make curl skip the proxy either way. */
	for (size_t i = 0; i < 4; i++)
		saved_env[i] = env_take(proxy_env[i]);
	setenv("http_proxy", "http://127.0.0.1:1", 1);
	setenv("all_proxy", "http://127.0.0.1:1", 1);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/ok.png", s.port);
	assert_int_equal(media_image_load(url, &local, "t", &img, &e), 0);
	media_image_free(img);
	/* With the guard off (allow_private), the environment's proxy is
	 * used, as before the guard: this one refuses the connection. */
	assert_int_equal(media_image_load(url, &opts, "t", &img, &e), -1);
	assert_null(img);
	for (size_t i = 0; i < 4; i++)
		env_put(proxy_env[i], saved_env[i]);

	buf_free(&b);
	server_stop(&s);
}

static int setup(void **state)
{
	(void)state;
	return media_init(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jpeg_and_truncated_jpeg),
		cmocka_unit_test(test_not_an_image_and_empty),
		cmocka_unit_test(test_decompression_bomb_refused_from_header),
		cmocka_unit_test(test_animated_gif_and_webp_refused_still_gif_loads),
		cmocka_unit_test(test_cmyk_jpeg_becomes_srgb),
		cmocka_unit_test(test_16bit_grey_and_palette_png),
		cmocka_unit_test(test_alpha_kept_and_exif_orientation_applied),
		cmocka_unit_test(test_file_errors_name_the_file),
		cmocka_unit_test(test_fetch),
		cmocka_unit_test(test_fetch_refuses_private_addresses),
	};

	return cmocka_run_group_tests_name("media_load", tests, setup, NULL);
}
